"""The demo archive's in-memory model of one project, before it becomes rows.

Generators (fixed cases, random population) build these objects; ``rows`` turns them into the
contract tables' rows. One project is alive at a time, so even the ``alma`` scale stays small in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Final, Literal

from etl.demo.cycles import Cycle

PASS: Final = "Pass"  # noqa: S105 (a QA0 status, not a password)
SEMIPASS: Final = "SemiPass"
FAIL: Final = "Fail"
UNSET: Final = "Unset"
PENDING: Final = "Pending"

ArrayName = Literal["12m", "7m", "TP"]


@dataclass(frozen=True)
class ArrayFacts:
    """How one array is named in the SB, the shift log and product names."""

    requested_array: str
    shiftlog_family: str
    correlator: str
    sb_suffix: str
    pipeline_recipe: str


ARRAYS: Final[dict[ArrayName, ArrayFacts]] = {
    "12m": ArrayFacts("TWELVE-M", "12 [m]", "BL", "TM1", "hifa_calimage"),
    "7m": ArrayFacts("SEVEN-M", "7 [m]", "ACA", "7M", "hifa_calimage"),
    "TP": ArrayFacts("TP-Array", "Total Power", "ACA", "TP", "hsd_calimage"),
}


class Recipe(Enum):
    """How a MOUS was (or was not) calibrated, which decides its product files."""

    NONE = "none"
    PIPELINE = "pipeline"
    # Pipeline-calibrated, but the calibration tables were never split out into caltables.
    UNSPLIT = "unsplit"
    MANUAL = "manual"


class XmlForm(Enum):
    """What OBS_UNIT_SET_STATUS.XML holds for an OUS."""

    FULL = "full"
    NULL = "null"
    MALFORMED = "malformed"
    # A stale document that lacks the MOUS's last session.
    STALE = "stale"


@dataclass(slots=True)
class SchedBlock:
    uid: str
    status_uid: str
    name: str | None
    state: str
    band: str
    execution_count: int


@dataclass(slots=True)
class ExecBlock:
    uid: str
    sb: SchedBlock
    qa0: str
    start: datetime
    end: datetime | None
    exec_fraction: Decimal = Decimal(1)
    session_id: int | None = None
    shiftlog_ids: tuple[int, ...] = ()
    # ASA_SCIENCE anomalies: a Pass EB missing, or listed a second time under another MOUS.
    asa_listed: bool = True
    asa_also_under: str | None = None


@dataclass(slots=True)
class Session:
    session_id: int
    start: datetime | None
    end: datetime | None
    ebs: list[ExecBlock] = field(default_factory=list)

    @property
    def ordering_start(self) -> datetime:
        """The session rule's sort key: its start, or its earliest EB's start when the start is NULL."""
        if self.start is not None:
            return self.start
        return min(eb.start for eb in self.ebs)


@dataclass(slots=True)
class ProductFile:
    name: str
    size: int
    file_class: str | None


@dataclass(slots=True)
class Delivery:
    key: int
    delivered: datetime
    release: datetime | None
    comment: str | None = None


@dataclass(slots=True)
class Mous:
    uid: str
    part_id: str
    array: ArrayName
    requested_array: str
    state: str
    flags: str | None
    qa2: str
    recipe: Recipe
    sbs: list[SchedBlock] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    # EBs whose SESSIONID is NULL: the session rule's join drops them.
    sessionless_ebs: list[ExecBlock] = field(default_factory=list)
    products: list[ProductFile] = field(default_factory=list)
    delivery: Delivery | None = None
    xml_form: XmlForm = XmlForm.FULL

    def all_ebs(self) -> list[ExecBlock]:
        return [eb for session in self.sessions for eb in session.ebs] + self.sessionless_ebs


@dataclass(slots=True)
class ScienceGoal:
    sous_uid: str
    sous_part_id: str
    gous_uid: str
    gous_part_id: str
    mouses: list[Mous] = field(default_factory=list)
    xml_form: XmlForm = XmlForm.FULL


@dataclass(slots=True)
class Project:
    code: str
    cycle: Cycle
    obsproject_uid: str
    proposal_uid: str
    status_uid: str
    root_uid: str
    root_part_id: str
    title: str | None
    pi_account: str
    pi_fullname: str
    grade: str
    executive: str
    goals: list[ScienceGoal] = field(default_factory=list)
    root_xml_form: XmlForm = XmlForm.FULL
    # (proposal UID, cycle) of an earlier proposal row without a PI, as a resubmission can leave.
    earlier_proposal: tuple[str, str] | None = None

    def mouses(self) -> list[Mous]:
        return [mous for goal in self.goals for mous in goal.mouses]


def ordered_sessions(mous: Mous) -> list[Session]:
    """The MOUS's sessions in session-rule order: SESSION_1 first (NULL start → earliest EB; ties by ID)."""
    return sorted(mous.sessions, key=lambda session: (session.ordering_start, session.session_id))


def pass_ebs(session: Session) -> list[ExecBlock]:
    """The session's QA0 Pass EBs in observation order: what its SESSION_N value lists."""
    return sorted((eb for eb in session.ebs if eb.qa0 == PASS), key=lambda eb: eb.start)


def calibrated_session_numbers(mous: Mous) -> list[int]:
    """Session numbers (1-based, rule order) that hold at least one Pass EB: the ones with caltables."""
    return [number for number, session in enumerate(ordered_sessions(mous), 1) if pass_ebs(session)]

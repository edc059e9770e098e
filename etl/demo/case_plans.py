"""Plans for hand-made MOUSes (the fixed cases) and the builder that turns a plan into the model.

A plan lists a MOUS's sessions **in session-rule order** (SESSION_1 first) and each session's EBs in
observation order: that listing is the truth each case's ``expected_sessions`` is read from, and the
builder lays out times and IDs so that the rule, applied to the tables, must find it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from random import Random
from typing import Final, Literal

from etl.archive_names import disk_name
from etl.demo.builders import (
    RELEASE_DELAY,
    SESSION_LEAD,
    SESSION_TAIL,
    deliver,
    exec_block,
    last_observed,
    recipe_flags,
)
from etl.demo.cycles import cycle
from etl.demo.model import (
    ARRAYS,
    FAIL,
    PASS,
    ArrayName,
    ExecBlock,
    Mous,
    ProductFile,
    Project,
    Recipe,
    RecordForm,
    SchedBlock,
    ScienceGoal,
    Session,
    XmlForm,
)
from etl.demo.names import account
from etl.demo.uids import FIXED_EB_OFFSET, A001Range, ExecBlockUids, Keys, PartIds
from etl.mirror.reasons import REASON_CODES

# The demo plans a case for every reason the mirror gives, in the mirror's order.
REASONS: Final = REASON_CODES
EB_GAP: Final = timedelta(minutes=4)
DELIVERY_LAG: Final = timedelta(days=45)
GENERATED: Final = "generated"
# Placeholder for "the project's other MOUS" until every MOUS of the project exists.
ANOTHER_MOUS: Final = "(another MOUS of the project)"


@dataclass(frozen=True)
class FixedCase:
    """A hand-made MOUS present, identical, in every demo archive, with what a restore check must say."""

    name: str
    mous_uid: str
    description: str
    array: ArrayName
    # SESSION_1..K in order: the Pass EB UIDs in observation order; () for an empty session.
    expected_sessions: tuple[tuple[str, ...], ...]
    expected_restorable: bool
    # The first applicable of REASONS; None when restorable.
    expected_reason: str | None
    # Released after DEMO_AS_OF, or never.
    proprietary: bool
    # What the archive's record of the calibration says against the session rule's map (with the
    # stand-in NGAS): agrees, disagrees, absent (no record documents), unavailable or malformed.
    expected_record: str = "absent"


@dataclass(frozen=True)
class EbPlan:
    qa0: str = PASS
    uid: str | None = None
    # Appended to the EB UID wherever the archive names the EB (a stray trailing space).
    uid_suffix: str = ""
    start: datetime | None = None
    duration: timedelta = timedelta(minutes=48)
    null_end: bool = False
    shiftlog_rows: int = 1
    asa: Literal["listed", "missing", "also_under"] = "listed"
    sb: int = 0


@dataclass(frozen=True)
class SessionPlan:
    ebs: tuple[EbPlan, ...]
    null_start: bool = False
    null_end: bool = False
    # The session's recorded STARTTIME when it is not "just before its first EB" (tied starts).
    recorded_start: datetime | None = None


@dataclass(frozen=True)
class CaseFacts:
    """What a fixed case is for, and what a restorability check must conclude about it."""

    name: str
    description: str
    restorable: bool = True
    reason: str | None = None
    proprietary: bool = False


@dataclass(frozen=True)
class MousPlan:
    sessions: tuple[SessionPlan, ...]
    first_start: datetime
    facts: CaseFacts | None = None
    array: ArrayName = "12m"
    uid: str | None = None
    part_id: str | None = None
    # REQUESTEDARRAY when not the array's usual spelling; "" writes an empty one.
    requested_array: str | None = None
    # (SB UID, SBStatus UID) per SB when fixed by a seed document; allocated otherwise.
    sb_uids: tuple[tuple[str, str], ...] = ()
    sb_count: int = 1
    sb_name: str | None = GENERATED
    session_gap: timedelta = timedelta(days=1)
    # Rank of each session's SESSIONID among the MOUS's (default: increasing with the session number).
    session_id_ranks: tuple[int, ...] = ()
    sessionless: tuple[EbPlan, ...] = ()
    recipe: Recipe = Recipe.PIPELINE
    # FLAGS when not the recipe's usual substate for the array.
    flags: str | None = GENERATED
    state: str = "Delivered"
    delivered: bool = True
    release: datetime | Literal["default", "never"] = "default"
    xml_form: XmlForm = XmlForm.FULL
    renumber_caltables: bool = False
    unparsable_product: bool = False
    record: RecordForm = RecordForm.NORMAL
    # Further archived product names; "{mous}" stands for the MOUS UID in file form.
    extra_products: tuple[str, ...] = ()
    # Products the archive lost: the first of the MOUS's products ending so is not archived.
    dropped_products: tuple[str, ...] = ()


@dataclass(frozen=True)
class GoalPlan:
    mouses: tuple[MousPlan, ...]
    sous_uid: str | None = None
    gous_uid: str | None = None


@dataclass(frozen=True)
class ProjectPlan:
    code: str
    goals: tuple[GoalPlan, ...]
    project_range: int
    status_range: int
    pi_fullname: str = "Morgan Fairweather"
    title: str | None = GENERATED
    obsproject_uid: str | None = None
    proposal_uid: str | None = None
    status_uid: str | None = None
    root_uid: str | None = None
    sources: tuple[str, ...] = ("Sgr_B2",)
    band: str = "ALMA_RB_07"
    # The cycle of an earlier proposal row of the project that has no PI (a resubmission).
    earlier_proposal_cycle: str | None = None


@dataclass
class FixedBuild:
    """Shared state while building every fixed case: UID and key allocators that never see a seed."""

    ebs: ExecBlockUids = field(
        default_factory=lambda: ExecBlockUids(FIXED_EB_OFFSET, Random("almamirror fixed-case EB UIDs"))
    )
    keys: Keys = field(default_factory=lambda: Keys(101, 1, 1))
    cases: list[FixedCase] = field(default_factory=list)


def build_project(plan: ProjectPlan, build: FixedBuild) -> Project:
    """The model of one fixed-case project; its cases are appended to ``build.cases``."""
    rng = Random(f"almamirror fixed project {plan.code}")
    documents = A001Range(plan.project_range, rng, first=0x10)
    statuses = A001Range(plan.status_range, rng, first=0x20)
    parts = PartIds(rng)
    obsproject_uid = plan.obsproject_uid or documents.allocate()
    project = Project(
        code=plan.code,
        cycle=cycle(plan.code[:6]),
        obsproject_uid=obsproject_uid,
        proposal_uid=plan.proposal_uid or documents.allocate(),
        status_uid=plan.status_uid or documents.allocate(),
        root_uid=plan.root_uid or statuses.allocate(),
        root_part_id=parts.allocate(),
        title=f"Fixed case project {plan.code}" if plan.title == GENERATED else plan.title,
        pi_account=account(plan.pi_fullname),
        pi_fullname=plan.pi_fullname,
        grade="A",
        executive="NA",
    )
    for goal_plan in plan.goals:
        goal = ScienceGoal(
            goal_plan.sous_uid or statuses.allocate(), parts.allocate(),
            goal_plan.gous_uid or statuses.allocate(), parts.allocate(),
        )
        for mous_plan in goal_plan.mouses:
            goal.mouses.append(_build_mous(mous_plan, plan, project, statuses, parts, build, rng))
        project.goals.append(goal)
    if plan.earlier_proposal_cycle is not None:
        project.earlier_proposal = (documents.allocate(), plan.earlier_proposal_cycle)
    _resolve_asa_second_listing(project)
    return project


def _build_mous(
    plan: MousPlan,
    project_plan: ProjectPlan,
    project: Project,
    statuses: A001Range,
    parts: PartIds,
    build: FixedBuild,
    rng: Random,
) -> Mous:
    uid = plan.uid or statuses.allocate()
    facts = ARRAYS[plan.array]
    mous = Mous(
        uid=uid,
        part_id=plan.part_id or parts.allocate(),
        array=plan.array,
        requested_array=facts.requested_array if plan.requested_array is None else plan.requested_array,
        state=plan.state,
        flags=recipe_flags(plan.recipe, plan.array) if plan.flags == GENERATED else plan.flags,
        qa2="Pass" if plan.delivered else "Unset",
        recipe=plan.recipe,
        xml_form=plan.xml_form,
        record=plan.record,
    )
    mous.sbs = _sched_blocks(plan, project_plan, statuses)
    expected = _lay_out_sessions(plan, mous, build)
    _deliver(plan, project_plan, project, mous, build, rng)
    if plan.facts is not None:
        build.cases.append(
            FixedCase(
                plan.facts.name, uid, plan.facts.description, plan.array, expected,
                plan.facts.restorable, plan.facts.reason, plan.facts.proprietary, _expected_record(plan),
            )
        )
    return mous


def _expected_record(plan: MousPlan) -> str:
    """What the record of a calibration planned this way says, once the sync has read it from NGAS."""
    if plan.recipe is not Recipe.PIPELINE or not plan.delivered or plan.record is RecordForm.NONE:
        return "absent"
    if plan.record is RecordForm.SCRIPT_DISAGREES:
        return "disagrees"
    # Manifest, script and PPR agree with each other and the caltables, not with the session rule.
    if plan.renumber_caltables or plan.record is RecordForm.DISAGREES:
        return "follows_archive"
    return {
        RecordForm.MALFORMED_MANIFEST: "malformed", RecordForm.NOT_ON_NGAS: "unavailable",
    }.get(plan.record, "agrees")


def _sched_blocks(plan: MousPlan, project_plan: ProjectPlan, statuses: A001Range) -> list[SchedBlock]:
    blocks = []
    for index in range(max(plan.sb_count, len(plan.sb_uids))):
        sb_uid, status_uid = (
            plan.sb_uids[index] if index < len(plan.sb_uids) else (statuses.allocate(), statuses.allocate())
        )
        suffix = ARRAYS[plan.array].sb_suffix
        name = plan.sb_name
        if name == GENERATED:
            name = f"{project_plan.sources[0]}_{'abcdefgh'[index]}_{project_plan.band[-2:]}_{suffix}"
        execution_count = sum(1 for s in plan.sessions for eb in s.ebs if eb.sb == index and eb.qa0 == PASS)
        blocks.append(
            SchedBlock(sb_uid, status_uid, name, "Running" if plan.state == "Ready" else "FullyObserved",
                       project_plan.band, max(execution_count, 1))
        )
    return blocks


def _lay_out_sessions(plan: MousPlan, mous: Mous, build: FixedBuild) -> tuple[tuple[str, ...], ...]:
    """Create the sessions and EBs in plan order; returns the plan's expected SESSION_N values."""
    ids = [build.keys.sessions.allocate() for _ in plan.sessions]
    ranks = plan.session_id_ranks or tuple(range(len(plan.sessions)))
    expected: list[tuple[str, ...]] = []
    cursor = plan.first_start
    for index, session_plan in enumerate(plan.sessions):
        ebs = []
        for eb_plan in session_plan.ebs:
            eb = _exec_block(eb_plan, mous, cursor, ids[ranks[index]], build)
            ebs.append(eb)
            cursor = (eb.end or eb.start + eb_plan.duration) + EB_GAP
        mous.sessions.append(_session(session_plan, ids[ranks[index]], ebs))
        expected.append(tuple(eb.uid for eb in ebs if eb.qa0 == PASS))
        cursor = max(cursor, ebs[0].start + plan.session_gap)
    for eb_plan in plan.sessionless:
        start = eb_plan.start or plan.first_start + timedelta(hours=8)
        mous.sessionless_ebs.append(_exec_block(eb_plan, mous, start, None, build))
    return tuple(expected)


def _exec_block(
    plan: EbPlan, mous: Mous, cursor: datetime, session_id: int | None, build: FixedBuild
) -> ExecBlock:
    start = plan.start or cursor
    uid = (plan.uid or build.ebs.allocate(start)) + plan.uid_suffix
    end = None if plan.null_end else start + plan.duration
    # A failed execution was stopped part-way.
    fraction = Decimal("0.35") if plan.qa0 == FAIL else Decimal(1)
    eb = exec_block(uid, mous.sbs[plan.sb], plan.qa0, start, end, session_id, build.keys,
                    plan.shiftlog_rows, fraction)
    eb.asa_listed = plan.asa != "missing"
    eb.asa_also_under = ANOTHER_MOUS if plan.asa == "also_under" else None
    return eb


def _session(plan: SessionPlan, session_id: int, ebs: list[ExecBlock]) -> Session:
    first = min(eb.start for eb in ebs)
    ends = [eb.end for eb in ebs]
    known_end = None if plan.null_end or None in ends else max(e for e in ends if e is not None)
    start = plan.recorded_start or first - SESSION_LEAD
    return Session(
        session_id,
        None if plan.null_start else start,
        None if known_end is None else known_end + SESSION_TAIL,
        ebs,
    )


def _deliver(
    plan: MousPlan, project_plan: ProjectPlan, project: Project, mous: Mous, build: FixedBuild, rng: Random
) -> None:
    if not plan.delivered:
        return
    delivered = (last_observed(mous) + DELIVERY_LAG).replace(hour=14, minute=0, second=0, microsecond=0)
    release: datetime | None
    if plan.release == "never":
        release = None
    elif plan.release == "default":
        release = delivered + RELEASE_DELAY
    else:
        release = plan.release
        delivered = release - RELEASE_DELAY
    deliver(
        mous, project.cycle, project_plan.sources, rng, build.keys, delivered, release,
        renumber_caltables=plan.renumber_caltables, unparsable_product=plan.unparsable_product,
    )
    for suffix in plan.dropped_products:
        lost = next(product for product in mous.products if product.name.endswith(suffix))
        mous.products.remove(lost)
    for name in plan.extra_products:
        # Sizes of real caltables packages; FILE_CLASS NULL, as on rows the archive did not classify.
        mous.products.append(ProductFile(name.format(mous=disk_name(mous.uid)), 48_213_977, None))


def _resolve_asa_second_listing(project: Project) -> None:
    """An EB planned as "also under another MOUS" is filed under the project's first other MOUS."""
    mouses = project.mouses()
    for mous in mouses:
        other = next((m.uid for m in mouses if m.uid != mous.uid), None)
        for eb in mous.all_ebs():
            if eb.asa_also_under == ANOTHER_MOUS:
                eb.asa_also_under = other

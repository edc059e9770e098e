"""What the ``almamirror ppr`` command does: refuse what cannot be restored, write what can.

Refusals (one line, exit 1, nothing written): the MOUS is not in the mirror, is not a member OUS, is
not restorable (the mirror's reason), or is proprietary now and ``allow_proprietary`` is off.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection

from etl.calibration.compare import describe, eb_differences
from etl.settings import PprSettings
from ppr.build import build_ppr, default_relative_path, serialize_ppr
from ppr.check import SessionDifference, compare_sessions, read_archived_sessions
from ppr.errors import (
    InvalidPpr,
    NoArchivedRecord,
    NotAMemberOus,
    NotRestorable,
    OutputExists,
    UnknownMous,
)
from ppr.layout import build_request_directory
from ppr.model import RestoreRequest
from ppr.query import (
    MousVerdict,
    archived_records,
    archived_sessions,
    ous_level,
    restore_requests,
    verdicts,
)
from ppr.validate import validate_ppr


@dataclass(frozen=True)
class GeneratedPpr:
    request: RestoreRequest
    relative_path: str
    document: bytes


@dataclass
class BulkSummary:
    """What ``--all-restorable`` wrote and what it refused, by reason."""

    written: list[Path] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # MOUS UID -> one-line reason

    @property
    def refused_by_reason(self) -> Counter[str]:
        return Counter(reason.split(":", 1)[0] for reason in self.refused.values())


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def generate_ppr(
    connection: Connection,
    mous_uid: str,
    site: PprSettings,
    allow_proprietary: bool = False,
    relative_path: str | None = None,
    created: datetime | None = None,
) -> GeneratedPpr:
    """The validated restore PPR of one MOUS (its canonical UID), or the refusal that says why not."""
    verdict = _verdict(connection, mous_uid)
    created = created or utc_now()
    refuse_unless_restorable(verdict, allow_proprietary, created)
    request = restore_requests(connection, [mous_uid])[mous_uid]
    return render(request, site, relative_path, created)


def render(
    request: RestoreRequest, site: PprSettings, relative_path: str | None, created: datetime
) -> GeneratedPpr:
    """Build, validate and serialise; a PPR that fails the schema is never returned."""
    path = relative_path or default_relative_path(request, created)
    document = serialize_ppr(build_ppr(request, site, path, created))
    validate_ppr(document)
    return GeneratedPpr(request, path, document)


def refuse_unless_restorable(verdict: MousVerdict, allow_proprietary: bool, now: datetime) -> None:
    if not verdict.restorable:
        raise NotRestorable(verdict.mous_uid, verdict.reason_code or "not_restorable",
                            verdict.reason or "the mirror marks it not restorable")
    if allow_proprietary:
        return
    if verdict.release_date is None:
        raise NotRestorable(
            verdict.mous_uid, "proprietary",
            "it has no release date (never released, still proprietary); pass --allow-proprietary to "
            "write its PPR anyway",
        )
    if verdict.release_date > now:
        raise NotRestorable(
            verdict.mous_uid, "proprietary",
            f"it is proprietary until {verdict.release_date:%Y-%m-%d %H:%M} UTC; pass "
            "--allow-proprietary to write its PPR anyway",
        )


def check_against_archived(
    connection: Connection, mous_uid: str, archived_ppr: Path
) -> list[SessionDifference]:
    """Differences between the mirror's session mapping and an archived PPR's; [] when they agree.

    Works for any member OUS the mirror derived, restorable or not: finding out why is the point.
    """
    _verdict(connection, mous_uid)
    archived = read_archived_sessions(archived_ppr)
    request = restore_requests(connection, [mous_uid])[mous_uid]
    return compare_sessions(request.sessions, archived)


@dataclass(frozen=True)
class RecordDifferences:
    """The mirror's sessions against each archived record document: its file and one line per EB."""

    files: dict[str, str]  # document kind -> archived file name, of the documents compared
    lines: list[str]  # one per EB the documents place differently; [] when they all agree
    unchecked: list[str]  # record documents that could not be compared (unavailable, malformed)
    state: str


RECORD_ABSENT_WHY = {
    "absent": "no pipeline manifest, restore script or PPR is archived with its calibration",
    "unavailable": "its documents could not be fetched from NGAS yet; the next sync tries again",
    "malformed": "its documents do not parse (almamirror report quality names them)",
}


def check_against_record(connection: Connection, mous_uid: str) -> RecordDifferences:
    """The mirror's session map against the archive's record in the mirror, document by document.

    The same comparison the sync makes: EB by EB, the mirror's QA0 Pass EBs against each document's.
    """
    verdict = _verdict(connection, mous_uid)
    record = archived_records(connection, [mous_uid]).get(mous_uid)
    documents = archived_sessions(connection, mous_uid)
    if record is None or not documents:
        state = record.state if record is not None else verdict.calibration_record
        raise NoArchivedRecord(mous_uid, state, RECORD_ABSENT_WHY.get(state, "it holds no sessions"))
    request = restore_requests(connection, [mous_uid])[mous_uid]
    ours = {session.number: session.eb_uids for session in request.sessions if session.eb_uids}
    named = (
        ("manifest", record.manifest_file), ("restore_script", record.restore_script_file),
        ("request", record.request_file),
    )
    files = {kind: name for kind, name in named if name is not None and kind in documents}
    unchecked = [name for kind, name in named if name is not None and kind not in documents]
    found = {kind: eb_differences(ours, mapping) for kind, mapping in documents.items()}
    return RecordDifferences(files, describe(found, files), unchecked, record.state)


def build_all_restorable(
    connection: Connection,
    base_dir: Path,
    site: PprSettings,
    allow_proprietary: bool = False,
    force: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> BulkSummary:
    """A request directory for every restorable MOUS, read with a handful of bulk queries."""
    created = utc_now()
    restorable = verdicts(connection)
    requests = restore_requests(connection, sorted(restorable))
    summary = BulkSummary()
    for done, (mous_uid, request) in enumerate(sorted(requests.items()), start=1):
        try:
            refuse_unless_restorable(restorable[mous_uid], allow_proprietary, created)
            generated = render(request, site, None, created)
            summary.written.append(
                build_request_directory(base_dir, generated.relative_path, generated.document, request, force)
            )
        except (NotRestorable, OutputExists, InvalidPpr) as refusal:
            # One MOUS's refusal is reported in the summary; the others are still written.
            summary.refused[mous_uid] = f"{getattr(refusal, 'reason', type(refusal).__name__)}: {refusal}"
        if on_progress is not None:
            on_progress(done, len(requests))
    return summary


def _verdict(connection: Connection, mous_uid: str) -> MousVerdict:
    found = verdicts(connection, [mous_uid]).get(mous_uid)
    if found is not None:
        return found
    level = ous_level(connection, mous_uid)
    if level is None:
        raise UnknownMous(mous_uid)
    raise NotAMemberOus(mous_uid, level)

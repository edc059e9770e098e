"""What the ``almamirror ppr`` command does: refuse what cannot be restored, write what can.

Refusals (one line, exit 1, nothing written): the MOUS is not in the mirror, is not a member OUS, is
not restorable (the mirror's reason code, as ``report restorable`` shows it), or is proprietary now
(the mirror's ``proprietary`` flag) and ``allow_proprietary`` is off. A MOUS the mirror calls
restorable always gets its PPR: a build or validation failure then is a defect (``InvalidPpr``).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree
from sqlalchemy import Connection

from etl.calibration.compare import describe, eb_differences
from etl.logs import fields
from etl.restore.kinds import PIPELINE_PPR, PIPELINE_SCRIPT, SCRIPTFORPI
from etl.settings import PprSettings
from ppr.build import build_ppr, default_relative_path, serialize_own_ppr
from ppr.bulk import in_order
from ppr.check import ArchivedPpr, SessionDifference, compare_sessions, read_archived_ppr
from ppr.delivery import delivery_request_files
from ppr.errors import (
    ArchivedPprOfAnotherMous,
    InvalidPpr,
    NoArchivedRecord,
    NotAMemberOus,
    NotRestorable,
    OutputExists,
    OutputNotADirectory,
    UnknownMous,
)
from ppr.layout import RequestFiles, request_files, session_map_digest, write_request_directory
from ppr.model import RestoreRequest
from ppr.query import (
    MousVerdict,
    archived_records,
    archived_sessions,
    deliveries,
    ous_level,
    restore_requests,
    restore_scripts,
    verdicts,
)
from ppr.spool import built_requests, restorable_since
from ppr.validate import validated_ppr
from ppr.writer import RequestWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneratedPpr:
    request: RestoreRequest
    relative_path: str
    document: bytes
    # ``document`` as validation parsed it, so writing it does not parse it again.
    parsed: etree._ElementTree | None = field(default=None, compare=False, repr=False)


# Codes of the refusals that are not the mirror's reason codes, spelled like them.
PROPRIETARY = "proprietary"
REFUSAL_CODES: dict[type[Exception], str] = {
    OutputNotADirectory: "output_not_a_directory", OutputExists: "output_exists", InvalidPpr: "invalid_ppr",
}


@dataclass
class BulkSummary:
    """What ``--all-restorable`` wrote, what it found already built, and what it refused, by reason code."""

    written: list[Path] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # MOUS UID -> "code: one-line reason"
    already_built: dict[str, Path] = field(default_factory=dict)  # MOUS UID -> its request directory
    new_session_map: list[str] = field(default_factory=list)  # built again: their session map changed
    # --pending: restorable, still proprietary, left for the night their release date passes.
    awaiting_release: list[str] = field(default_factory=list)
    # Requests in the spool for MOUSes that are proprietary again (a claw-back): not to be run.
    no_longer_public: dict[str, Path] = field(default_factory=dict)
    # Requests in the spool for MOUSes no longer restorable by any kind: not to be run either.
    no_longer_restorable: dict[str, Path] = field(default_factory=dict)

    @property
    def refused_by_reason(self) -> Counter[str]:
        return Counter(reason.split(":", 1)[0] for reason in self.refused.values())


def refusal_code(refusal: NotRestorable | OutputExists | InvalidPpr) -> str:
    """The snake_case code of a refusal: the mirror's reason code, ``proprietary``, or the error's."""
    if isinstance(refusal, NotRestorable):
        return refusal.reason
    return REFUSAL_CODES[type(refusal)]


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def generate_ppr(
    connection: Connection,
    mous_uid: str,
    site: PprSettings,
    allow_proprietary: bool = False,
    relative_path: str | None = None,
    created: datetime | None = None,
    with_script: bool = False,
) -> GeneratedPpr:
    """The validated restore PPR of one MOUS (its canonical UID), or the refusal that says why not.

    ``with_script``: for a request directory, which carries a pipeline_script MOUS's archived restore
    script beside the PPR (a PPR alone would restore it without the script's extra steps).
    """
    verdict = _verdict(connection, mous_uid)
    created = created or utc_now()
    refuse_unless_restorable(verdict, allow_proprietary, with_script)
    request = with_restore_scripts(connection, restore_requests(connection, [mous_uid]), {mous_uid: verdict})
    return render(request[mous_uid], site, relative_path, created)


def with_restore_scripts(
    connection: Connection, requests: dict[str, RestoreRequest], chosen: Mapping[str, MousVerdict]
) -> dict[str, RestoreRequest]:
    """The requests, each pipeline_script one carrying its archived restore script, each scriptforpi one
    what its delivery tree needs."""
    scripted = [uid for uid, verdict in chosen.items() if verdict.restore_kind == PIPELINE_SCRIPT]
    scripts = restore_scripts(connection, scripted)
    delivered = [uid for uid, verdict in chosen.items() if verdict.restore_kind == SCRIPTFORPI]
    trees = deliveries(connection, [uid for uid in delivered if uid in requests])
    return {
        uid: dataclasses.replace(request, restore_script=scripts.get(uid), delivery=trees.get(uid))
        for uid, request in requests.items()
    }


def render(
    request: RestoreRequest, site: PprSettings, relative_path: str | None, created: datetime
) -> GeneratedPpr:
    """Build, validate and serialise; a PPR that fails the schema is never returned."""
    path = relative_path or default_relative_path(request, created)
    document = serialize_own_ppr(build_ppr(request, site, path, created))
    return GeneratedPpr(request, path, document, validated_ppr(document))


def refuse_unless_restorable(
    verdict: MousVerdict, allow_proprietary: bool, with_script: bool = False, delivery: bool = False
) -> None:
    """Refuse with the mirror's reason code, or as proprietary by the mirror's flag; ``with_script``
    accepts a pipeline_script MOUS (its request directory runs the archived restore script),
    ``delivery`` a scriptforpi MOUS (its delivery tree runs scriptForPI.py)."""
    accepted = (
        verdict.restorable
        or (with_script and verdict.restore_kind == PIPELINE_SCRIPT)
        or (delivery and verdict.restore_kind == SCRIPTFORPI)
    )
    if not accepted:
        raise NotRestorable(verdict.mous_uid, verdict.reason_code or "not_restorable",
                            verdict.reason or "the mirror marks it not restorable")
    if allow_proprietary or not verdict.proprietary:
        return
    if verdict.release_date is None:
        raise NotRestorable(
            verdict.mous_uid, PROPRIETARY,
            "it has no release date (never released, still proprietary); pass --allow-proprietary to "
            "write its PPR anyway",
        )
    raise NotRestorable(
        verdict.mous_uid, PROPRIETARY,
        f"it is proprietary until {verdict.release_date.astimezone(UTC):%Y-%m-%d %H:%M} UTC; pass "
        "--allow-proprietary to write its PPR anyway",
    )


@dataclass(frozen=True)
class CheckResult:
    """The archived PPR as the pipeline reads it, and how its session mapping differs from the mirror's."""

    mous_uid: str
    archived: ArchivedPpr
    differences: list[SessionDifference]

    @property
    def agree(self) -> bool:
        return not self.differences


def check_archived_ppr(connection: Connection, mous_uid: str, archived_ppr: Path) -> CheckResult:
    """The archived PPR read as the pipeline reads it and compared with the mirror's mapping.

    Works for any member OUS the mirror derived, restorable or not: finding out why is the point. A PPR
    whose OUSStatusRef names another MOUS is ``ArchivedPprOfAnotherMous``, before any comparison.
    """
    _verdict(connection, mous_uid)
    archived = read_archived_ppr(archived_ppr)
    if archived.mous_uid is not None and archived.mous_uid != mous_uid:
        raise ArchivedPprOfAnotherMous(archived_ppr, archived.mous_uid, mous_uid)
    request = restore_requests(connection, [mous_uid])[mous_uid]
    differences = compare_sessions(request.sessions, archived.sessions, archived.paired_by_default)
    return CheckResult(mous_uid, archived, differences)


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
    since: datetime | None = None,
    newly: bool = False,
    pending: bool = False,
    ppr_only: bool = False,
) -> BulkSummary:
    """A request directory for every restorable MOUS not already built, read with a handful of bulk
    queries.

    A MOUS whose session map already has a request under ``base_dir`` is skipped (``already_built``);
    ``since`` and ``newly`` keep the MOUSes restorable since then, or since the latest sync.
    ``pending`` (the nightly spool) leaves a MOUS that is still proprietary for a later night instead
    of refusing it: it is chosen on the night its release date has passed, whenever it became
    restorable. A request already built for a MOUS that is proprietary now, or no longer restorable,
    is named, never hidden. Restorable means a restore kind other than none; ``ppr_only`` keeps the
    MOUSes a restore PPR restores (a site that runs only PPR restores).
    """
    created = utc_now()
    restorable = verdicts(connection)
    chosen = sorted(
        uid for uid, verdict in restorable.items() if not ppr_only or verdict.restore_kind == PIPELINE_PPR
    )
    summary = BulkSummary()
    if since is not None or newly:
        window = restorable_since(connection, since, newly)
        chosen = [uid for uid in chosen if uid in window]
    if pending and not allow_proprietary:
        summary.awaiting_release = [uid for uid in chosen if restorable[uid].proprietary]
        chosen = [uid for uid in chosen if not restorable[uid].proprietary]
    requests = with_restore_scripts(connection, restore_requests(connection, chosen), restorable)
    built = built_requests(base_dir)
    summary.no_longer_public = _clawed_back(built, restorable, allow_proprietary)
    summary.no_longer_restorable = _no_longer_restorable(built, restorable)
    to_build: list[tuple[RestoreRequest, MousVerdict]] = []
    for mous_uid, request in sorted(requests.items()):
        existing = built.get((mous_uid, session_map_digest(request.sessions)))
        if existing is not None:
            summary.already_built[mous_uid] = existing
        else:
            to_build.append((request, restorable[mous_uid]))
    build = functools.partial(build_requests, base_dir, site, allow_proprietary, force, created)
    for done, (mous_uid, outcome) in enumerate(in_order(build, to_build), start=1):
        if isinstance(outcome, Path):
            summary.written.append(outcome)
        else:
            summary.refused[mous_uid] = outcome
        if on_progress is not None:
            on_progress(len(summary.already_built) + done, len(requests))
    built_mouses = {mous_uid for mous_uid, _digest in built}
    summary.new_session_map = [
        request.mous_uid for request, _verdict in to_build
        if request.mous_uid in built_mouses and request.mous_uid not in summary.refused
    ]
    return summary


def _clawed_back(
    built: dict[tuple[str, str], Path], restorable: dict[str, MousVerdict], allow_proprietary: bool
) -> dict[str, Path]:
    """Requests in the spool whose MOUS is proprietary now: its release date moved into the future."""
    if allow_proprietary:
        return {}
    found: dict[str, Path] = {}
    for (mous_uid, _digest), directory in sorted(built.items()):
        verdict = restorable.get(mous_uid)
        if verdict is not None and verdict.proprietary:
            log.warning("ppr.no_longer_public %s", fields(mous=mous_uid, request=directory))
            found[mous_uid] = directory
    return found


def _no_longer_restorable(
    built: dict[tuple[str, str], Path], restorable: dict[str, MousVerdict]
) -> dict[str, Path]:
    """Requests in the spool whose MOUS has no restore kind now (report no-longer-restorable says why)."""
    found: dict[str, Path] = {}
    for (mous_uid, _digest), directory in sorted(built.items()):
        if mous_uid not in restorable:
            log.warning("ppr.no_longer_restorable %s", fields(mous=mous_uid, request=directory))
            found[mous_uid] = directory
    return found


def build_requests(
    base_dir: Path,
    site: PprSettings,
    allow_proprietary: bool,
    force: bool,
    created: datetime,
    chosen: Sequence[tuple[RestoreRequest, MousVerdict]],
) -> list[tuple[str, Path | str]]:
    """Each MOUS's request directory written, or its refusal as the summary words it (``code: reason``),
    in the order given.

    Runs in worker processes for a large run (ppr/bulk.py): everything it takes and returns pickles.
    The directories are written by threads while the next PPRs are built (ppr/writer.py).
    """
    outcomes: dict[str, Path | str] = {}

    def refused(mous_uid: str, refusal: OutputExists) -> None:
        outcomes[mous_uid] = f"{refusal_code(refusal)}: {refusal}"

    with RequestWriter(force, on_written=outcomes.__setitem__, on_exists=refused) as writer:
        for request, verdict in chosen:
            files = _request_files(request, verdict, base_dir, site, allow_proprietary, created)
            if isinstance(files, RequestFiles):
                writer.submit(request.mous_uid, files)
            else:
                outcomes[request.mous_uid] = files
    return [(request.mous_uid, outcomes[request.mous_uid]) for request, _verdict in chosen]


def _request_files(
    request: RestoreRequest,
    verdict: MousVerdict,
    base_dir: Path,
    site: PprSettings,
    allow_proprietary: bool,
    created: datetime,
) -> RequestFiles | str:
    try:
        refuse_unless_restorable(verdict, allow_proprietary, with_script=True, delivery=True)
        if verdict.restore_kind == SCRIPTFORPI:
            return delivery_request_files(
                base_dir, default_relative_path(request, created), request, created, site.casa
            )
        if verdict.restore_kind == PIPELINE_SCRIPT and request.restore_script is None:
            raise NotRestorable(request.mous_uid, verdict.reason_code or "restore_needs_extra_steps",
                                "its archived restore script is not in the mirror (fetched by the sync)")
        generated = render(request, site, None, created)
        return request_files(
            base_dir, generated.relative_path, generated.document, request, generated.parsed, site.casa
        )
    except (NotRestorable, InvalidPpr) as refusal:
        # One MOUS's refusal is reported in the summary; the others are still written.
        return f"{refusal_code(refusal)}: {refusal}"


def build_delivery(
    connection: Connection,
    mous_uid: str,
    base_dir: Path,
    site: PprSettings,
    allow_proprietary: bool = False,
    relative_path: str | None = None,
    force: bool = False,
    created: datetime | None = None,
) -> tuple[RestoreRequest, Path]:
    """The delivery tree of one scriptforpi MOUS under ``base_dir``, written; the refusal says why not."""
    verdict = _verdict(connection, mous_uid)
    created = created or utc_now()
    refuse_unless_restorable(verdict, allow_proprietary, delivery=verdict.restore_kind == SCRIPTFORPI)
    if verdict.restore_kind != SCRIPTFORPI:
        raise NotRestorable(mous_uid, verdict.reason_code or "not_restorable",
                            f"it restores by {verdict.restore_kind}, not by a delivery's scriptForPI.py")
    requests = restore_requests(connection, [mous_uid])
    request = with_restore_scripts(connection, requests, {mous_uid: verdict})[mous_uid]
    path = relative_path or default_relative_path(request, created)
    files = delivery_request_files(base_dir, path, request, created, site.casa)
    return request, write_request_directory(files, force)


def _verdict(connection: Connection, mous_uid: str) -> MousVerdict:
    found = verdicts(connection, [mous_uid]).get(mous_uid)
    if found is not None:
        return found
    level = ous_level(connection, mous_uid)
    if level is None:
        raise UnknownMous(mous_uid)
    raise NotAMemberOus(mous_uid, level)

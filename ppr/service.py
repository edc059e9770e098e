"""What the ``almamirror ppr`` command does: refuse what cannot be restored, write what can.

Refusals (one line, exit 1, nothing written): the MOUS is not in the mirror, is not a member OUS, is
not restorable (the mirror's reason code, as ``report restorable`` shows it), or is proprietary now
(the mirror's ``proprietary`` flag) and ``allow_proprietary`` is off. A MOUS the mirror calls
restorable always gets its PPR: a build or validation failure then is a defect (``InvalidPpr``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection

from etl.settings import PprSettings
from ppr.build import build_ppr, default_relative_path, serialize_ppr
from ppr.check import SessionDifference, compare_sessions, read_archived_sessions
from ppr.errors import InvalidPpr, NotAMemberOus, NotRestorable, OutputExists, UnknownMous
from ppr.layout import build_request_directory
from ppr.model import RestoreRequest
from ppr.query import MousVerdict, ous_level, restore_requests, verdicts
from ppr.validate import validate_ppr


@dataclass(frozen=True)
class GeneratedPpr:
    request: RestoreRequest
    relative_path: str
    document: bytes


# Codes of the refusals that are not the mirror's reason codes, spelled like them.
PROPRIETARY = "proprietary"
REFUSAL_CODES: dict[type[Exception], str] = {OutputExists: "output_exists", InvalidPpr: "invalid_ppr"}


@dataclass
class BulkSummary:
    """What ``--all-restorable`` wrote and what it refused, by reason code."""

    written: list[Path] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # MOUS UID -> "code: one-line reason"

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
) -> GeneratedPpr:
    """The validated restore PPR of one MOUS (its canonical UID), or the refusal that says why not."""
    verdict = _verdict(connection, mous_uid)
    created = created or utc_now()
    refuse_unless_restorable(verdict, allow_proprietary)
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


def refuse_unless_restorable(verdict: MousVerdict, allow_proprietary: bool) -> None:
    """Refuse with the mirror's reason code, or as proprietary by the mirror's flag."""
    if not verdict.restorable:
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
            refuse_unless_restorable(restorable[mous_uid], allow_proprietary)
            generated = render(request, site, None, created)
            summary.written.append(
                build_request_directory(base_dir, generated.relative_path, generated.document, request, force)
            )
        except (NotRestorable, OutputExists, InvalidPpr) as refusal:
            # One MOUS's refusal is reported in the summary; the others are still written.
            summary.refused[mous_uid] = f"{refusal_code(refusal)}: {refusal}"
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

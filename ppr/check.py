"""The session mapping of an archived PPR, read as the pipeline read it, compared with the mirror's.

The PPR archived with a MOUS's calibration products is the mapping its caltables were made with: a
restore that maps an EB to another session restores it with the wrong tables, or fails on a session
number the products do not have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from etl.archive_names import canonical_uid
from etl.calibration import compare
from etl.calibration.compare import DifferenceKind, SessionDifference, describe_difference
from etl.calibration.errors import MalformedDocument
from etl.calibration.request import NoteKind, ReadingNote, read_request
from ppr.errors import ArchivedPprUnreadable
from ppr.model import Session

__all__ = [
    "ArchivedPpr",
    "DifferenceKind",
    "NoteKind",
    "ReadingNote",
    "SessionDifference",
    "compare_sessions",
    "describe_differences",
    "read_archived_ppr",
    "read_archived_sessions",
]


# The document kind of an archived PPR, as the comparison names it ("the archived PPR").
ARCHIVED_PPR = "request"


@dataclass(frozen=True)
class ArchivedPpr:
    """An archived PPR as the pipeline reads it."""

    path: Path
    mous_uid: str | None  # OUSStatusRef's entityId (canonical when it is a UID), None when absent
    sessions: dict[int, tuple[str, ...]]  # session number → EB UIDs, unnamed ASDMs in session 1
    paired_by_default: tuple[str, ...]  # disk names of the ASDMs no SESSION_n names
    notes: tuple[ReadingNote, ...]


def read_archived_sessions(path: Path) -> dict[int, tuple[str, ...]]:
    """Session number → EB UIDs as the pipeline reads ``path``; ``ArchivedPprUnreadable`` if it cannot."""
    return read_archived_ppr(path).sessions


def read_archived_ppr(path: Path) -> ArchivedPpr:
    """``path`` read the way the pipeline reads it, with notes where that differs from a glance.

    The reading is the sync's own (``etl.calibration.request``): the pipeline's rules, including that
    an ASDM no session names is calibrated as session 1 — so it is listed in session 1 here.
    """
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ArchivedPprUnreadable(path, exc.strerror or str(exc)) from exc
    try:
        reading = read_request(content)
    except MalformedDocument as exc:
        raise ArchivedPprUnreadable(path, str(exc)) from exc
    reference = reading.ous_status_ref
    mous_uid = None if reference is None else canonical_uid(reference) or reference
    return ArchivedPpr(path, mous_uid, reading.sessions, reading.paired_by_default, reading.notes)


def compare_sessions(
    derived: Sequence[Session],
    archived: Mapping[int, tuple[str, ...]],
    paired_by_default: Iterable[str] = (),
) -> list[SessionDifference]:
    """Every difference between the mirror's mapping and the archived one; order within a session is free.

    ``paired_by_default``: disk names of the archived ASDMs that are in session 1 only because no
    SESSION_n names them (``ArchivedPpr.paired_by_default``). The comparison is the sync's own
    (``etl.calibration.compare``).
    """
    mirror = {session.number: session.eb_uids for session in derived}
    return compare.compare_sessions(mirror, archived, paired_by_default)


def describe_differences(differences: Iterable[SessionDifference]) -> list[str]:
    """One line per difference, for the CLI, in the sync's words; empty when there are none."""
    return [describe_difference(difference, (ARCHIVED_PPR,)) for difference in differences]

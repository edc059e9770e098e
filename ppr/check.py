"""The session mapping of an archived PPR, read as the pipeline read it, compared with the mirror's.

The PPR archived with a MOUS's calibration products is the mapping its caltables were made with: a
restore that maps an EB to another session restores it with the wrong tables, or fails on a session
number the products do not have.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from etl.archive_names import canonical_uid, disk_name
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


class DifferenceKind(StrEnum):
    SESSION_MISSING = "session-missing"  # a session number on one side only
    EB_MOVED = "eb-moved"  # an EB on both sides, in different sessions
    EB_MISSING = "eb-missing"  # an EB on one side only


@dataclass(frozen=True)
class SessionDifference:
    """One difference; a session set on one side only means "present there, missing on the other".

    ``paired_by_default``: the archived side's session 1 comes from the pipeline pairing an ASDM that
    no SESSION_n names with session_1.
    """

    kind: DifferenceKind
    derived_session: int | None
    archived_session: int | None
    eb_uid: str | None = None
    paired_by_default: bool = False


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
    SESSION_n names them (``ArchivedPpr.paired_by_default``).
    """
    derived_mapping = {session.number: session.eb_uids for session in derived}
    return [
        *_session_differences(set(derived_mapping), set(archived)),
        *_eb_differences(_homes(derived_mapping), _homes(archived), frozenset(paired_by_default)),
    ]


def describe_differences(differences: Iterable[SessionDifference]) -> list[str]:
    """One line per difference, for the CLI; empty when there are none."""
    return [_describe(difference) for difference in differences]


def _describe(difference: SessionDifference) -> str:
    derived, archived = difference.derived_session, difference.archived_session
    if difference.kind is DifferenceKind.SESSION_MISSING:
        if archived is None:
            return f"SESSION_{derived} is in the mirror's mapping but not in the archived PPR"
        return f"SESSION_{archived} is in the archived PPR but not in the mirror's mapping"
    if difference.kind is DifferenceKind.EB_MOVED:
        return _describe_moved(difference)
    return _describe_missing(difference)


def _describe_moved(difference: SessionDifference) -> str:
    eb, derived = difference.eb_uid, difference.derived_session
    if difference.paired_by_default:
        return (
            f"EB {eb} is in SESSION_{derived} in the mirror's mapping, but no SESSION_n of the "
            "archived PPR names it, so it is paired with session_1 by the pipeline"
        )
    return (
        f"EB {eb} is in SESSION_{derived} in the mirror's mapping "
        f"but in SESSION_{difference.archived_session} in the archived PPR"
    )


def _describe_missing(difference: SessionDifference) -> str:
    eb, derived, archived = difference.eb_uid, difference.derived_session, difference.archived_session
    if archived is None:
        return f"EB {eb} (SESSION_{derived}) is in the mirror's mapping but not in the archived PPR"
    if difference.paired_by_default:
        return (
            f"EB {eb} (in no SESSION_n of the archived PPR, so paired with session_1 by the pipeline) "
            "is not among the mirror's Pass EBs"
        )
    return f"EB {eb} (SESSION_{archived} in the archived PPR) is not among the mirror's Pass EBs"


def _session_differences(derived: set[int], archived: set[int]) -> Iterator[SessionDifference]:
    for number in sorted(derived ^ archived):
        in_derived = number in derived
        yield SessionDifference(
            DifferenceKind.SESSION_MISSING,
            derived_session=number if in_derived else None,
            archived_session=None if in_derived else number,
        )


def _homes(mapping: Mapping[int, Iterable[str]]) -> dict[str, tuple[str, int]]:
    # Keyed by disk name, as the pipeline matches; an EB named twice keeps its lowest session.
    homes: dict[str, tuple[str, int]] = {}
    for number in sorted(mapping):
        for uid in mapping[number]:
            homes.setdefault(disk_name(uid), (uid, number))
    return homes


def _eb_differences(
    derived: Mapping[str, tuple[str, int]],
    archived: Mapping[str, tuple[str, int]],
    paired_by_default: frozenset[str],
) -> Iterator[SessionDifference]:
    moved: list[SessionDifference] = []
    missing: list[SessionDifference] = []
    for name in derived.keys() | archived.keys():
        derived_uid, derived_session = derived.get(name, (None, None))
        archived_uid, archived_session = archived.get(name, (None, None))
        eb_uid = derived_uid or archived_uid
        by_default = archived_session is not None and name in paired_by_default
        if derived_session is None or archived_session is None:
            missing.append(SessionDifference(
                DifferenceKind.EB_MISSING, derived_session, archived_session, eb_uid, by_default
            ))
        elif derived_session != archived_session:
            moved.append(SessionDifference(
                DifferenceKind.EB_MOVED, derived_session, archived_session, eb_uid, by_default
            ))
    yield from sorted(moved, key=_sort_key)
    yield from sorted(missing, key=_sort_key)


def _sort_key(difference: SessionDifference) -> tuple[int, str]:
    session = difference.derived_session or difference.archived_session or 0
    return session, difference.eb_uid or ""

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

from etl.calibration.errors import MalformedDocument
from etl.calibration.request import read_request_sessions
from ppr.errors import ArchivedPprUnreadable
from ppr.model import Session
from ppr.uid import disk_name


class DifferenceKind(StrEnum):
    SESSION_MISSING = "session-missing"  # a session number on one side only
    EB_MOVED = "eb-moved"  # an EB on both sides, in different sessions
    EB_MISSING = "eb-missing"  # an EB on one side only


@dataclass(frozen=True)
class SessionDifference:
    """One difference; a session set on one side only means "present there, missing on the other"."""

    kind: DifferenceKind
    derived_session: int | None
    archived_session: int | None
    eb_uid: str | None = None


def read_archived_sessions(path: Path) -> dict[int, tuple[str, ...]]:
    """Session number → EB UIDs as the pipeline reads ``path``; ``ArchivedPprUnreadable`` if it cannot.

    The reading is the sync's own (``etl.calibration.request``): the pipeline's rules, including that
    an ASDM no session names is calibrated as session 1 — so it is listed in session 1 here.
    """
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ArchivedPprUnreadable(path, exc.strerror or str(exc)) from exc
    try:
        return read_request_sessions(content)
    except MalformedDocument as exc:
        raise ArchivedPprUnreadable(path, str(exc)) from exc


def compare_sessions(
    derived: Sequence[Session], archived: Mapping[int, tuple[str, ...]]
) -> list[SessionDifference]:
    """Every difference between the mirror's mapping and the archived one; order within a session is free."""
    derived_mapping = {session.number: session.eb_uids for session in derived}
    return [
        *_session_differences(set(derived_mapping), set(archived)),
        *_eb_differences(_homes(derived_mapping), _homes(archived)),
    ]


def describe_differences(differences: Iterable[SessionDifference]) -> list[str]:
    """One line per difference, for the CLI; empty when there are none."""
    return [_describe(difference) for difference in differences]


def _describe(difference: SessionDifference) -> str:
    derived, archived, eb = difference.derived_session, difference.archived_session, difference.eb_uid
    if difference.kind is DifferenceKind.SESSION_MISSING:
        if archived is None:
            return f"SESSION_{derived} is in the mirror's mapping but not in the archived PPR"
        return f"SESSION_{archived} is in the archived PPR but not in the mirror's mapping"
    if difference.kind is DifferenceKind.EB_MOVED:
        return (
            f"EB {eb} is in SESSION_{derived} in the mirror's mapping "
            f"but in SESSION_{archived} in the archived PPR"
        )
    if archived is None:
        return f"EB {eb} (SESSION_{derived}) is in the mirror's mapping but not in the archived PPR"
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
    derived: Mapping[str, tuple[str, int]], archived: Mapping[str, tuple[str, int]]
) -> Iterator[SessionDifference]:
    moved: list[SessionDifference] = []
    missing: list[SessionDifference] = []
    for name in derived.keys() | archived.keys():
        derived_uid, derived_session = derived.get(name, (None, None))
        archived_uid, archived_session = archived.get(name, (None, None))
        eb_uid = derived_uid or archived_uid
        if derived_session is None or archived_session is None:
            missing.append(
                SessionDifference(DifferenceKind.EB_MISSING, derived_session, archived_session, eb_uid)
            )
        elif derived_session != archived_session:
            moved.append(
                SessionDifference(DifferenceKind.EB_MOVED, derived_session, archived_session, eb_uid)
            )
    yield from sorted(moved, key=_sort_key)
    yield from sorted(missing, key=_sort_key)


def _sort_key(difference: SessionDifference) -> tuple[int, str]:
    session = difference.derived_session or difference.archived_session or 0
    return session, difference.eb_uid or ""

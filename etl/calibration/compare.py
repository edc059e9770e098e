"""Does an archived session map agree with the mirror's? The one comparison of session maps.

The sync compares the mirror's sessions with each record document (manifest, restore script, archived
PPR), ``almamirror ppr --check`` with an archived PPR: both with this module, in the same words.
The order inside a session does not matter. EBs are matched by disk name (``uid___A002_…``), as the
pipeline matches them; an EB named twice keeps its lowest session, as the pipeline's reader does.

Sessions are spelled as each side names them: ``SESSION_n`` on the mirror's side (the keyword of the
PPR it writes), ``session_n`` on the archive's (the pipeline's name for a session, in its products, its
restore script and its reading of a PPR).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from etl.archive_names import disk_name

# How a person reads each document's name in a difference.
DOCUMENT_LABELS = {"manifest": "the manifest", "restore_script": "the restore script",
                   "request": "the archived PPR"}


class DifferenceKind(StrEnum):
    SESSION_MISSING = "session-missing"  # a session number on one side only
    EB_MOVED = "eb-moved"  # an EB on both sides, in different sessions
    EB_MISSING = "eb-missing"  # an EB on one side only


@dataclass(frozen=True)
class SessionDifference:
    """One difference; a session set on one side only means "present there, missing on the other".

    ``eb_uid`` is the mirror's spelling when the mirror has the EB, else the document's.
    ``paired_by_default``: the archived side's session 1 comes from the pipeline pairing an ASDM that
    no SESSION_n of a PPR names with session_1.
    """

    kind: DifferenceKind
    mirror_session: int | None
    archived_session: int | None
    eb_uid: str | None = None
    paired_by_default: bool = False


def compare_sessions(
    mirror: Mapping[int, Sequence[str]],
    archived: Mapping[int, Sequence[str]],
    paired_by_default: Iterable[str] = (),
) -> list[SessionDifference]:
    """Every difference between the two maps, missing sessions first, then moved EBs, then missing ones.

    ``paired_by_default``: disk names of the archived ASDMs that are in session 1 only because no
    SESSION_n of the archived PPR names them.
    """
    missing_sessions = [
        SessionDifference(
            DifferenceKind.SESSION_MISSING,
            mirror_session=number if number in mirror else None,
            archived_session=None if number in mirror else number,
        )
        for number in set(mirror) ^ set(archived)
    ]
    found = _eb_differences(_homes(mirror), _homes(archived), frozenset(paired_by_default))
    return sorted([*missing_sessions, *found], key=_order)


def eb_differences(
    mirror: Mapping[int, Sequence[str]], archived: Mapping[int, Sequence[str]]
) -> list[SessionDifference]:
    """Only the EBs placed differently or on one side only; [] when every EB is where the mirror has it.

    A session without calibrated EBs is absent from a manifest and a restore script, so a session
    number on one side only is no difference here.
    """
    return [d for d in compare_sessions(mirror, archived) if d.kind is not DifferenceKind.SESSION_MISSING]


def describe(
    differences: Mapping[str, Sequence[SessionDifference]], names: Mapping[str, str] | None = None
) -> list[str]:
    """One line per difference, the documents that say so named together.

    ``differences`` is keyed by document kind (``DOCUMENT_LABELS``); ``names`` gives a document's
    file name where it has one.
    """
    said_by: dict[SessionDifference, list[str]] = {}
    for kind, found in sorted(differences.items(), key=lambda item: _kind_order(item[0])):
        for difference in found:
            said_by.setdefault(difference, []).append(kind)
    return [describe_difference(d, said_by[d], names) for d in sorted(said_by, key=_order)]


def describe_difference(
    difference: SessionDifference, kinds: Iterable[str], names: Mapping[str, str] | None = None
) -> str:
    """One difference as a line, naming the documents of ``kinds`` that hold the archived side."""
    where = _documents(kinds, names or {})
    ours, theirs = difference.mirror_session, difference.archived_session
    if difference.kind is not DifferenceKind.SESSION_MISSING:
        return _describe_eb(difference, where)
    if theirs is None:
        return f"SESSION_{ours} is in the mirror but not in {where}"
    return f"session_{theirs} is in {where} but not in the mirror"


def _describe_eb(difference: SessionDifference, where: str) -> str:
    ours, theirs, eb = difference.mirror_session, difference.archived_session, difference.eb_uid
    paired = f"in no SESSION_n of {where}, so it is paired with session_1 by the pipeline"
    if ours is not None and theirs is not None:
        if difference.paired_by_default:
            return f"EB {eb} is in SESSION_{ours} in the mirror but {paired}"
        return f"EB {eb} is in SESSION_{ours} in the mirror but in session_{theirs} in {where}"
    if theirs is None:
        return f"EB {eb} (SESSION_{ours} in the mirror) is not in {where}"
    if difference.paired_by_default:
        return f"EB {eb} is {paired}, but it is not among the mirror's Pass EBs"
    return f"EB {eb} is in session_{theirs} in {where} but not among the mirror's Pass EBs"


def _order(difference: SessionDifference) -> tuple[int, int, str]:
    session = difference.mirror_session or difference.archived_session or 0
    return list(DifferenceKind).index(difference.kind), session, difference.eb_uid or ""


def _kind_order(kind: str) -> int:
    kinds = list(DOCUMENT_LABELS)
    return kinds.index(kind) if kind in kinds else len(kinds)


def _documents(kinds: Iterable[str], names: Mapping[str, str]) -> str:
    labels = [f"{DOCUMENT_LABELS.get(kind, kind)} {names[kind]}" if kind in names
              else DOCUMENT_LABELS.get(kind, kind) for kind in kinds]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _homes(mapping: Mapping[int, Iterable[str]]) -> dict[str, tuple[str, int]]:
    # Keyed by disk name, as the pipeline matches; an EB named twice keeps its lowest session.
    homes: dict[str, tuple[str, int]] = {}
    for number in sorted(mapping):
        for uid in mapping[number]:
            homes.setdefault(disk_name(uid), (uid, number))
    return homes


def _eb_differences(
    mirror: Mapping[str, tuple[str, int]],
    archived: Mapping[str, tuple[str, int]],
    paired_by_default: frozenset[str],
) -> list[SessionDifference]:
    found = []
    for name in mirror.keys() | archived.keys():
        mirror_uid, mirror_session = mirror.get(name, (None, None))
        archived_uid, archived_session = archived.get(name, (None, None))
        if mirror_session == archived_session:
            continue
        kind = DifferenceKind.EB_MISSING
        if mirror_session is not None and archived_session is not None:
            kind = DifferenceKind.EB_MOVED
        by_default = archived_session is not None and name in paired_by_default
        found.append(SessionDifference(
            kind, mirror_session, archived_session, mirror_uid or archived_uid, by_default
        ))
    return found

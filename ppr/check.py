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

from lxml import etree

from ppr.build import SESSION_SEPARATOR
from ppr.errors import ArchivedPprUnreadable
from ppr.model import Session
from ppr.uid import disk_name

SESSION_PREFIX = "SESSION_"


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

    The pipeline's rules: namespace prefixes ignored, names case-sensitive, text not stripped, the first
    ``Intents`` without ``Keyword`` (or ``AsdmIdentifier`` without ``AsdmDiskName``) ends its list,
    SESSION_n read until the first missing n, values split on exactly ' | ', and an ASDM no session
    names is calibrated as session 1 — so it is listed in session 1 here.
    """
    root = _read_document(path)
    request = _only_child_path(root, ("ProcessingRequests", "ProcessingRequest"), path)
    sessions = _numbered_sessions(_intents(request))
    asdms = list(_asdms(request, path))
    if not sessions and not asdms:
        raise ArchivedPprUnreadable(path, "it names no SESSION_1 and no AsdmIdentifier")
    named = {disk_name(uid) for uids in sessions.values() for uid in uids}
    unmatched = tuple(uid for asdm_disk_name, uid in asdms if asdm_disk_name not in named)
    if unmatched:
        sessions[1] = sessions.get(1, ()) + unmatched
    return sessions


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


# --- reading an archived PPR the way the pipeline does -------------------------------------------------


def _read_document(path: Path) -> etree._Element:
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ArchivedPprUnreadable(path, exc.strerror or str(exc)) from exc
    try:
        root = etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise ArchivedPprUnreadable(path, f"not well-formed XML (line {exc.lineno}: {exc.msg})") from exc
    if _local_name(root) != "SciPipeRequest":
        raise ArchivedPprUnreadable(path, f"its root element is {_local_name(root)}, not SciPipeRequest")
    return root


def _local_name(element: etree._Element) -> str:
    # Prefixes and namespaces differ between ALMA's tools; the pipeline only compares local names.
    return etree.QName(element).localname


def _children(parent: etree._Element, name: str) -> list[etree._Element]:
    # Comments and processing instructions have no string tag and are never elements the reader sees.
    return [child for child in parent if isinstance(child.tag, str) and _local_name(child) == name]


def _child(parent: etree._Element, name: str) -> etree._Element | None:
    found = _children(parent, name)
    return found[0] if found else None


def _only_child_path(root: etree._Element, names: Sequence[str], path: Path) -> etree._Element:
    element = root
    for name in names:
        found = _children(element, name)
        if len(found) != 1:
            where = "/".join(names[: names.index(name) + 1])
            raise ArchivedPprUnreadable(path, f"it has {len(found)} {where} elements, the pipeline needs one")
        element = found[0]
    return element


def _text(element: etree._Element | None) -> str:
    # Never stripped: the pipeline compares text exactly as written.
    return "" if element is None or element.text is None else element.text


def _intents(request: etree._Element) -> dict[str, str]:
    intents: dict[str, str] = {}
    for processing_intents in _children(request, "ProcessingIntents")[:1]:
        for intent in _children(processing_intents, "Intents"):
            keyword = _child(intent, "Keyword")
            if keyword is None:
                break  # the pipeline silently drops this entry and everything after it
            intents[_text(keyword)] = _text(_child(intent, "Value"))
    return intents


def _numbered_sessions(intents: Mapping[str, str]) -> dict[int, tuple[str, ...]]:
    sessions: dict[int, tuple[str, ...]] = {}
    number = 1
    while f"{SESSION_PREFIX}{number}" in intents:
        value = intents[f"{SESSION_PREFIX}{number}"]
        sessions[number] = tuple(item for item in value.split(SESSION_SEPARATOR) if item)
        number += 1
    return sessions


def _asdms(request: etree._Element, path: Path) -> Iterator[tuple[str, str]]:
    """(disk name without its ``.ms``-type suffix, EB UID or that disk name) per ASDM the pipeline reads."""
    data_set = _child(request, "DataSet")
    sched_block_set = None if data_set is None else _child(data_set, "SchedBlockSet")
    if sched_block_set is None:
        return
    identifiers = _children(sched_block_set, "SchedBlockIdentifier")
    if len(identifiers) > 1:
        raise ArchivedPprUnreadable(path, "it has two SchedBlockIdentifiers, which the pipeline rejects")
    for identifier in identifiers:
        for asdm in _children(identifier, "AsdmIdentifier"):
            disk = _child(asdm, "AsdmDiskName")
            if disk is None:
                return  # the pipeline silently drops this entry and everything after it
            reference = _child(asdm, "AsdmRef")
            eb_uid = _text(None if reference is None else _child(reference, "ExecBlockId"))
            bare = _text(disk).split(".", 1)[0]
            yield bare, eb_uid or bare

"""The session mapping of an archived PPR, read as the pipeline read it, compared with the mirror's.

The PPR archived with a MOUS's calibration products is the mapping its caltables were made with: a
restore that maps an EB to another session restores it with the wrong tables, or fails on a session
number the products do not have.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from lxml import etree

from ppr.build import SESSION_SEPARATOR
from ppr.errors import ArchivedPprUnreadable
from ppr.model import Session
from ppr.uid import canonical_uid, disk_name

SESSION_PREFIX = "SESSION_"


class DifferenceKind(StrEnum):
    SESSION_MISSING = "session-missing"  # a session number on one side only
    EB_MOVED = "eb-moved"  # an EB on both sides, in different sessions
    EB_MISSING = "eb-missing"  # an EB on one side only


class NoteKind(StrEnum):
    """Something in an archived PPR that the pipeline reads otherwise than a person might."""

    PAIRED_WITH_SESSION_1 = "paired-with-session-1"  # an ASDM no SESSION_n names
    SESSION_LIST_ENDS = "session-list-ends"  # a missing SESSION_n hides the later ones
    DUPLICATE_KEYWORD = "duplicate-keyword"  # the same keyword twice: the last value counts
    IGNORED_KEYWORD = "ignored-keyword"  # session_2, Session_2: not upper case, never read
    ENTRY_ENDS_LIST = "entry-ends-list"  # a malformed list entry drops everything after it
    EB_IN_TWO_SESSIONS = "eb-in-two-sessions"  # matched to the first session naming it


@dataclass(frozen=True)
class ReadingNote:
    kind: NoteKind
    text: str


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

    The pipeline's rules: namespace prefixes ignored, names case-sensitive, text not stripped, the first
    ``Intents`` without ``Keyword`` (or ``AsdmIdentifier`` without ``AsdmDiskName``) ends its list, a
    repeated keyword keeps its last value, SESSION_n read until the first missing n, values split on
    exactly ' | ', an EB in two sessions matched to the first, and an ASDM no session names is
    calibrated as session 1 — so it is listed in session 1 here.
    """
    root = _read_document(path)
    request = _only_child_path(root, ("ProcessingRequests", "ProcessingRequest"), path)
    notes: list[ReadingNote] = []
    intents = _intents(request, notes)
    sessions = _numbered_sessions(intents, notes)
    asdms = list(_asdms(request, path, notes))
    if not sessions and not asdms:
        raise ArchivedPprUnreadable(path, "it names no SESSION_1 and no AsdmIdentifier")
    notes.extend(_named_twice(sessions))
    named = {disk_name(uid) for uids in sessions.values() for uid in uids}
    unmatched = [(asdm_disk_name, uid) for asdm_disk_name, uid in asdms if asdm_disk_name not in named]
    for _name, uid in unmatched:
        notes.append(ReadingNote(
            NoteKind.PAIRED_WITH_SESSION_1,
            f"EB {uid} is in no SESSION_n of the archived PPR, so it is paired with session_1 by the "
            "pipeline",
        ))
    if unmatched:
        sessions[1] = sessions.get(1, ()) + tuple(uid for _name, uid in unmatched)
    return ArchivedPpr(
        path, _ous_status_ref(root), sessions, tuple(name for name, _uid in unmatched), tuple(notes)
    )


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


def _intents(request: etree._Element, notes: list[ReadingNote]) -> dict[str, str]:
    intents: dict[str, str] = {}
    for processing_intents in _children(request, "ProcessingIntents")[:1]:
        entries = _children(processing_intents, "Intents")
        for position, intent in enumerate(entries, start=1):
            keyword = _child(intent, "Keyword")
            if keyword is None:
                # The pipeline silently drops this entry and everything after it.
                notes.append(_list_ended("Intents", position, "Keyword", len(entries) - position, "intents"))
                break
            name, value = _text(keyword), _text(_child(intent, "Value"))
            if name in intents:
                notes.append(ReadingNote(
                    NoteKind.DUPLICATE_KEYWORD,
                    f"{name} appears more than once; the pipeline keeps the last value ({value!r}, not "
                    f"{intents[name]!r})",
                ))
            intents[name] = value
    return intents


def _list_ended(element: str, position: int, missing: str, dropped: int, what: str) -> ReadingNote:
    return ReadingNote(
        NoteKind.ENTRY_ENDS_LIST,
        f"{element} entry {position} has no {missing}, which ends the pipeline's list of {what} here: "
        f"the {dropped} entr{'y' if dropped == 1 else 'ies'} after it {'is' if dropped == 1 else 'are'} "
        "never read",
    )


def _numbered_sessions(intents: Mapping[str, str], notes: list[ReadingNote]) -> dict[int, tuple[str, ...]]:
    sessions: dict[int, tuple[str, ...]] = {}
    number = 1
    while f"{SESSION_PREFIX}{number}" in intents:
        value = intents[f"{SESSION_PREFIX}{number}"]
        sessions[number] = tuple(item for item in value.split(SESSION_SEPARATOR) if item)
        number += 1
    later = sorted(
        int(keyword.removeprefix(SESSION_PREFIX)) for keyword in intents
        if _SESSION_KEYWORD.fullmatch(keyword) and int(keyword.removeprefix(SESSION_PREFIX)) > number
    )
    if later:
        unread = ", ".join(f"{SESSION_PREFIX}{n}" for n in later)
        notes.append(ReadingNote(
            NoteKind.SESSION_LIST_ENDS,
            f"{SESSION_PREFIX}{number} is missing, which ends the pipeline's list here: {unread} "
            f"{'is' if len(later) == 1 else 'are'} never read",
        ))
    for keyword in intents:
        if _SESSION_KEYWORD.fullmatch(keyword.upper()) and not _SESSION_KEYWORD.fullmatch(keyword):
            notes.append(ReadingNote(
                NoteKind.IGNORED_KEYWORD,
                f"keyword {keyword!r} is not upper case; the pipeline reads only {keyword.upper()}",
            ))
    return sessions


_SESSION_KEYWORD = re.compile(r"SESSION_[1-9][0-9]*")


def _named_twice(sessions: Mapping[int, tuple[str, ...]]) -> Iterator[ReadingNote]:
    homes: dict[str, list[int]] = {}
    for number in sorted(sessions):
        for uid in sessions[number]:
            homes.setdefault(disk_name(uid), []).append(number)
    for name, numbers in sorted(homes.items()):
        if len(set(numbers)) > 1:
            listed = " and ".join(f"{SESSION_PREFIX}{n}" for n in sorted(set(numbers)))
            yield ReadingNote(
                NoteKind.EB_IN_TWO_SESSIONS,
                f"EB {name} is named in {listed}; the pipeline pairs it with the first, "
                f"{SESSION_PREFIX}{min(numbers)}",
            )


def _ous_status_ref(root: etree._Element) -> str | None:
    structure = _child(root, "ProjectStructure")
    reference = None if structure is None else _child(structure, "OUSStatusRef")
    entity = None if reference is None else reference.get("entityId")
    if entity is None:
        return None
    return canonical_uid(entity) or entity


def _asdms(request: etree._Element, path: Path, notes: list[ReadingNote]) -> Iterator[tuple[str, str]]:
    """(disk name without its ``.ms``-type suffix, EB UID or that disk name) per ASDM the pipeline reads."""
    data_set = _child(request, "DataSet")
    sched_block_set = None if data_set is None else _child(data_set, "SchedBlockSet")
    if sched_block_set is None:
        return
    identifiers = _children(sched_block_set, "SchedBlockIdentifier")
    if len(identifiers) > 1:
        raise ArchivedPprUnreadable(path, "it has two SchedBlockIdentifiers, which the pipeline rejects")
    for identifier in identifiers:
        entries = _children(identifier, "AsdmIdentifier")
        for position, asdm in enumerate(entries, start=1):
            disk = _child(asdm, "AsdmDiskName")
            if disk is None:
                # The pipeline silently drops this entry and everything after it.
                notes.append(
                    _list_ended("AsdmIdentifier", position, "AsdmDiskName", len(entries) - position, "ASDMs")
                )
                return
            reference = _child(asdm, "AsdmRef")
            eb_uid = _text(None if reference is None else _child(reference, "ExecBlockId"))
            bare = _text(disk).split(".", 1)[0]
            yield bare, eb_uid or bare

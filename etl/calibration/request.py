"""The archived PPR (``*.pprequest.xml``, ``PPR_<ous>.xml``): its sessions, read as the pipeline reads them.

The pipeline's rules (``shared/ppr-consumer.md``): namespace prefixes ignored, names case-sensitive,
text not stripped, the first ``Intents`` without ``Keyword`` (or ``AsdmIdentifier`` without
``AsdmDiskName``) ends its list, a repeated keyword keeps its last value, SESSION_n read until the
first missing n, values split on exactly ' | ', and an ASDM no session names is calibrated as
session 1 — so it is listed in session 1 here. Where that reading differs from what a person sees at
a glance, a ``ReadingNote`` says so (``ppr MOUS --check FILE`` shows them).

One reading for both users: the sync reads the archived PPRs it fetches, ``ppr --check`` a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from lxml import etree

from etl.archive_names import disk_name
from etl.calibration.errors import MalformedDocument
from etl.calibration.xml import child, children, local_name, parse_xml

# The PPR's sessions, as the pipeline reads them and as almamirror writes them: the Intents keyword
# SESSION_n, whose value is the session's EB UIDs joined by exactly ' | '.
SESSION_PREFIX: Final = "SESSION_"
SESSION_SEPARATOR: Final = " | "
_SESSION_KEYWORD: Final = re.compile(re.escape(SESSION_PREFIX) + "[1-9][0-9]*")
# What the pipeline strips from an AsdmDiskName before matching it (longest first).
DISK_NAME_SUFFIXES: Final = (
    "_targets_line.ms", "_imaging_line.ms", "_targets.ms", "_target.ms", "_imaging.ms", ".ms",
)


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
class RequestReading:
    """An archived PPR as the pipeline reads it."""

    ous_status_ref: str | None  # OUSStatusRef's entityId as written, None when absent
    sessions: dict[int, tuple[str, ...]]  # session number → EB UIDs, unnamed ASDMs in session 1
    paired_by_default: tuple[str, ...]  # disk names of the ASDMs no SESSION_n names
    notes: tuple[ReadingNote, ...]
    # The SchedBlockIdentifier's SchedBlockRef and SBStatusRef entityIds (not read by the pipeline).
    sb_uid: str | None = None
    sb_status_uid: str | None = None


def session_keyword(number: int) -> str:
    """``SESSION_n``: the Intents keyword of session ``number`` in a PPR."""
    return f"{SESSION_PREFIX}{number}"


def session_value(eb_uids: Iterable[str]) -> str:
    """A session's Intents value: its EB UIDs joined by exactly ' | ', which the pipeline splits on;
    '' for an empty session."""
    return SESSION_SEPARATOR.join(eb_uids)


def read_request(content: bytes) -> RequestReading:
    """The PPR as the pipeline reads it, with notes; ``MalformedDocument`` if the pipeline cannot."""
    root = parse_xml(content, "it")
    if local_name(root) != "SciPipeRequest":
        raise MalformedDocument(f"its root element is {local_name(root)}, not SciPipeRequest")
    request = _only_child_path(root, ("ProcessingRequests", "ProcessingRequest"))
    notes: list[ReadingNote] = []
    sessions = _numbered_sessions(_intents(request, notes), notes)
    asdms = list(_asdms(request, notes))
    if not sessions and not asdms:
        raise MalformedDocument("it names no SESSION_1 and no AsdmIdentifier")
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
    sb_uid, sb_status_uid = _sched_block_refs(request)
    return RequestReading(
        _ous_status_ref(root), sessions, tuple(name for name, _uid in unmatched), tuple(notes),
        sb_uid, sb_status_uid,
    )


def _sched_block_refs(request: etree._Element) -> tuple[str | None, str | None]:
    data_set = child(request, "DataSet")
    sched_block_set = None if data_set is None else child(data_set, "SchedBlockSet")
    identifier = None if sched_block_set is None else child(sched_block_set, "SchedBlockIdentifier")
    if identifier is None:
        return None, None
    found = []
    for name in ("SchedBlockRef", "SBStatusRef"):
        reference = child(identifier, name)
        entity = None if reference is None else reference.get("entityId")
        found.append(None if entity is None else str(entity))
    return found[0], found[1]


def _only_child_path(root: etree._Element, names: Sequence[str]) -> etree._Element:
    element = root
    for index, name in enumerate(names):
        found = children(element, name)
        if len(found) != 1:
            where = "/".join(names[: index + 1])
            raise MalformedDocument(f"it has {len(found)} {where} elements, the pipeline needs one")
        element = found[0]
    return element


def _text(element: etree._Element | None) -> str:
    # Never stripped: the pipeline compares text exactly as written.
    return "" if element is None or element.text is None else element.text


def _intents(request: etree._Element, notes: list[ReadingNote]) -> dict[str, str]:
    intents: dict[str, str] = {}
    for processing_intents in children(request, "ProcessingIntents")[:1]:
        entries = children(processing_intents, "Intents")
        for position, intent in enumerate(entries, start=1):
            keyword = child(intent, "Keyword")
            if keyword is None:
                # The pipeline silently drops this entry and everything after it.
                notes.append(_list_ended("Intents", position, "Keyword", len(entries) - position, "intents"))
                break
            name, value = _text(keyword), _text(child(intent, "Value"))
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
    while session_keyword(number) in intents:
        value = intents[session_keyword(number)]
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
    """OUSStatusRef's entityId: under ProjectStructure, or (newer PPRs) ProjectStructure/AlmaStructure."""
    structure = child(root, "ProjectStructure")
    if structure is None:
        return None
    reference = child(structure, "OUSStatusRef")
    alma = child(structure, "AlmaStructure")
    if reference is None and alma is not None:
        reference = child(alma, "OUSStatusRef")
    entity = None if reference is None else reference.get("entityId")
    return None if entity is None else str(entity)


def asdm_name(disk_name: str) -> str:
    """An AsdmDiskName as the pipeline matches it: without the measurement-set suffixes it strips."""
    for suffix in DISK_NAME_SUFFIXES:
        if disk_name.endswith(suffix):
            return disk_name.removesuffix(suffix)
    return disk_name.split(".", 1)[0]


def _asdms(request: etree._Element, notes: list[ReadingNote]) -> Iterator[tuple[str, str]]:
    """(disk name without its ``.ms``-type suffix, EB UID or that disk name) per ASDM the pipeline reads."""
    data_set = child(request, "DataSet")
    sched_block_set = None if data_set is None else child(data_set, "SchedBlockSet")
    if sched_block_set is None:
        return
    identifiers = children(sched_block_set, "SchedBlockIdentifier")
    if len(identifiers) > 1:
        raise MalformedDocument("it has two SchedBlockIdentifiers, which the pipeline rejects")
    for identifier in identifiers:
        entries = children(identifier, "AsdmIdentifier")
        for position, asdm in enumerate(entries, start=1):
            disk = child(asdm, "AsdmDiskName")
            if disk is None:
                # The pipeline silently drops this entry and everything after it.
                notes.append(
                    _list_ended("AsdmIdentifier", position, "AsdmDiskName", len(entries) - position, "ASDMs")
                )
                return
            reference = child(asdm, "AsdmRef")
            eb_uid = _text(None if reference is None else child(reference, "ExecBlockId"))
            bare = asdm_name(_text(disk))
            yield bare, eb_uid or bare

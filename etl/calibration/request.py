"""The archived PPR (``*.pprequest.xml``, ``PPR_<ous>.xml``): its sessions, read as the pipeline reads them.

The pipeline's rules (``shared/ppr-consumer.md``): namespace prefixes ignored, names case-sensitive,
text not stripped, the first ``Intents`` without ``Keyword`` (or ``AsdmIdentifier`` without
``AsdmDiskName``) ends its list, SESSION_n read until the first missing n, values split on exactly
' | ', and an ASDM no session names is calibrated as session 1 — so it is listed in session 1 here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Final

from lxml import etree

from etl.calibration.errors import MalformedDocument
from etl.calibration.xml import child, children, local_name, parse_xml

SESSION_PREFIX: Final = "SESSION_"
SESSION_SEPARATOR: Final = " | "


def disk_form(uid: str) -> str:
    """``uid://A002/Xc77d4f/X522`` → ``uid___A002_Xc77d4f_X522``, as the pipeline matches ASDMs."""
    return uid.replace(":", "_").replace("/", "_")


def read_request_sessions(content: bytes) -> dict[int, tuple[str, ...]]:
    """Session number → EB UIDs as the pipeline reads the PPR; ``MalformedDocument`` if it cannot."""
    root = parse_xml(content, "it")
    if local_name(root) != "SciPipeRequest":
        raise MalformedDocument(f"its root element is {local_name(root)}, not SciPipeRequest")
    request = _only_child_path(root, ("ProcessingRequests", "ProcessingRequest"))
    sessions = _numbered_sessions(_intents(request))
    asdms = list(_asdms(request))
    if not sessions and not asdms:
        raise MalformedDocument("it names no SESSION_1 and no AsdmIdentifier")
    named = {disk_form(uid) for uids in sessions.values() for uid in uids}
    unmatched = tuple(uid for asdm_disk_name, uid in asdms if asdm_disk_name not in named)
    if unmatched:
        sessions[1] = sessions.get(1, ()) + unmatched
    return sessions


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


def _intents(request: etree._Element) -> dict[str, str]:
    intents: dict[str, str] = {}
    for processing_intents in children(request, "ProcessingIntents")[:1]:
        for intent in children(processing_intents, "Intents"):
            keyword = child(intent, "Keyword")
            if keyword is None:
                break  # the pipeline silently drops this entry and everything after it
            intents[_text(keyword)] = _text(child(intent, "Value"))
    return intents


def _numbered_sessions(intents: Mapping[str, str]) -> dict[int, tuple[str, ...]]:
    sessions: dict[int, tuple[str, ...]] = {}
    number = 1
    while f"{SESSION_PREFIX}{number}" in intents:
        value = intents[f"{SESSION_PREFIX}{number}"]
        sessions[number] = tuple(item for item in value.split(SESSION_SEPARATOR) if item)
        number += 1
    return sessions


def _asdms(request: etree._Element) -> Iterator[tuple[str, str]]:
    """(disk name without its ``.ms``-type suffix, EB UID or that disk name) per ASDM the pipeline reads."""
    data_set = child(request, "DataSet")
    sched_block_set = None if data_set is None else child(data_set, "SchedBlockSet")
    if sched_block_set is None:
        return
    identifiers = children(sched_block_set, "SchedBlockIdentifier")
    if len(identifiers) > 1:
        raise MalformedDocument("it has two SchedBlockIdentifiers, which the pipeline rejects")
    for identifier in identifiers:
        for asdm in children(identifier, "AsdmIdentifier"):
            disk = child(asdm, "AsdmDiskName")
            if disk is None:
                return  # the pipeline silently drops this entry and everything after it
            reference = child(asdm, "AsdmRef")
            eb_uid = _text(None if reference is None else child(reference, "ExecBlockId"))
            bare = _text(disk).split(".", 1)[0]
            yield bare, eb_uid or bare

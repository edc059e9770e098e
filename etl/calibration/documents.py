"""One entry point for the three documents: parse by kind into a JSON-ready value, and read it back.

Documents never change once archived, so each is parsed once, when it is fetched, and the parsed form
is kept beside it. ``PARSER_VERSION`` says which reading a kept form is: a document parsed by an
older version is parsed again from its text.
"""

from __future__ import annotations

from typing import Any, Final

from etl.calibration.errors import MalformedDocument
from etl.calibration.manifest import Manifest, parse_manifest
from etl.calibration.names import MANIFEST, REQUEST, RESTORE_SCRIPT, DocumentKind
from etl.calibration.request import read_request
from etl.calibration.restore_script import RestoreScript, parse_restore_script

PARSER_VERSION: Final = 2  # 2: AlmaStructure/OUSStatusRef, AsdmDiskName suffixes, SchedBlockRef
# Far above any real manifest or PPR (tens of kB); a bigger one is hostile or broken, never parsed.
MAX_DOCUMENT_BYTES: Final = 16 * 1024 * 1024


def document_text(content: bytes) -> str:
    """The document as text; the pipeline writes UTF-8 (ASCII in practice)."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedDocument(f"it is not UTF-8 text (byte {exc.start})") from None


def parse_document(kind: DocumentKind, content: bytes) -> dict[str, Any]:
    """The parsed form of a document of ``kind``; ``MalformedDocument`` when it does not parse.

    Bounded: a document too big, or too deep for a parser, is malformed (a sync never stops on one).
    """
    if len(content) > MAX_DOCUMENT_BYTES:
        raise MalformedDocument(
            f"it is {len(content)} bytes, more than the {MAX_DOCUMENT_BYTES} any pipeline writes; not read"
        )
    try:
        return _parse_document(kind, content)
    except (RecursionError, MemoryError):
        raise MalformedDocument("it is nested deeper than a parser reads") from None


def _parse_document(kind: DocumentKind, content: bytes) -> dict[str, Any]:
    if kind == MANIFEST:
        return parse_manifest(content).to_json()
    if kind == RESTORE_SCRIPT:
        return parse_restore_script(document_text(content)).to_json()
    if kind == REQUEST:
        reading = read_request(content)
        return {
            "sessions": {str(number): list(ebs) for number, ebs in reading.sessions.items()},
            "sb_uid": reading.sb_uid, "sb_status_uid": reading.sb_status_uid,
        }
    raise ValueError(f"unknown document kind {kind!r}")


def manifest_of(parsed: dict[str, Any]) -> Manifest:
    return Manifest.from_json(parsed)


def script_of(parsed: dict[str, Any]) -> RestoreScript:
    return RestoreScript.from_json(parsed)


def request_sessions_of(parsed: dict[str, Any]) -> dict[int, tuple[str, ...]]:
    return {int(number): tuple(ebs) for number, ebs in parsed["sessions"].items()}


def request_sched_block_of(parsed: dict[str, Any]) -> tuple[str | None, str | None]:
    """The archived PPR's (SchedBlockRef, SBStatusRef) entityIds; (None, None) when not recorded."""
    return parsed.get("sb_uid"), parsed.get("sb_status_uid")

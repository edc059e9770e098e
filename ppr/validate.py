"""Validation of a restore PPR: the project's SciPipeRequest.xsd, then what XSD 1.0 cannot express.

The pipeline's reader validates nothing and drops what it cannot read without a word, so every rule
here is one whose breach would restore the wrong data rather than fail.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

from lxml import etree

from etl.archive_names import disk_name, is_canonical_uid
from etl.calibration.request import SESSION_PREFIX, SESSION_SEPARATOR
from etl.calibration.xml import safe_parser
from ppr.build import RESTORE_TASKS, serialize_ppr
from ppr.errors import InvalidPpr
from ppr.layout import relative_path_problem

SCHEMA_FILE = "SciPipeRequest.xsd"
# Parameters one restore task accepts and the other does not.
TASK_ONLY_PARAMETERS = {"hm_rasterscan": "hsd_restoredata"}
# libxml2's note after an invalid key value; the error before it already says what is wrong.
_FOLLOW_ON_NOTE = "No precomputed value available"
# Parameter values each restore task must have when it is given them (ocorr_mode: ca or ao).
EXPECTED_PARAMETERS = {task.command: dict(task.parameters) for task in RESTORE_TASKS.values()}


class _SchemaError(Protocol):
    """What an lxml error-log entry offers (lxml-stubs leave ``_ErrorLog`` empty)."""

    line: int
    message: str


@dataclass(frozen=True)
class _SessionIntent:
    number: int
    eb_uids: tuple[str, ...]
    line: int | None


@dataclass(frozen=True)
class _Asdm:
    eb_uid: str
    disk_name: str
    line: int | None


def validate_ppr(ppr: etree._ElementTree | etree._Element | bytes) -> None:
    """Raise ``InvalidPpr`` unless the PPR passes the schema and the consistency checks beyond it.

    A tree is checked as it will be written (serialised, then parsed), so line numbers in the problems
    are those of the PPR file.
    """
    validated_ppr(ppr if isinstance(ppr, bytes) else serialize_ppr(ppr))


def validated_ppr(document_bytes: bytes) -> etree._ElementTree:
    """``document_bytes`` parsed, once it passes ``validate_ppr``'s checks; ``InvalidPpr`` if not."""
    document = _parse(document_bytes)
    # The consistency checks rely on the structure the schema guarantees, so they run only after it.
    problems = schema_problems(document) or consistency_problems(document)
    if problems:
        raise InvalidPpr(problems, _mous_uid(document))
    return document


@functools.cache
def ppr_schema() -> etree.XMLSchema:
    """The project's SciPipeRequest.xsd, shipped as package data."""
    # Beside this module in a checkout, an editable install and a wheel alike.
    source = Path(__file__).with_name(SCHEMA_FILE).read_bytes()
    return etree.XMLSchema(etree.fromstring(source, safe_parser()))


def schema_problems(document: etree._ElementTree) -> list[str]:
    """One line per XSD violation, ``line N: message``; empty when the document is valid."""
    schema = ppr_schema()
    if schema.validate(document):
        return []
    return [
        f"line {error.line}: {error.message}"
        for error in cast("Iterable[_SchemaError]", schema.error_log)
        if _FOLLOW_ON_NOTE not in error.message
    ]


def consistency_problems(document: etree._ElementTree) -> list[str]:
    """The rules XSD cannot say, checked on a schema-valid PPR; empty when all hold."""
    request = _only(document.getroot(), "ProcessingRequests/ProcessingRequest")
    identifier = _only(request, "DataSet/SchedBlockSet/SchedBlockIdentifier")
    sessions = list(_session_intents(request))
    asdms = list(_asdms(identifier))
    return [
        *_numbering_problems(request, sessions),
        *_disk_name_problems(asdms),
        *_membership_problems(sessions, asdms),
        *_parameter_problems(_only(request, "ProcessingProcedure/ProcessingCommand")),
        *_relative_path_problems(_only(identifier, "RelativePath")),
    ]


def _parse(document_bytes: bytes) -> etree._ElementTree:
    try:
        return etree.ElementTree(etree.fromstring(document_bytes, safe_parser()))
    except etree.XMLSyntaxError as exc:
        raise InvalidPpr([f"line {exc.lineno}: not well-formed XML: {exc.msg}"]) from exc


def _mous_uid(document: etree._ElementTree) -> str | None:
    reference = document.getroot().find("ProjectStructure/OUSStatusRef")
    return None if reference is None else reference.get("entityId")


def _only(parent: etree._Element, path: str) -> etree._Element:
    element = parent.find(path)
    if element is None:  # pragma: no cover - the schema requires it
        raise InvalidPpr([f"{path} is missing"])
    return element


def _line(element: etree._Element) -> int | None:
    # lxml-stubs type sourceline as an untyped placeholder; lxml gives the line or None.
    return cast("int | None", element.sourceline)


def _text(parent: etree._Element, path: str) -> str:
    return _only(parent, path).text or ""


def _session_intents(request: etree._Element) -> Iterator[_SessionIntent]:
    for intent in request.iterfind("ProcessingIntents/Intents"):
        texts = _child_texts(intent)
        keyword = texts["Keyword"]
        if keyword.startswith(SESSION_PREFIX):
            value = texts["Value"]
            eb_uids = tuple(value.split(SESSION_SEPARATOR)) if value else ()
            yield _SessionIntent(int(keyword.removeprefix(SESSION_PREFIX)), eb_uids, _line(intent))


def _asdms(identifier: etree._Element) -> Iterator[_Asdm]:
    for asdm in identifier.iterfind("AsdmIdentifier"):
        children = _child_elements(asdm)
        eb_uid = _child_texts(children["AsdmRef"])["ExecBlockId"]
        yield _Asdm(eb_uid, children["AsdmDiskName"].text or "", _line(asdm))


def _child_elements(parent: etree._Element) -> dict[str, etree._Element]:
    """``parent``'s child elements by tag, comments left out; the schema allows each tag once here.

    One pass over the children: a path search per child cost a bulk run more than the schema's check.
    """
    return {child.tag: child for child in parent if isinstance(child.tag, str)}


def _child_texts(parent: etree._Element) -> dict[str, str]:
    """``parent``'s child elements' texts by tag ("" for none), as ``_child_elements`` finds them."""
    return {child.tag: child.text or "" for child in parent if isinstance(child.tag, str)}


def _numbering_problems(request: etree._Element, sessions: list[_SessionIntent]) -> Iterator[str]:
    numbers = {session.number for session in sessions}
    missing = [number for number in range(1, max(numbers, default=0) + 1) if number not in numbers]
    line = _line(_only(request, "ProcessingIntents"))
    if not numbers:
        yield f"line {line}: no SESSION_1 intent; the pipeline would put every ASDM in session 1 silently"
    elif missing:
        # The reader stops at the first missing number and ignores every later session.
        ignored = sorted(number for number in numbers if number > missing[0])
        yield (
            f"line {line}: SESSION_{missing[0]} is missing, so the pipeline ignores "
            f"{', '.join(f'SESSION_{number}' for number in ignored)}; number sessions 1..K, keep empty ones"
        )


def _disk_name_problems(asdms: list[_Asdm]) -> Iterator[str]:
    for asdm in asdms:
        expected = disk_name(asdm.eb_uid)
        if asdm.disk_name != expected:
            # The pipeline matches sessions by AsdmDiskName only: a wrong one sends the EB to session 1.
            yield (
                f"line {asdm.line}: AsdmDiskName {asdm.disk_name} is not the disk name of ExecBlockId "
                f"{asdm.eb_uid} (expected {expected})"
            )


def _membership_problems(sessions: list[_SessionIntent], asdms: list[_Asdm]) -> Iterator[str]:
    # Keyed by disk name, as the pipeline matches: two spellings of one UID are one EB.
    homes: dict[str, list[tuple[str, _SessionIntent]]] = defaultdict(list)
    for session in sessions:
        for eb_uid in session.eb_uids:
            if is_canonical_uid(eb_uid):
                homes[disk_name(eb_uid)].append((eb_uid, session))
            else:
                yield (
                    f"line {session.line}: SESSION_{session.number} value {eb_uid!r} is not an EB UID; "
                    f"a session value is EB UIDs joined by exactly {SESSION_SEPARATOR!r}"
                )
    data_set = {asdm.disk_name for asdm in asdms}
    for name, found_in in homes.items():
        eb_uid, first = found_in[0]
        if len(found_in) > 1:
            listed = " and ".join(f"SESSION_{session.number}" for _, session in found_in)
            yield f"line {found_in[1][1].line}: EB {eb_uid} is in {listed}; an EB belongs to one session"
        if name not in data_set:
            yield (
                f"line {first.line}: EB {eb_uid} of SESSION_{first.number} has no AsdmIdentifier, "
                "so it would not be restored"
            )
    for asdm in asdms:
        if asdm.disk_name not in homes:
            yield (
                f"line {asdm.line}: ASDM {asdm.eb_uid} is in no session; the pipeline would restore it "
                "with session 1's calibration"
            )


def _parameter_problems(command: etree._Element) -> Iterator[str]:
    task_name = _text(command, "Command")
    expected = EXPECTED_PARAMETERS.get(task_name, {})
    for parameter in command.iterfind("ParameterSet/Parameter"):
        texts = _child_texts(parameter)
        keyword, value = texts["Keyword"], texts["Value"]
        owner = TASK_ONLY_PARAMETERS.get(keyword)
        if owner is not None and owner != task_name:
            yield f"line {_line(parameter)}: {keyword} is a parameter of {owner}, not of {task_name}"
        if keyword in expected and value != expected[keyword]:
            yield (
                f"line {_line(parameter)}: {keyword}={value} does not suit {task_name} "
                f"(expected {expected[keyword]})"
            )


def _relative_path_problems(relative_path: etree._Element) -> Iterator[str]:
    # The rule the request directory is made by (ppr.layout), so that a PPR --check passes is one
    # almamirror could have written.
    problem = relative_path_problem(relative_path.text or "")
    if problem is not None:
        yield f"line {_line(relative_path)}: RelativePath {relative_path.text!r}: {problem}"

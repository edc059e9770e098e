"""A stand-in for the ALMA pipeline's PPR reader (``executeppr``), written from ../shared/ppr-consumer.md.

It reads a PPR the way the pipeline does — a plain DOM walk, namespace prefixes ignored, names
case-sensitive, text never stripped, values coerced, the first malformed list entry silently ending its
list, sessions read until the first missing number, ASDMs matched to sessions by disk name only and an
unmatched ASDM quietly put in session 1 — so tests can see where each EB would really land.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from xml.dom import minidom  # the pipeline's own reader is a minidom walk

RESTORE_TASKS = {"hifa_restoredata", "hsd_restoredata"}
_COMMON_PARAMETERS = {"products_dir", "copytoraw", "rawdata_dir", "lazy", "bdfflags", "ocorr_mode", "asis"}
ACCEPTED_PARAMETERS = {
    "hifa_restoredata": _COMMON_PARAMETERS,
    "hsd_restoredata": _COMMON_PARAMETERS | {"hm_rasterscan"},
}


class PipelineWouldFail(Exception):
    """The pipeline would stop on this PPR (it leaves an errorexit-*.txt, with exit status 0)."""


@dataclass
class PipelineView:
    """What the pipeline takes from a PPR."""

    proposal_code: object
    ous_prefix: str
    relative_path: str
    intents: dict[str, object]
    sessions: dict[int, list[str]]
    commands: list[tuple[str, dict[str, object]]]
    asdm_disk_names: list[str]
    asdm_session: dict[str, int] = field(default_factory=dict)
    matched: set[str] = field(default_factory=set)


def read_ppr(document: bytes) -> PipelineView:
    """Read ``document`` as the pipeline would, or raise ``PipelineWouldFail``."""
    root = minidom.parseString(document).documentElement  # noqa: S318 - test input we wrote ourselves
    if root is None:
        raise PipelineWouldFail("no document element")
    summary = _required(root, "ProjectSummary")
    for name in ("ProposalCode", "Observatory", "Telescope"):
        _required_text(summary, name)
    structure = _required(root, "ProjectStructure")
    _required(structure, "ObsUnitSetRef")
    _required_text(structure, "ObsUnitSetTitle")
    _required_text(structure, "ObsUnitSetType")
    _required(structure, "ProjectStatusRef")
    ous_uid = _required(structure, "OUSStatusRef").getAttribute("entityId")
    if not ous_uid:
        raise PipelineWouldFail("OUSStatusRef has no entityId")
    request = _only(_required(root, "ProcessingRequests"), "ProcessingRequest")
    intents = _intents(_required(request, "ProcessingIntents"))
    sessions = _sessions(intents)
    identifier = _only(_required(_required(request, "DataSet"), "SchedBlockSet"), "SchedBlockIdentifier")
    view = PipelineView(
        proposal_code=_value(_required(summary, "ProposalCode")),
        ous_prefix=_sanitise(ous_uid),
        relative_path=_required_text(identifier, "RelativePath"),
        intents=intents,
        sessions=sessions,
        commands=_commands(request),
        asdm_disk_names=_asdm_disk_names(identifier),
    )
    _match_sessions(view)
    return view


def _local_name(element: minidom.Element) -> str:
    return element.tagName.rsplit(":", 1)[-1]


def _children(parent: minidom.Element, name: str) -> list[minidom.Element]:
    return [
        child
        for child in parent.childNodes
        if isinstance(child, minidom.Element) and _local_name(child) == name
    ]


def _child(parent: minidom.Element, name: str) -> minidom.Element | None:
    found = _children(parent, name)
    return found[0] if found else None


def _required(parent: minidom.Element, name: str) -> minidom.Element:
    found = _child(parent, name)
    if found is None:
        raise PipelineWouldFail(f"{_local_name(parent)} has no {name}")
    return found


def _only(parent: minidom.Element, name: str) -> minidom.Element:
    found = _children(parent, name)
    if len(found) != 1:
        raise PipelineWouldFail(f"{len(found)} {name} elements; exactly one is read")
    return found[0]


def _raw_text(element: minidom.Element) -> str | None:
    # Not stripped, ever.
    texts = [node.data for node in element.childNodes if isinstance(node, minidom.Text)]
    return "".join(texts) if texts else None


def _required_text(parent: minidom.Element, name: str) -> str:
    text = _raw_text(_required(parent, name))
    if not text:
        raise PipelineWouldFail(f"{name} is empty")
    return text


def _value(element: minidom.Element) -> object:
    """The coercion: int, float, true/false, a Python literal for [ ( {, else the text; None -> 'None'."""
    text = _raw_text(element)
    if text is None:
        return "None"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text in {"true", "false"}:
        return text == "true"
    if text[:1] in {"[", "(", "{"}:
        return ast.literal_eval(text)
    return text


def _intents(processing_intents: minidom.Element) -> dict[str, object]:
    intents: dict[str, object] = {}
    for intent in _children(processing_intents, "Intents"):
        keyword = _child(intent, "Keyword")
        if keyword is None:
            break  # the first malformed entry ends the list, silently
        value = _child(intent, "Value")
        intents[str(_value(keyword))] = "" if value is None else _value(value)
    return intents


def _sessions(intents: dict[str, object]) -> dict[int, list[str]]:
    sessions: dict[int, list[str]] = {}
    number = 1
    while f"SESSION_{number}" in intents:  # stops at the first missing number
        value = intents[f"SESSION_{number}"]
        if not isinstance(value, str):
            raise PipelineWouldFail(f"SESSION_{number} value {value!r} cannot be split")
        sessions[number] = value.split(" | ")
        number += 1
    return sessions


def _commands(request: minidom.Element) -> list[tuple[str, dict[str, object]]]:
    commands: list[tuple[str, dict[str, object]]] = []
    procedure = _required(request, "ProcessingProcedure")
    for command in _children(procedure, "ProcessingCommand"):
        name, parameter_set = _child(command, "Command"), _child(command, "ParameterSet")
        if name is None or parameter_set is None:
            break
        task = _raw_text(name) or ""
        if task not in RESTORE_TASKS:
            raise PipelineWouldFail(f"no pipeline task {task!r}")
        parameters = _parameters(parameter_set)
        unknown = set(parameters) - ACCEPTED_PARAMETERS[task]
        if unknown:
            raise PipelineWouldFail(f"{task} rejects parameters {sorted(unknown)}")
        commands.append((task, parameters))
    return commands


def _parameters(parameter_set: minidom.Element) -> dict[str, object]:
    parameters: dict[str, object] = {}
    for parameter in _children(parameter_set, "Parameter"):
        keyword, value = _child(parameter, "Keyword"), _child(parameter, "Value")
        if keyword is None or value is None:
            break
        parameters[_raw_text(keyword) or ""] = _value(value)
    return parameters


def _asdm_disk_names(identifier: minidom.Element) -> list[str]:
    names: list[str] = []
    for asdm in _children(identifier, "AsdmIdentifier"):
        reference = _child(asdm, "AsdmRef")
        disk_name = _child(asdm, "AsdmDiskName")
        if reference is None or _child(reference, "ExecBlockId") is None or disk_name is None:
            break
        names.append(_raw_text(disk_name) or "")
    return names


def _sanitise(uid: str) -> str:
    return uid.replace(":", "_").replace("/", "_")


def _match_sessions(view: PipelineView) -> None:
    for name in view.asdm_disk_names:
        bare = name.removesuffix(".ms")
        for number, items in view.sessions.items():
            if bare in {_sanitise(item) for item in items}:
                view.asdm_session[bare] = number
                view.matched.add(bare)
                break
        else:
            view.asdm_session[bare] = 1  # silently, as the pipeline does

"""The restore PPR as an lxml tree, in the shape of ALMA's own restore requests.

The shape follows the example restore PPR of the "What are Sessions?" seed; what the pipeline reads from
it, and how it fails silently, is in ``../shared/ppr-consumer.md``.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from etl.archive_names import disk_name
from etl.calibration.request import session_keyword, session_value
from etl.settings import PprSettings
from ppr.errors import InvalidPpr
from ppr.model import RestoreRequest, Session

NAMESPACE = "Alma/pipelinescience/AlmaSciPipeRequest"
NAMESPACE_PREFIX = "ns2"
# ALMA's restore PPRs are not archived entities; its own tools write this placeholder.
ENTITY_PLACEHOLDER = "uid://NOPE/X0000/X0000"
SCHEMA_VERSION = "3.14"
DATAMODEL_VERSION = "0.1"
DOCUMENT_VERSION = "0.1"
CREATION_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
INDENT = "    "
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
UNKNOWN_TITLE = "Unknown"
UNKNOWN_PI = "Unknown"
UNKNOWN_SB_TITLE = "unknown"
# Free text (titles, names) is cut to this many characters: ALMA's own titles stay far below it.
FREE_TEXT_CHARACTERS = 2000
# Only this much of a free text is read at all (whitespace runs collapse, so read generously).
FREE_TEXT_SCAN = 64 * FREE_TEXT_CHARACTERS
# Characters XML 1.0 cannot carry at all; archive titles occasionally hold pasted control characters.
_NOT_XML_CHARACTERS = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class RestoreTask:
    """The pipeline task that restores one array family's data, with the parameters it needs."""

    command: str
    parameters: tuple[tuple[str, str], ...]


RESTORE_TASKS: Mapping[str, RestoreTask] = {
    "12m": RestoreTask("hifa_restoredata", (("ocorr_mode", "ca"),)),
    "7m": RestoreTask("hifa_restoredata", (("ocorr_mode", "ca"),)),
    "TP": RestoreTask("hsd_restoredata", (("ocorr_mode", "ao"),)),
}
# The task a restore PPR runs for the task an archived restore script calls: hif_restoredata is gone
# from every current pipeline, hifa_restoredata does its work.
RECORDED_TASKS: Mapping[str, str] = {
    "hifa_restoredata": "hifa_restoredata",
    "hsd_restoredata": "hsd_restoredata",
    "hif_restoredata": "hifa_restoredata",
}
# Restore arguments taken from the archived script: ocorr_mode always, hm_rasterscan for total power.
RECORDED_ARGUMENTS: Mapping[str, tuple[str, ...]] = {
    "hifa_restoredata": ("ocorr_mode",),
    "hsd_restoredata": ("ocorr_mode", "hm_rasterscan"),
}


def build_ppr(
    request: RestoreRequest, site: PprSettings, relative_path: str, created: datetime
) -> etree._ElementTree:
    """The restore PPR for ``request``; ``InvalidPpr`` for a request the pipeline would misread.

    The mirror's verdict refuses every such request before it gets here (etl/derive/restorability.py);
    these checks are the last line of defence, so reaching one is a defect. ``created`` is written in
    UTC; a naive datetime is taken to be UTC already, as everywhere in the mirror.
    """
    sessions = checked_sessions(request)
    task = restore_task(request)
    root = etree.Element(etree.QName(NAMESPACE, "SciPipeRequest"), nsmap={NAMESPACE_PREFIX: NAMESPACE})
    _add_entity(root)
    _add_project_summary(root, request, site, created)
    _add_project_structure(root, request)
    processing_requests = _add(root, "ProcessingRequests")
    _add(processing_requests, "RootDirectory", site.root_directory)
    processing_request = _add(processing_requests, "ProcessingRequest")
    _add_intents(processing_request, sessions)
    _add_procedure(processing_request, site, task)
    _add_data_set(processing_request, request, sessions, relative_path)
    _add_results_processing(root, site)
    return etree.ElementTree(root)


def serialize_ppr(tree: etree._ElementTree | etree._Element) -> bytes:
    """The PPR file's bytes: XML declaration, UTF-8, standalone, indented by four spaces like ALMA's."""
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    # Indenting changes the tree, and the caller's tree is theirs.
    return serialize_own_ppr(copy.deepcopy(root))


def serialize_own_ppr(tree: etree._ElementTree | etree._Element) -> bytes:
    """``serialize_ppr`` for a tree nobody else holds (as ``build_ppr`` returns it): indented in place."""
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    etree.indent(root, space=INDENT)
    # Written by hand: lxml's declaration uses single quotes, ALMA's tools (and the example) double.
    return XML_DECLARATION + etree.tostring(etree.ElementTree(root), encoding="UTF-8") + b"\n"


def default_relative_path(request: RestoreRequest, created: datetime) -> str:
    """ALMA's processing-area form: ``<code>_<YYYY_MM_DDTHH_MM_SS.sss>/SOUS_…/GOUS_…/MOUS_…`` (UTC)."""
    stamp = _utc(created)
    run = f"{request.project_code}_{stamp:%Y_%m_%dT%H_%M_%S}.{stamp.microsecond // 1000:03d}"
    return "/".join(
        (
            run,
            f"SOUS_{disk_name(request.sous_uid)}",
            f"GOUS_{disk_name(request.gous_uid)}",
            f"MOUS_{disk_name(request.mous_uid)}",
        )
    )


def checked_sessions(request: RestoreRequest) -> tuple[Session, ...]:
    """The sessions in numeric order, once they are exactly 1..K and every Pass EB is in exactly one.

    The session rule numbers sessions 1..K and holds an EB once per MOUS, and the verdict refuses
    MOUSes without Pass EBs or with EB UIDs the PPR cannot carry: a failure here is ``InvalidPpr``.
    """
    sessions = tuple(sorted(request.sessions, key=lambda session: session.number))
    numbers = [session.number for session in sessions]
    if numbers != list(range(1, len(numbers) + 1)):
        # The archived caltables are named by session number: a gap or a shift restores the wrong tables.
        raise InvalidPpr(
            [f"sessions are numbered {numbers}, not 1..{len(numbers)} without gaps or repeats"],
            request.mous_uid,
        )
    _refuse_repeated_ebs(request, sessions)
    if not request.pass_eb_uids:
        raise InvalidPpr(["no execution block with QA0 Pass to restore"], request.mous_uid)
    return sessions


def _one_line(text: str | None, fallback: str) -> str:
    """Free text (titles, names) as one XML-safe line with single spaces; ``fallback`` if nothing is left.

    At most FREE_TEXT_CHARACTERS: the pipeline reads none of it, and a text node of 10 MB is more than
    an XML parser reads by default (a 20 MB project title made every PPR of its project invalid).
    """
    cleaned = " ".join(_NOT_XML_CHARACTERS.sub("", (text or "")[:FREE_TEXT_SCAN]).split())
    if len(cleaned) > FREE_TEXT_CHARACTERS:
        cleaned = cleaned[: FREE_TEXT_CHARACTERS - 1].rstrip() + "…"
    return cleaned or fallback


def _refuse_repeated_ebs(request: RestoreRequest, sessions: tuple[Session, ...]) -> None:
    # The pipeline matches EBs by disk name, so two spellings of one UID are the same EB to it.
    counts = Counter(disk_name(uid) for session in sessions for uid in session.eb_uids)
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        where = {
            name: [s.number for s in sessions for uid in s.eb_uids if disk_name(uid) == name]
            for name in repeated
        }
        listed = ", ".join(f"{name} in sessions {numbers}" for name, numbers in where.items())
        raise InvalidPpr([f"an EB may belong to one session only: {listed}"], request.mous_uid)


def restore_task(request: RestoreRequest) -> RestoreTask:
    """The restore task and its arguments: from the archive's record of the calibration when it has
    them (the restore script's own), else the array's defaults."""
    task = RESTORE_TASKS.get(request.array)
    if task is None:
        raise InvalidPpr(
            [f"array {request.array!r} has no restore task; known: {', '.join(RESTORE_TASKS)}"],
            request.mous_uid,
        )
    record = request.record
    command = RECORDED_TASKS.get(record.restore_task or "") if record is not None else None
    if record is None or command is None:
        return task
    defaults = next(dict(t.parameters) for t in RESTORE_TASKS.values() if t.command == command)
    recorded = {"ocorr_mode": record.ocorr_mode, "hm_rasterscan": record.hm_rasterscan}
    parameters = []
    for keyword in RECORDED_ARGUMENTS[command]:
        value = recorded[keyword] or defaults.get(keyword)
        if value is not None:
            parameters.append((keyword, value))
    return RestoreTask(command, tuple(parameters))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _add(
    parent: etree._Element, tag: str, text: str | None = None, attributes: dict[str, str] | None = None
) -> etree._Element:
    # Children are unqualified, as in ALMA's PPRs: only the root is in the namespace.
    element = etree.SubElement(parent, tag, attributes) if attributes else etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _reference(entity_id: str, entity_type: str) -> dict[str, str]:
    return {"entityId": entity_id, "entityTypeName": entity_type, "documentVersion": DOCUMENT_VERSION}


def _add_entity(root: etree._Element) -> None:
    _add(
        root,
        "SciPipeRequestEntity",
        attributes={
            "entityId": ENTITY_PLACEHOLDER,
            "entityIdEncrypted": "none",
            "entityTypeName": "SciPipeRequest",
            "schemaVersion": SCHEMA_VERSION,
            "datamodelVersion": DATAMODEL_VERSION,
        },
    )


def _add_project_summary(
    root: etree._Element, request: RestoreRequest, site: PprSettings, created: datetime
) -> None:
    summary = _add(root, "ProjectSummary")
    _add(summary, "ProposalCode", request.project_code)
    _add(summary, "ProposalTitle", _one_line(request.project_title, UNKNOWN_TITLE))
    _add(summary, "PIName", _one_line(request.pi_name, UNKNOWN_PI))
    _add(summary, "Observatory", "JAO")
    _add(summary, "Telescope", "ALMA")
    _add(summary, "ProcessingSite", _one_line(site.processing_site, ""))
    _add(summary, "Operator", _one_line(site.operator, ""))
    _add(summary, "Mode", _one_line(site.mode, ""))
    _add(summary, "Version", _one_line(site.version, ""))
    _add(summary, "CreationTime", _utc(created).strftime(CREATION_TIME_FORMAT))


def _add_project_structure(root: etree._Element, request: RestoreRequest) -> None:
    structure = _add(root, "ProjectStructure")
    obs_unit_set = {
        "entityId": request.obs_project_uid,
        "partId": request.ous_part_id,
        "entityTypeName": "ObsProject",
        "documentVersion": DOCUMENT_VERSION,
    }
    _add(structure, "ObsUnitSetRef", attributes=obs_unit_set)
    _add(structure, "ObsUnitSetTitle", "Undefined")
    _add(structure, "ObsUnitSetType", "Member")
    _add(structure, "ProjectStatusRef", attributes=_reference(request.project_status_uid, "ProjectStatus"))
    _add(structure, "OUSStatusRef", attributes=_reference(request.mous_uid, "OUSStatus"))


def _add_intents(processing_request: etree._Element, sessions: tuple[Session, ...]) -> None:
    intents = _add(processing_request, "ProcessingIntents")
    _add_intent(intents, "PROCESS", "true")
    for session in sessions:
        # An empty session keeps its number: renumbering would pair EBs with another session's caltables.
        _add_intent(intents, session_keyword(session.number), session_value(session.eb_uids) or None)
    _add_intent(intents, "INTERFEROMETRY_STANDARD_OBSERVING_MODE", "Undefined")


def _add_intent(intents: etree._Element, keyword: str, value: str | None) -> None:
    intent = _add(intents, "Intents")
    _add(intent, "Keyword", keyword)
    _add(intent, "Value", value)


def procedure_title(site: PprSettings, task: RestoreTask) -> str:
    """The configured title, else the restore task's token: ``hifa_restore``, ``hsd_restore``."""
    return site.procedure_title or task.command.removesuffix("data")


def _add_procedure(processing_request: etree._Element, site: PprSettings, task: RestoreTask) -> None:
    procedure = _add(processing_request, "ProcessingProcedure")
    _add(procedure, "ProcedureTitle", procedure_title(site, task))
    command = _add(procedure, "ProcessingCommand")
    _add(command, "Command", task.command)
    parameter_set = _add(command, "ParameterSet")
    for keyword, value in task.parameters:
        parameter = _add(parameter_set, "Parameter")
        _add(parameter, "Keyword", keyword)
        _add(parameter, "Value", value)


def _add_data_set(
    processing_request: etree._Element,
    request: RestoreRequest,
    sessions: tuple[Session, ...],
    relative_path: str,
) -> None:
    # One SchedBlockIdentifier holds every ASDM: the pipeline stops on a second one.
    sched_block_set = _add(_add(processing_request, "DataSet"), "SchedBlockSet")
    identifier = _add(sched_block_set, "SchedBlockIdentifier")
    _add(identifier, "RelativePath", relative_path)
    _add(identifier, "SchedBlockRef", attributes=_reference(request.sb_uid, "SchedBlock"))
    _add(identifier, "SBStatusRef", attributes=_reference(request.sb_status_uid, "SBStatus"))
    _add(identifier, "SBTitle", _one_line(request.sb_title, UNKNOWN_SB_TITLE))
    for session in sessions:
        for eb_uid in session.eb_uids:
            asdm = _add(identifier, "AsdmIdentifier")
            _add(_add(asdm, "AsdmRef"), "ExecBlockId", eb_uid)
            # The pipeline matches sessions to ASDMs by this name, never by ExecBlockId.
            _add(asdm, "AsdmDiskName", disk_name(eb_uid))


def _add_results_processing(root: etree._Element, site: PprSettings) -> None:
    results = _add(root, "ResultsProcessing")
    for flag in (
        "ArchiveResults",
        "CleanUpDisk",
        "UpdateProjectLifeCycle",
        "NotifyOperatorWhenDone",
        "SDMall",
        "SDMonly",
    ):
        # A restore only rebuilds measurement sets locally: nothing is archived, cleaned or announced.
        _add(results, flag, "false")
    _add(results, "PipelineOperatorAddress", _one_line(site.pipeline_operator_address, ""))

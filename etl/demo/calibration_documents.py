"""The archive's record of a pipeline calibration, as the pipeline's export step writes it.

For every pipeline-calibrated MOUS of the demo archive: its ``*.pipeline_manifest.xml``, its
``*.casa_piperestorescript.py`` and the request it ran from (``*.pprequest.xml``, or ``PPR_uid___….xml``
in older deliveries), in the formats of the pipeline (see docs/demo-archive.md). They agree with the
MOUS's calibration: the sessions holding calibrated EBs, numbered as its caltables are; EB disk names;
``hifa_restoredata`` (``ocorr_mode='ca'``) or ``hsd_restoredata`` (``'ao'``); CASA and pipeline versions
of its cycle; serial CASA. The stand-in NGAS serves them; their sizes are their ``STORED_SIZE``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from lxml import etree

from etl.archive_names import disk_name, restore_name
from etl.calibration.request import session_keyword, session_value
from etl.demo.cycles import Cycle
from etl.demo.model import (
    Mous,
    ProductFile,
    Project,
    Recipe,
    RecordForm,
    ScienceGoal,
    ordered_sessions,
    pass_ebs,
)
from etl.demo.products import EARLIER_RECIPES

PPR_NAMESPACE: Final = "Alma/pipelinescience/AlmaSciPipeRequest"
# (CASA, pipeline) of the release that calibrated a cycle's data; None before the manifest had them.
# CASA 5 wrote its build after a dash (5.4.0-70), CASA 6 after a dot (6.7.6.14), as real manifests do.
VERSIONS: Final[dict[int, tuple[str, str] | None]] = {
    1: None,
    2: None,
    3: None,
    4: ("4.7.2", "r39732 (Pipeline-CASA47-P1-B)"),
    5: ("5.1.1-5", "r40896 (Pipeline-CASA51-P2-B)"),
    6: ("5.4.0-70", "r42254 (Pipeline-CASA54-P1-B)"),
    7: ("5.6.1-8", "r42866 (Pipeline-CASA56-P1-B)"),
    8: ("6.2.1.7", "2021.2.0.128"),
    9: ("6.4.1.12", "2022.2.0.64"),
    10: ("6.5.4.9", "2023.1.0.124"),
    11: ("6.6.1.17", "2024.1.0.8"),
    12: ("6.6.6.17", "2025.1.0.35"),
}
# Manifest elements that appeared over the years (by cycle of the data they describe).
FIRST_CYCLE_WITH_ENVIRONMENT: Final = 5
FIRST_CYCLE_WITH_MANIFEST_ENTRY: Final = 11
FIRST_CYCLE_WITH_RASTER_SCAN_MODE: Final = 9
LAST_CYCLE_WITH_RETHROW: Final = 6
# Cycle 5 interferometry scripts begin with an import they never call (12 of 13 real ones read).
INERT_IMPORT_CYCLE: Final = 5
INERT_IMPORT: Final = "from recipes.almahelpers import fixsyscaltimes # SACM/JAO - Fixes"
# Restore scripts written before late 2017 call the retired hif_restoredata (interferometry).
LEGACY_RESTORE_TASK_UNTIL: Final = datetime(2017, 10, 1)
# Manifests written in mid-2018 spell the environment executionEnvironment / numMpiServers.
CAMEL_CASE_ENVIRONMENT: Final = (datetime(2018, 3, 1), datetime(2018, 10, 1))
# An MPI calibration (RecordForm.MPI): servers per node, on two nodes.
MPI_SERVERS_PER_NODE: Final = (4, 4)
# The hand edit of RecordForm.EXTRA_STEPS, as JAO adds it before the restore.
HAND_EDIT_TAG: Final = "# SACM/JAO - Fixes"
# The earlier calibration of RecordForm.TWO_CALIBRATIONS ran this long before the one that replaced it.
EARLIER_CALIBRATION_LEAD: Final = timedelta(days=30)
_SESSION_IN_NAME: Final = re.compile(r"\.session_(\d+)\.caltables\.")


@dataclass(frozen=True)
class CalibratedSession:
    """A session of the calibration as its caltables are numbered, with its EB UIDs in pipeline order."""

    number: int
    eb_uids: tuple[str, ...]


@dataclass(frozen=True)
class Calibration:
    """What the documents of one MOUS's calibration say."""

    project: Project
    goal: ScienceGoal
    mous: Mous
    cycle: Cycle
    recipe_name: str  # hifa_calimage or hsd_calimage
    sessions: tuple[CalibratedSession, ...]  # only sessions holding calibrated EBs
    request_sessions: tuple[CalibratedSession, ...]  # SESSION_1..K of the request it ran from
    product_names: tuple[str, ...]  # archived names
    calibrated_at: datetime
    record: RecordForm = RecordForm.NORMAL
    # The restore script's sessions when they are not ``sessions`` (RecordForm.SCRIPT_DISAGREES).
    script_sessions: tuple[CalibratedSession, ...] | None = None

    @property
    def total_power(self) -> bool:
        return self.mous.array == "TP"

    @property
    def mous_disk(self) -> str:
        return disk_name(self.mous.uid)


def attach_calibration_documents(project: Project) -> None:
    """Give the calibration documents of every pipeline-calibrated MOUS their content and size."""
    for goal in project.goals:
        for mous in goal.mouses:
            if mous.recipe not in (Recipe.PIPELINE, Recipe.UNSPLIT) or not mous.products:
                continue
            if mous.record is RecordForm.REAL:
                continue  # the real calibration's own documents
            calibration = calibration_of(project, goal, mous)
            earlier = None
            if mous.record is RecordForm.TWO_CALIBRATIONS:
                earlier = earlier_calibration(calibration)
            for product in mous.products:
                own = earlier if earlier is not None and _of(product.name, earlier) else calibration
                _attach(product, own)


def _attach(product: ProductFile, calibration: Calibration) -> None:
    content = document_for(product.name, calibration)
    if content is None:
        return
    form = calibration.record
    if form is RecordForm.MALFORMED_MANIFEST and product.name.endswith(".pipeline_manifest.xml"):
        content = content[: len(content) * 3 // 5]  # cut short: not well-formed
    if form is RecordForm.NOT_ON_NGAS and product.name.endswith(".casa_piperestorescript.py"):
        product.on_ngas = False
    if calibration.recipe_name in EARLIER_RECIPES.values():
        product.archived = calibration.calibrated_at
    product.content = content
    product.size = len(content)


def _of(name: str, calibration: Calibration) -> bool:
    """Whether ``name`` is one of ``calibration``'s own documents (named by its recipe)."""
    return f".{calibration.recipe_name}." in name


def calibration_of(project: Project, goal: ScienceGoal, mous: Mous) -> Calibration:
    """The calibration the MOUS's archived caltables record: sessions numbered as the caltables are."""
    from etl.demo.model import ARRAYS

    rule_sessions = [
        CalibratedSession(number, tuple(eb.uid for eb in pass_ebs(session)))
        for number, session in enumerate(ordered_sessions(mous), 1)
    ]
    calibrated = [session for session in rule_sessions if session.eb_uids]
    names = tuple(product.name for product in mous.products)
    caltables = sorted({int(m.group(1)) for name in names if (m := _SESSION_IN_NAME.search(name))})
    if len(caltables) == len(calibrated) and caltables != [s.number for s in calibrated]:
        # The caltables were numbered 1..k over the non-empty sessions: so was the request it ran from.
        calibrated = [CalibratedSession(n, s.eb_uids) for n, s in zip(caltables, calibrated, strict=True)]
        request = tuple(calibrated)
    else:
        request = tuple(rule_sessions)
    if mous.record is RecordForm.DISAGREES:
        calibrated, request = _moved_first_eb(calibrated), tuple(_moved_first_eb(list(request)))
    script = tuple(_moved_first_eb(calibrated)) if mous.record is RecordForm.SCRIPT_DISAGREES else None
    last = max(eb.end or eb.start for eb in mous.all_ebs())
    return Calibration(
        project=project, goal=goal, mous=mous, cycle=project.cycle,
        recipe_name=ARRAYS[mous.array].pipeline_recipe, sessions=tuple(calibrated),
        request_sessions=request, product_names=names,
        calibrated_at=(last + timedelta(days=9)).replace(microsecond=0), record=mous.record,
        script_sessions=script,
    )


def _moved_first_eb(sessions: list[CalibratedSession]) -> list[CalibratedSession]:
    """The second calibrated session's first EB calibrated with the first (AQUA moved it since)."""
    first, second = (index for index, session in enumerate(sessions) if session.eb_uids)
    moved = sessions[second].eb_uids[0]
    changed = list(sessions)
    changed[first] = CalibratedSession(sessions[first].number, (*sessions[first].eb_uids, moved))
    changed[second] = CalibratedSession(sessions[second].number, sessions[second].eb_uids[1:])
    return changed


def earlier_calibration(calibration: Calibration) -> Calibration:
    """The first calibration, superseded: an earlier recipe, run before the last EB passed QA0."""
    last_eb = calibration.sessions[-1].eb_uids[-1]
    sessions = tuple(
        CalibratedSession(s.number, tuple(eb for eb in s.eb_uids if eb != last_eb))
        for s in calibration.sessions
    )
    return replace(
        calibration,
        recipe_name=EARLIER_RECIPES[calibration.recipe_name],
        sessions=tuple(s for s in sessions if s.eb_uids),
        request_sessions=tuple(
            CalibratedSession(s.number, tuple(eb for eb in s.eb_uids if eb != last_eb))
            for s in calibration.request_sessions
        ),
        calibrated_at=calibration.calibrated_at - EARLIER_CALIBRATION_LEAD,
        record=RecordForm.NORMAL,
    )


def document_for(name: str, calibration: Calibration) -> bytes | None:
    """The content of the archived file ``name`` when it is a calibration document, else None."""
    if name.endswith(".pipeline_manifest.xml"):
        return pipeline_manifest(calibration)
    if name.endswith(".casa_piperestorescript.py"):
        return restore_script(calibration)
    if name.endswith(".pprequest.xml") or (name.startswith("PPR_uid___") and name.endswith(".xml")):
        return pipeline_request(calibration)
    return None


# --- the pipeline manifest ------------------------------------------------------------------------


def pipeline_manifest(calibration: Calibration) -> bytes:
    """``<ous>.<recipe>.pipeline_manifest.xml``: sessions with calibrated EBs, their products, versions."""
    disk = calibration.mous_disk
    root = etree.Element("piperesults", name=disk)
    ous = etree.SubElement(root, "ous", name=disk)
    versions = VERSIONS[calibration.cycle.number]
    if versions is not None:
        etree.SubElement(ous, "casaversion", name=versions[0])
        etree.SubElement(ous, "pipeline_version", name=versions[1])
    etree.SubElement(ous, "procedure_name", name=calibration.recipe_name)
    if calibration.cycle.number >= FIRST_CYCLE_WITH_ENVIRONMENT:
        _add_environment(ous, calibration)
    recipe = calibration.recipe_name
    request = _named(calibration, (f".{recipe}.pprequest.xml",), "PPR_uid___")
    if request is not None:
        etree.SubElement(ous, "piperequest", name=restore_name(request))
    for session in calibration.sessions:
        _add_manifest_session(ous, calibration, session)
    script = _named(calibration, (f".{recipe}.casa_piperestorescript.py",))
    if script is not None:
        etree.SubElement(ous, "restorescript", name=restore_name(script))
    if calibration.cycle.number >= FIRST_CYCLE_WITH_MANIFEST_ENTRY:
        manifest = _named(calibration, (f".{recipe}.pipeline_manifest.xml",))
        if manifest is not None:
            etree.SubElement(ous, "manifest", name=restore_name(manifest))
    weblog = _named(calibration, (".weblog.tgz", ".weblog.tar.gz"))
    if weblog is not None:
        etree.SubElement(ous, "weblog", name=restore_name(weblog))
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8") + b"\n"


def _add_environment(ous: etree._Element, calibration: Calibration) -> None:
    """Serial CASA on one node, or MPI CASA on two; mid-2018 files spell it in camel case."""
    first, last = CAMEL_CASE_ENVIRONMENT
    camel = first <= calibration.calibrated_at < last
    environment = etree.SubElement(ous, "executionEnvironment" if camel else "execution_environment")
    servers = MPI_SERVERS_PER_NODE if calibration.record is RecordForm.MPI else (0,)
    for count in servers:
        etree.SubElement(environment, "node", {"numMpiServers" if camel else "num_mpi_servers": str(count)})


def _add_manifest_session(ous: etree._Element, calibration: Calibration, session: CalibratedSession) -> None:
    label = f"session_{session.number}"
    element = etree.SubElement(ous, "session", name=label)
    caltables = _named(calibration, (f".{label}.caltables.tgz", f".{label}.caltables.tar.gz"))
    if caltables is not None:
        etree.SubElement(element, "caltables", name=restore_name(caltables), session=label)
    for eb_uid in session.eb_uids:
        eb_disk = disk_name(eb_uid)
        asdm = etree.SubElement(element, "asdm", name=f"{eb_disk}.ms")
        flags = _named(calibration, (f"{eb_disk}.ms.flagversions.tgz", f"{eb_disk}.ms.flagversions.tar.gz"))
        if flags is not None:
            etree.SubElement(asdm, "finalflags", name=restore_name(flags))
        applied = _named(calibration, (f"{eb_disk}.ms.calapply.txt",))
        if applied is not None:
            etree.SubElement(asdm, "applycmds", name=restore_name(applied))
    auxiliary = _named(calibration, (f".{label}.auxcaltables.tgz", f".{label}.auxcaltables.tar.gz"))
    if auxiliary is not None:
        etree.SubElement(element, "aux_caltables", name=restore_name(auxiliary), session=label)


def _named(calibration: Calibration, suffixes: tuple[str, ...], prefix: str | None = None) -> str | None:
    for name in calibration.product_names:
        if name.endswith(suffixes) or (prefix is not None and name.startswith(prefix)):
            return name
    return None


# --- the restore script ---------------------------------------------------------------------------


def restore_script(calibration: Calibration) -> bytes:
    """``<ous>.<recipe>.casa_piperestorescript.py``: the restore call with the pipeline's EB→session key."""
    own = calibration.script_sessions or calibration.sessions
    vis = [disk_name(eb_uid) for session in own for eb_uid in session.eb_uids]
    sessions = [f"session_{session.number}" for session in own for _ in session.eb_uids]
    lines: list[str] = []
    if calibration.cycle.number == INERT_IMPORT_CYCLE and not calibration.total_power:
        lines.append(INERT_IMPORT)
    if calibration.cycle.number <= LAST_CYCLE_WITH_RETHROW:
        lines.append("__rethrow_casa_exceptions = True")
    if calibration.total_power:
        lines.append("context = h_init()")
        lines.extend(_context_state(calibration))
        arguments = f"vis={vis!r}, session={sessions!r}, ocorr_mode='ao'"
        if calibration.cycle.number >= FIRST_CYCLE_WITH_RASTER_SCAN_MODE:
            arguments += ", hm_rasterscan='time'"
        call = f"    hsd_restoredata({arguments})"
    else:
        lines.append("h_init()")
        legacy = calibration.calibrated_at < LEGACY_RESTORE_TASK_UNTIL
        task = "hif_restoredata" if legacy else "hifa_restoredata"
        call = f"    {task} (vis={vis!r}, session={sessions!r}, ocorr_mode='ca')"
    lines.append("try:")
    if calibration.record is RecordForm.EXTRA_STEPS:
        lines += _hand_edit(vis)
    lines += [call, "finally:", "    h_save()"]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _hand_edit(vis: list[str]) -> list[str]:
    """Steps JAO added by hand before the restore, as archived scripts show them."""
    first = vis[0]
    return [
        f"    {HAND_EDIT_TAG}",
        "    from recipes.almahelpers import fixsyscaltimes",
        f"    fixsyscaltimes(vis='{first}.ms')",
        f"    fixplanets(vis='{first}.ms', field='Titan', fixuvw=True)",
    ]


def _context_state(calibration: Calibration) -> list[str]:
    project, mous = calibration.project, calibration.mous
    states = [
        ("ProjectSummary", "proposal_code", project.code),
        ("ProjectSummary", "piname", "unknown"),
        ("ProjectSummary", "proposal_title", "unknown"),
        ("ProjectStructure", "ous_part_id", mous.part_id),
        ("ProjectStructure", "ous_title", "Undefined"),
        ("ProjectStructure", "ousstatus_entity_id", mous.uid),
        ("ProjectStructure", "ps_entity_id", project.status_uid),
        ("ProjectStructure", "ppr_file", f"/opt/dared/opt/qa/rawdata/PPR_{calibration.mous_disk}.xml"),
        ("PerformanceParameters", "max_cube_size", -1),
        ("PerformanceParameters", "max_product_size", -1),
    ]
    return [f"context.set_state({kind!r}, {name!r}, {value!r})" for kind, name, value in states]


# --- the request the calibration ran from -----------------------------------------------------------


def pipeline_request(calibration: Calibration) -> bytes:
    """The calibration's own PPR: its procedure, SESSION_1..K (empty ones kept) and its ASDMs."""
    project, mous = calibration.project, calibration.mous
    root = etree.Element(etree.QName(PPR_NAMESPACE, "SciPipeRequest"), nsmap={"ns2": PPR_NAMESPACE})
    entity = {"entityId": "uid://A002/X0/X0", "entityIdEncrypted": "none",
              "entityTypeName": "SciPipeRequest", "schemaVersion": "2", "datamodelVersion": "2.0"}
    _sub(root, "SciPipeRequestEntity", attributes=entity)
    summary = _sub(root, "ProjectSummary")
    for tag, text in (
        ("ProposalCode", project.code), ("ProposalTitle", project.title or "Undefined"),
        ("PIName", project.pi_fullname), ("Observatory", "JAO"), ("Telescope", "ALMA"),
        ("ProcessingSite", "JAO"), ("Operator", "almaproc"), ("Mode", "Automatic"),
        ("Version", "Undefined"),
        ("CreationTime", calibration.calibrated_at.strftime("%Y-%m-%dT%H:%M:%S.000")),
    ):
        _sub(summary, tag, text)
    structure = _sub(root, "ProjectStructure")
    _sub(structure, "ObsUnitSetRef", attributes={
        "entityId": project.obsproject_uid, "partId": mous.part_id, "entityTypeName": "ObsProject",
        "documentVersion": "1"})
    _sub(structure, "ObsUnitSetTitle", "Undefined")
    _sub(structure, "ObsUnitSetType", "Member")
    _sub(structure, "ProjectStatusRef", attributes=_reference(project.status_uid, "ProjectStatus"))
    _sub(structure, "OUSStatusRef", attributes=_reference(mous.uid, "OUSStatus"))
    _sub(root, "ProcessingRequests")
    processing = _sub(root[-1], "ProcessingRequest")
    intents = _sub(processing, "ProcessingIntents")
    _intent(intents, "PROCESS", "true")
    for session in calibration.request_sessions:
        _intent(intents, session_keyword(session.number), session_value(session.eb_uids) or None)
    _intent(intents, "INTERFEROMETRY_STANDARD_OBSERVING_MODE", "Undefined")
    procedure = _sub(processing, "ProcessingProcedure")
    _sub(procedure, "ProcedureTitle", calibration.recipe_name)
    _add_request_data_set(processing, calibration)
    results = _sub(root, "ResultsProcessing")
    for flag in ("ArchiveResults", "CleanUpDisk", "UpdateProjectLifeCycle", "NotifyOperatorWhenDone"):
        _sub(results, flag, "true")
    _sub(results, "SDMall", "false")
    _sub(results, "SDMonly", "false")
    _sub(results, "PipelineOperatorAddress", "Unknown")
    etree.indent(root, space="    ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True) + b"\n"


def _add_request_data_set(processing: etree._Element, calibration: Calibration) -> None:
    project, goal, mous = calibration.project, calibration.goal, calibration.mous
    identifier = _sub(_sub(_sub(processing, "DataSet"), "SchedBlockSet"), "SchedBlockIdentifier")
    started = calibration.calibrated_at.strftime("%Y_%m_%dT%H_%M_%S.000")
    _sub(identifier, "RelativePath", f"{project.code}_{started}/SOUS_{disk_name(goal.sous_uid)}/"
         f"GOUS_{disk_name(goal.gous_uid)}/MOUS_{calibration.mous_disk}")
    sb = mous.sbs[0]
    _sub(identifier, "SchedBlockRef", attributes=_reference(sb.uid, "SchedBlock"))
    _sub(identifier, "SBStatusRef", attributes=_reference(sb.status_uid, "SBStatus"))
    _sub(identifier, "SBTitle", sb.name or "Undefined")
    for session in calibration.request_sessions:
        for eb_uid in session.eb_uids:
            asdm = _sub(identifier, "AsdmIdentifier")
            _sub(_sub(asdm, "AsdmRef"), "ExecBlockId", eb_uid)
            _sub(asdm, "AsdmDiskName", disk_name(eb_uid))


def _reference(entity_id: str, entity_type: str) -> dict[str, str]:
    return {"entityId": entity_id, "entityTypeName": entity_type, "documentVersion": "1"}


def _intent(intents: etree._Element, keyword: str, value: str | None) -> None:
    intent = _sub(intents, "Intents")
    _sub(intent, "Keyword", keyword)
    _sub(intent, "Value", value)


def _sub(
    parent: etree._Element, tag: str, text: str | None = None, attributes: dict[str, str] | None = None
) -> etree._Element:
    element = etree.SubElement(parent, tag, attrib=attributes or {})
    element.text = text
    return element

"""The preflight of a delivery tree: will its scriptForPI.py find everything it looks for?

The look-ups are scriptForPI.py's own (ppr/delivery.py lists them), made without CASA: one
scriptForPI.py in ``script/``; at most one restore script, pipeline request, calibration pipescript and
post-calibration script of each kind there; a calibration script or a pipeline restore to run;
``calibration/``; and in ``raw/`` the ``<uid>.asdm.sdm`` of every EB a calibration script is named after
or the pipeline request lists. For a pipeline restore the files the manifest names for the request's
sessions are checked in ``calibration/``, which the restore reads as its ``products/``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from etl.archive_names import disk_name
from etl.calibration.errors import MalformedDocument
from etl.calibration.manifest import parse_manifest
from etl.calibration.request import RequestReading, read_request
from etl.logs import fields
from ppr.delivery import ASDM_SUFFIX, CALIBRATION, DIRECTORIES, RAW, SCRIPT
from ppr.fetch.record import EXPORTED
from ppr.verify import (
    ASDM_DOCUMENT,
    Verification,
    _Found,
    _record_asdms,
    _verify_fetched,
    _verify_restore_files,
)

log = logging.getLogger(__name__)

SCRIPTFORPI: Final = "*scriptForPI.py"
CALIBRATION_SCRIPTS: Final = "*uid*.ms.scriptForCalibration.py"
SD_CALIBRATION_SCRIPTS: Final = "*uid*.ms.scriptForSDCalibration.py"
RESTORE_SCRIPT: Final = "*casa_piperestorescript.py"
# Each of these stops scriptForPI.py ("non-unique …") when there are two.
AT_MOST_ONE: Final = (
    RESTORE_SCRIPT, "*cal*casa_pipescript.py", "*scriptForPolCalibration.py", "*scriptForFluxCalibration.py",
    "*scriptForImagingPrep.py",
)
# The pipeline request: the old name first, then the newer (scriptForPI.py reads the first it finds).
REQUESTS: Final = ("*PPR*.xml", "*cal*pprequest.xml")
MANIFESTS: Final = "*pipeline_manifest.xml"


def verify_delivery(
    directory: Path, plan: Mapping[str, Any], asdms: bool = True, just_verified: frozenset[str] = frozenset()
) -> Verification:
    """Check the delivery tree ``directory`` as scriptForPI.py looks it up."""
    found = _Found()
    for name in DIRECTORIES:
        if not (directory / name).is_dir():
            found.add("layout", f"{name}/", f"missing: scriptForPI.py runs in {SCRIPT}/ and reads "
                      f"../{RAW} and ../{CALIBRATION}")
    script = directory / SCRIPT
    _one_scriptforpi(script, plan, found)
    for pattern in AT_MOST_ONE:
        _at_most_one(script, pattern, found)
    request_path, reading = _request(script, found)
    scripted = _calibration_script_ebs(script)
    restores = _names(script, RESTORE_SCRIPT)
    if not (scripted or restores or _names(script, "*cal*casa_pipescript.py")):
        found.add("script", f"{SCRIPT}/", "no calibration script: scriptForPI.py stops ('No calibration "
                  "script found')")
    _verify_fetched(directory, plan, found, just_verified)
    manifest_path = None
    if restores and reading is not None:
        manifest_path = _verify_pipeline_restore(directory, reading, found)
    wanted = [*scripted, *(_request_ebs(reading) if reading is not None else ())]
    if asdms:
        _verify_asdms(directory, wanted, found)
    log.info("ppr.verify_delivery %s", fields(directory=directory, problems=len(found.problems),
                                               files=found.files_checked))
    return Verification(directory, request_path, manifest_path, found.files_checked, asdms,
                        tuple(found.problems))


def _names(directory: Path, pattern: str) -> list[str]:
    return sorted(path.name for path in directory.glob(pattern)) if directory.is_dir() else []


def _one_scriptforpi(script: Path, plan: Mapping[str, Any], found: _Found) -> None:
    names = _names(script, SCRIPTFORPI)
    named = plan.get("scriptforpi")
    if not names:
        found.add("script", f"{SCRIPT}/{SCRIPTFORPI}",
                  "missing: nothing runs the restore (run almamirror fetch)")
    elif len(names) > 1:
        found.add("script", f"{SCRIPT}/{SCRIPTFORPI}", f"{len(names)} of them ({', '.join(names)}): "
                  "run-restore.sh runs one")
    elif isinstance(named, str) and f"{SCRIPT}/{names[0]}" != named:
        found.add("script", f"{SCRIPT}/{names[0]}", f"not the {named} run-restore.sh runs")


def _at_most_one(script: Path, pattern: str, found: _Found) -> None:
    names = _names(script, pattern)
    if len(names) > 1:
        found.add("script", f"{SCRIPT}/{pattern}", f"{len(names)} of them ({', '.join(names)}): "
                  "scriptForPI.py stops on a non-unique one")


def _request(script: Path, found: _Found) -> tuple[str | None, RequestReading | None]:
    """The pipeline request scriptForPI.py reads its ASDM names from, read as the pipeline reads it."""
    for pattern in REQUESTS:
        names = _names(script, pattern)
        if len(names) > 1:
            found.add("script", f"{SCRIPT}/{pattern}", f"{len(names)} requests: scriptForPI.py stops "
                      "('non-unique PPR')")
            return None, None
        if names:
            relative = f"{SCRIPT}/{names[0]}"
            try:
                return relative, read_request((script / names[0]).read_bytes())
            except (MalformedDocument, OSError) as exc:
                found.add("script", relative, f"cannot be read: {exc}")
                return relative, None
    return None, None


def _calibration_script_ebs(script: Path) -> list[str]:
    """The EB each hand-run calibration script is named after (``…uid___A002_X…_X….ms.scriptFor…``)."""
    ebs = []
    for pattern in (CALIBRATION_SCRIPTS, SD_CALIBRATION_SCRIPTS):
        for name in _names(script, pattern):
            stem = name.split(".ms.scriptFor", 1)[0]
            ebs.append(stem[stem.rfind("uid__"):])
    return ebs


def _request_ebs(reading: RequestReading) -> list[str]:
    return [disk_name(uid).split(".", 1)[0] for uids in reading.sessions.values() for uid in uids]


def _verify_pipeline_restore(directory: Path, reading: RequestReading, found: _Found) -> str | None:
    """The pipeline restore reads ``calibration/`` as ``products/``, with the manifest copied from script/."""
    names = _names(directory / SCRIPT, MANIFESTS)
    if not names:
        found.add("manifest", f"{SCRIPT}/{MANIFESTS}",
                  "missing: the pipeline restore stops without a manifest")
        return None
    relative = f"{SCRIPT}/{names[0]}"
    try:
        manifest = parse_manifest((directory / relative).read_bytes())
    except (MalformedDocument, OSError) as exc:
        found.add("manifest", relative, f"the restore cannot read it: {exc}")
        return relative
    _verify_restore_files(directory, reading, (relative, manifest), found, products_in=CALIBRATION)
    return relative


def _verify_asdms(directory: Path, eb_disk_names: Sequence[str], found: _Found) -> None:
    exports = _record_asdms(directory)
    for disk in sorted(set(eb_disk_names)):
        target = f"{RAW}/{disk}{ASDM_SUFFIX}"
        path = directory / target
        if not path.is_dir():
            found.add("asdm", target, "missing: scriptForPI.py stops ('cannot find raw/…asdm.sdm'); run "
                      "almamirror fetch")
        elif disk in exports and exports[disk] != EXPORTED:
            found.add("asdm", target, f"its export did not finish ({exports[disk]}): run almamirror fetch")
        elif not (path / ASDM_DOCUMENT).is_file():
            found.add("asdm", target, f"holds no {ASDM_DOCUMENT}: not an ASDM importasdm can read")

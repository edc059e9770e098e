"""The request directory of a ``scriptforpi`` restore: an ALMA delivery its scriptForPI.py runs in unchanged.

What scriptForPI.py looks for (public copies, v1.7 of 2014 to v2.5 of 2023): it must be started in a
directory named ``script``; there it globs ``*uid*.ms.scriptForCalibration.py`` (one per EB of a manual
calibration), ``*casa_piperestorescript.py`` and the request ``*PPR*.xml`` / ``*cal*pprequest.xml`` of a
pipeline calibration (each at most once, or it stops), ``*pipeline_manifest.xml`` (copied to
``../calibration``) and the hand-run ``*scriptForPolCalibration.py``, ``*scriptForFluxCalibration.py``,
``*scriptForSDCalibration.py``. ``../calibration`` must exist: the pipeline restore reads it as its
``products/``, so the calibration products carry the names the manifest gives them. Every EB's ASDM is
``../raw/<uid>.asdm.sdm``. It writes ``../calibrated/``.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from etl.archive_names import disk_name, restore_name
from etl.restore.casa import RestoreFacts, choose_casa
from etl.restore.kinds import CALIBRATION_PRODUCT_KINDS, SCRIPTFORPI
from etl.restore.spool import MANIFEST_FILE
from ppr.errors import InvalidPpr
from ppr.layout import (
    ASDM_VIA,
    MANIFEST_VERSION,
    PRODUCT_VIA,
    README_FILE,
    RequestFiles,
    _relative_parts,
    is_plain_name,
    session_map_digest,
)
from ppr.model import Delivery, ProductFile, RestoreRequest
from ppr.restore_run import RESTORE_JSON, RUN_SCRIPT, RestoreRun, inputs_of, restore_json_bytes, run_script

if TYPE_CHECKING:
    from etl.restore.settings import CasaInstallation

RAW: Final = "raw"
SCRIPT: Final = "script"
CALIBRATION: Final = "calibration"
DIRECTORIES: Final = (RAW, SCRIPT, CALIBRATION)
# fetch-manifest.json's "layout" of a delivery tree (a PPR request directory has none, or "pipeline").
LAYOUT: Final = "delivery"
ASDM_SUFFIX: Final = ".asdm.sdm"
# Other files scriptForPI.py finds, unpacks or copies in calibration/ (supporting tarballs, flux and
# antenna-position tables, continuum ranges, ephemerides, flag templates, self-calibration solutions).
CALIBRATION_PATTERNS: Final = (
    "*auxproducts.tgz", "*auxproducts.tar.gz", "*supporting.tgz", "*flux.csv", "*antennapos.csv",
    "*cont.dat", "*jyperk*.csv", "*.eph", "*flagtemplate.txt", "*selfcal.json",
)
# Script products: every control script and the pipeline's request and manifest, which scriptForPI.py
# globs in script/.
SCRIPT_PATTERNS: Final = ("*.py", "*pprequest.xml", "PPR_*.xml", "*pipeline_manifest.xml")
# The pipeline record's documents: of a MOUS calibrated twice only the record's goes into script/, as
# scriptForPI.py stops on two restore scripts or two requests.
RECORD_DOCUMENTS: Final = (
    ("manifest_file", ("*pipeline_manifest.xml",)),
    ("restore_script_file", ("*casa_piperestorescript.py",)),
    ("request_file", ("*pprequest.xml", "PPR_*.xml")),
)


def asdm_target(eb_uid: str) -> str:
    """Where an EB's ASDM goes: ``raw/<uid>.asdm.sdm``, the name scriptForPI.py globs."""
    return f"{RAW}/{disk_name(eb_uid)}{ASDM_SUFFIX}"


def delivery_targets(request: RestoreRequest, delivery: Delivery) -> dict[str, ProductFile]:
    """Target (relative to the request directory) → archived file, of every file the tree needs."""
    restore_names = {product.archived_name: product.restore_name for product in request.products}
    superseded = _superseded_documents(request, delivery.files)
    targets: dict[str, ProductFile] = {}
    for product in delivery.files:
        if product.archived_name in superseded:
            continue
        target = _target(product, restore_names.get(product.archived_name))
        if target is None:
            continue
        _check_plain(target, product, request.mous_uid)
        if target in targets:
            raise InvalidPpr(
                [f"{targets[target].archived_name} and {product.archived_name} both go to {target}"],
                request.mous_uid,
            )
        targets[target] = product
    return targets


def _target(product: ProductFile, listed_name: str | None) -> str | None:
    name = product.archived_name
    # What the pipeline restore opens in products/ (= calibration/), under the manifest's names.
    if product.kind in CALIBRATION_PRODUCT_KINDS:
        return f"{CALIBRATION}/{listed_name or restore_name(name)}"
    if _matches(name, SCRIPT_PATTERNS):
        return f"{SCRIPT}/{name}"
    if _matches(name, CALIBRATION_PATTERNS):
        return f"{CALIBRATION}/{name}"
    return None  # images, weblogs, logs, reports: the restore needs none of them


def _superseded_documents(request: RestoreRequest, files: Sequence[ProductFile]) -> set[str]:
    record = request.record
    if record is None:
        return set()
    superseded: set[str] = set()
    for field, patterns in RECORD_DOCUMENTS:
        kept = getattr(record, field)
        if kept is None:
            continue
        superseded |= {
            product.archived_name for product in files
            if _matches(product.archived_name, patterns) and product.archived_name != kept
        }
    return superseded


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _check_plain(target: str, product: ProductFile, mous_uid: str) -> None:
    if not is_plain_name(target.split("/", 1)[1]):
        raise InvalidPpr([f"archived product name {product.archived_name!r} is not a plain file name"],
                         mous_uid)


def delivery_manifest(
    request: RestoreRequest, targets: Mapping[str, ProductFile], relative_path: str, created: str,
    scriptforpi: str,
) -> dict[str, Any]:
    """What ``almamirror fetch`` fetches where in a delivery tree, as a JSON-ready mapping."""
    asdms = [
        {
            "eb_uid": eb_uid, "disk_name": disk_name(eb_uid), "session": session.number,
            "target": asdm_target(eb_uid), "source": {"via": ASDM_VIA, "eb_uid": eb_uid},
        }
        for session in sorted(request.sessions, key=lambda s: s.number)
        for eb_uid in session.eb_uids
    ]
    products = [
        {
            "archived_name": product.archived_name, "target": target, "size_bytes": product.size_bytes,
            "kind": product.kind, "session": product.session_number,
            "source": {"via": PRODUCT_VIA, "ngas_file_id": product.archived_name},
        }
        for target, product in sorted(targets.items())
    ]
    known_sizes = [entry["size_bytes"] for entry in products if entry["size_bytes"] is not None]
    return {
        "manifest_version": MANIFEST_VERSION,
        "layout": LAYOUT,
        "mous_uid": request.mous_uid,
        "mous_disk_name": disk_name(request.mous_uid),
        "project_code": request.project_code,
        "relative_path": relative_path,
        "created_utc": created,
        "ppr": None,
        "scriptforpi": f"{SCRIPT}/{scriptforpi}",
        "session_map_sha256": session_map_digest(request.sessions),
        "asdms": asdms,
        "products": products,
        "totals": {
            "asdms": len(asdms),
            "products": len(products),
            "product_bytes": sum(known_sizes),
            "products_of_unknown_size": len(products) - len(known_sizes),
        },
    }


def delivery_request_files(
    base_dir: Path,
    relative_path: str,
    request: RestoreRequest,
    created: datetime,
    casa: Sequence[CasaInstallation] = (),
) -> RequestFiles:
    """The delivery tree of a scriptforpi ``request``: its fetch manifest, README, restore.json and
    run-restore.sh, which runs scriptForPI.py in script/ with the CASA its scripts demand."""
    delivery = request.delivery
    if delivery is None:
        raise InvalidPpr(["no scriptForPI.py is known for it (restore kind scriptforpi)"], request.mous_uid)
    target = base_dir.joinpath(*_relative_parts(relative_path))
    targets = delivery_targets(request, delivery)
    scriptforpi = f"{SCRIPT}/{delivery.scriptforpi_file}"
    if scriptforpi not in targets:
        raise InvalidPpr([f"its scriptForPI.py {delivery.scriptforpi_file!r} has no place in {SCRIPT}/"],
                         request.mous_uid)
    stamp = created.strftime("%Y-%m-%dT%H:%M:%S")
    manifest = delivery_manifest(request, targets, relative_path, stamp, delivery.scriptforpi_file)
    run = scriptforpi_run(request, delivery, base_dir.absolute(), target.absolute(), casa, stamp, manifest)
    extra = (
        (README_FILE, delivery_readme(request, relative_path, stamp, delivery)),
        (RESTORE_JSON, restore_json_bytes(run)),
        (RUN_SCRIPT, run_script(run)),
    )
    return RequestFiles(target, None, b"", _json_bytes(manifest), extra, DIRECTORIES)


def scriptforpi_run(
    request: RestoreRequest, delivery: Delivery, scipipe_rootdir: Path, request_dir: Path,
    site: Sequence[CasaInstallation], created: str, fetch_manifest: Mapping[str, Any],
) -> RestoreRun:
    """scriptForPI.py run by CASA in script/: the version the scripts demand, with the pipeline when
    the calibration began with it."""
    facts = RestoreFacts(SCRIPTFORPI, delivery.calibration_kind, delivery.casa_version, None, None,
                         delivery.script_casa_versions)
    return RestoreRun(
        kind=SCRIPTFORPI, mous_uid=request.mous_uid, project_code=request.project_code,
        request_dir=request_dir, scipipe_rootdir=scipipe_rootdir, working=SCRIPT,
        casa_code=delivery.scriptforpi_file, casa=choose_casa(facts, site), mpi_servers=None,
        calibration={
            "calibration_kind": delivery.calibration_kind,
            "casa_version": delivery.casa_version,
            "pipeline_version": delivery.pipeline_version,
            "script_casa_versions": list(delivery.script_casa_versions),
        },
        inputs=inputs_of(None, fetch_manifest["asdms"], fetch_manifest["products"],
                         f"{SCRIPT}/{delivery.scriptforpi_file}"),
        created=created,
        pipeline=delivery.calibration_kind == "pipeline_then_manual",
    )


def delivery_readme(request: RestoreRequest, relative_path: str, created: str, delivery: Delivery) -> bytes:
    """README.txt of a delivery tree: what each directory holds and what runs it."""
    lines = [
        f"Restore request for MOUS {request.mous_uid} (project {request.project_code}), "
        f"written by almamirror at {created} UTC: an ALMA delivery tree, restored by its scriptForPI.py.",
        "",
        f"{RAW + '/':<40} each EB's ASDM as <uid>{ASDM_SUFFIX}, by almamirror fetch",
        f"{SCRIPT + '/':<40} the delivery's scripts ({delivery.scriptforpi_file} runs the rest), "
        "by almamirror fetch",
        f"{CALIBRATION + '/':<40} the calibration products, by almamirror fetch",
        f"{MANIFEST_FILE:<40} what almamirror fetch fetches where ({relative_path})",
        f"{RUN_SCRIPT:<40} runs scriptForPI.py in {SCRIPT}/ (by hand, sbatch or condor_submit); "
        f"{RESTORE_JSON} says how",
        "",
        "scriptForPI.py writes the calibrated measurement sets into calibrated/.",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _json_bytes(manifest: Mapping[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

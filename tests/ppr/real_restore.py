"""A request directory of the real calibration (etl/demo/real_restore/), laid out without a database.

The PPR is the one almamirror writes for the real MOUS; products/ holds the real products a restore
opens, rawdata/ the real ASDMs unpacked, and fetch-record.json what a fetch would have recorded
(sizes and CRC-32C checksums), so the preflight sees what it sees after a real fetch.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from etl.demo.real_files import REAL_ASDMS, REAL_EBS, REAL_MOUS, REAL_PRODUCTS, REAL_PROJECT_CODE
from etl.ngas.checksums import CRC32C, checksum_of_file, stored_form
from etl.settings import PprSettings
from ppr.build import build_ppr, default_relative_path, serialize_ppr
from ppr.fetch.record import RECORD_FILE
from ppr.layout import build_request_directory
from ppr.model import ProductFile, RestoreRequest, Session

CREATED = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
MOUS_DISK = "uid___A001_Xfe00_X10"
EB_DISKS = ("uid___A002_Xfe0001_X1", "uid___A002_Xfe0002_X2")
MANIFEST = f"{MOUS_DISK}.hifa_cal.pipeline_manifest.xml"
# What a restore fetches: the manifest, each session's caltables, each EB's flagversions and calapply.
RESTORE_PRODUCTS = (
    (MANIFEST, "manifest", None),
    (f"{MOUS_DISK}.session_2.caltables.tgz", "caltables", 2),
    (f"{MOUS_DISK}.session_3.caltables.tgz", "caltables", 3),
    *((f"{eb}.ms.{rest}", kind, None) for eb in EB_DISKS
      for rest, kind in (("flagversions.tgz", "flagversions"), ("calapply.txt", "calapply"))),
)


def real_request() -> RestoreRequest:
    """The real MOUS as the mirror describes it: SESSION_1 empty, one Pass EB in each of 2 and 3."""
    return RestoreRequest(
        mous_uid=REAL_MOUS, project_code=REAL_PROJECT_CODE, project_title="A real pipeline calibration",
        pi_name="Unknown", obs_project_uid="uid://A001/Xfe00/X1", ous_part_id="X1",
        project_status_uid="uid://A001/Xfe00/X2", sous_uid="uid://A001/X1bf0/X21",
        gous_uid="uid://A001/X1bf0/X22", sb_uid="uid://A001/Xfe00/X3", sb_status_uid="uid://A001/Xfe00/X4",
        sb_title=None, array="12m",
        sessions=(Session(1, ()), Session(2, (REAL_EBS[0],)), Session(3, (REAL_EBS[1],))),
        products=tuple(
            ProductFile(name, kind, session, (REAL_PRODUCTS / name).stat().st_size)
            for name, kind, session in RESTORE_PRODUCTS
        ),
    )


def lay_out_real_request(base: Path, site: PprSettings) -> Path:
    """The real MOUS's request directory under ``base``, fetched as a fetch would leave it."""
    request = real_request()
    relative_path = default_relative_path(request, CREATED)
    ppr = serialize_ppr(build_ppr(request, site, relative_path, CREATED))
    directory = build_request_directory(base, relative_path, ppr, request)
    record: dict[str, object] = {"record_version": 1, "products": {}, "asdms": {}}
    for name, _kind, _session in RESTORE_PRODUCTS:
        target = directory / "products" / name
        shutil.copyfile(REAL_PRODUCTS / name, target)
        record["products"][f"products/{name}"] = product_record(target, name)  # type: ignore[index]
    for eb in EB_DISKS:
        with tarfile.open(REAL_ASDMS / f"{eb}.tgz", "r:gz") as packed:
            packed.extractall(directory / "rawdata", filter="data")
        record["asdms"][eb] = {"eb_uid": eb, "state": "exported"}  # type: ignore[index]
    (directory / RECORD_FILE).write_text(json.dumps(record, indent=2), "utf-8")
    return directory


def product_record(path: Path, file_id: str) -> dict[str, object]:
    """What a fetch records of a verified product (a CRC-32C archive)."""
    stat = path.stat()
    return {
        "ngas_file_id": file_id, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
        "checksum": stored_form("crc32c", checksum_of_file(path, CRC32C)), "checksum_plugin": "crc32c",
    }

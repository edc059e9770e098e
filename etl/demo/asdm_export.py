"""The stand-in's ``asdmExportLight``: write one EB's ASDM directory from the (stand-in) archive.

Reads the ASDM document (the EB's UID in disk form), then each table it lists, then the binary data
files ``Main.xml`` names, each as a verified NGAS download, into a hidden directory beside the target
that is renamed to ``<disk name>`` only when every part is there. ``almamirror archive export-asdm``
runs it; the demo's ``[archive] asdm_command`` points at that command.
"""

from __future__ import annotations

import logging
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from etl.archive_names import disk_name
from etl.calibration.xml import safe_parser
from etl.demo.asdm_documents import BINARY_DIRECTORY
from etl.demo.real_files import real_asdm_archive, unpack_real_asdm
from etl.errors import DownloadNotVerified, StopAndFix
from etl.logs import fields
from etl.ngas.client import NgasClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportedAsdm:
    directory: Path
    files: int
    bytes: int


def export_asdm(client: NgasClient, eb_uid: str, into: Path) -> ExportedAsdm:
    """Write ``into/<disk name of eb_uid>`` from the archive; nothing appears unless all of it arrived."""
    disk = disk_name(eb_uid)
    target = into / disk
    if target.exists():
        raise StopAndFix(f"{target} already exists; remove it to export {eb_uid} again")
    staging = into / f".{disk}.export-{secrets.token_hex(4)}"
    staging.mkdir(parents=True)
    real = real_asdm_archive(eb_uid)
    if real is not None:
        return _unpack_real(real, disk, staging, target)
    try:
        files = [client.download(disk, staging / "ASDM.xml")]
        for name, uid in _tables(disk, (staging / "ASDM.xml").read_bytes()):
            files.append(client.download(disk_name(uid), staging / f"{name}.xml"))
        main = staging / "Main.xml"
        for uid in _binary_data(disk, main.read_bytes() if main.exists() else b""):
            files.append(client.download(disk_name(uid), staging / BINARY_DIRECTORY / disk_name(uid)))
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    exported = ExportedAsdm(target, len(files), sum(download.size for download in files))
    log.info("asdm.exported %s", fields(eb_uid=eb_uid, files=exported.files, bytes=exported.bytes))
    return exported


def _unpack_real(archive: Path, disk: str, staging: Path, target: Path) -> ExportedAsdm:
    """A real EB's ASDM (etl/demo/real_mous.py): its packaged directory, unpacked whole or not at all."""
    try:
        unpack_real_asdm(archive, disk, staging).rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = [path for path in target.rglob("*") if path.is_file()]
    exported = ExportedAsdm(target, len(files), sum(path.stat().st_size for path in files))
    log.info("asdm.exported %s", fields(eb_uid=disk, files=exported.files, bytes=exported.bytes, real=True))
    return exported


def _parse(disk: str, document: bytes, what: str) -> etree._Element:
    try:
        return etree.fromstring(document, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise DownloadNotVerified(disk, f"its {what} is not XML ({exc})") from None


def _tables(disk: str, document: bytes) -> list[tuple[str, str]]:
    """(table name, entity UID) of every table with rows the ASDM document lists."""
    root = _parse(disk, document, "ASDM.xml")
    tables = []
    for table in root.iter("{*}Table"):
        name = table.findtext("{*}Name")
        entity = table.find("{*}Entity")
        if name and entity is not None and entity.get("entityId"):
            tables.append((name, entity.get("entityId", "")))
    return tables


def _binary_data(disk: str, main_table: bytes) -> list[str]:
    if not main_table:
        return []
    root = _parse(disk, main_table, "Main.xml")
    found = (ref.get("entityId", "") for ref in root.iter("{*}EntityRef"))
    return sorted({uid for uid in found if uid})

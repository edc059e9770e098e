"""The raw data (ASDM) of a demo EB as the stand-in NGAS holds it: XML tables and a binary data file.

An ASDM is a directory: ``ASDM.xml`` lists its tables by entity UID, each table is an XML document, and
``Main.xml``'s rows name the binary data (BDF) files kept in ``ASDMBinary/``. In the archive every part is
a file of its own, named by its UID in disk form; the ASDM document itself is the EB's UID. The stand-in's
exporter (``almamirror archive export-asdm``) reads them in that order, as ALMA's ``asdmExportLight``
does. Everything here follows from the EB's UID and times, so it is the same in every archive.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from lxml import etree

from etl.archive_names import disk_name

ASDM_NAMESPACE: Final = "http://Alma/XASDM/ASDM"
TABLES: Final = ("Main", "ExecBlock", "Antenna", "SpectralWindow", "Scan")
BINARY_DIRECTORY: Final = "ASDMBinary"
# The default namespace (the stubs type nsmap keys as str only).
_NSMAP: Final = cast(Any, {None: ASDM_NAMESPACE})
# A BDF of the stand-in: between these sizes (a real one is gigabytes; the demo's raw data stay small).
BDF_BYTES: Final = (600_000, 1_400_000)


@dataclass(frozen=True)
class AsdmPart:
    """One archived file of an ASDM: its NGAS file id, its path in the ASDM directory, its bytes."""

    file_id: str
    path: str
    size: int
    content: bytes | None  # None: a generated binary body


def asdm_parts(eb_uid: str, start: datetime, end: datetime | None) -> list[AsdmPart]:
    """Every archived file of the EB's ASDM, the ASDM document first."""
    tables = {name: _entity_uid(eb_uid, offset) for offset, name in enumerate(TABLES, 1)}
    bdf_uid = _entity_uid(eb_uid, len(TABLES) + 1)
    bdf_size = BDF_BYTES[0] + zlib.crc32(eb_uid.encode()) % (BDF_BYTES[1] - BDF_BYTES[0])
    documents = [("ASDM.xml", eb_uid, _asdm_document(eb_uid, start, tables))]
    for name, uid in tables.items():
        documents.append((f"{name}.xml", uid, _table_document(name, uid, eb_uid, start, end, bdf_uid)))
    parts = [AsdmPart(disk_name(uid), path, len(content), content) for path, uid, content in documents]
    parts.append(AsdmPart(disk_name(bdf_uid), f"{BINARY_DIRECTORY}/{disk_name(bdf_uid)}", bdf_size, None))
    return parts


def _entity_uid(eb_uid: str, offset: int) -> str:
    """The UID of the EB's ``offset``-th part: the same range, the next elements (as ALMA allocates)."""
    head, element = eb_uid.rsplit("/X", 1)
    return f"{head}/X{int(element, 16) + offset:x}"


def _entity(parent: etree._Element, uid: str, type_name: str) -> None:
    etree.SubElement(parent, "Entity", entityId=uid, entityIdEncrypted="na", entityTypeName=type_name,
                     schemaVersion="3", documentVersion="1")


def _asdm_document(eb_uid: str, start: datetime, tables: dict[str, str]) -> bytes:
    root = etree.Element("ASDM", nsmap=_NSMAP, schemaVersion="3", schemaRevision="-1")
    _entity(root, eb_uid, "ASDM")
    etree.SubElement(root, "TimeOfCreation").text = start.strftime("%Y-%m-%dT%H:%M:%S.000")
    for name, uid in tables.items():
        table = etree.SubElement(root, "Table")
        etree.SubElement(table, "Name").text = name
        etree.SubElement(table, "NumberRows").text = "1"
        _entity(table, uid, f"{name}Table")
    return _serialised(root)


def _table_document(
    name: str, uid: str, eb_uid: str, start: datetime, end: datetime | None, bdf_uid: str
) -> bytes:
    root = etree.Element(f"{name}Table", nsmap=_NSMAP, schemaVersion="3")
    _entity(root, uid, f"{name}Table")
    etree.SubElement(root, "ContainerEntity", entityId=eb_uid, entityIdEncrypted="na",
                     entityTypeName="ASDM", schemaVersion="3", documentVersion="1")
    row = etree.SubElement(root, "row")
    etree.SubElement(row, "startTime").text = start.strftime("%Y-%m-%dT%H:%M:%S.000")
    if end is not None:
        etree.SubElement(row, "endTime").text = end.strftime("%Y-%m-%dT%H:%M:%S.000")
    if name == "Main":
        data = etree.SubElement(row, "dataUID")
        etree.SubElement(data, "EntityRef", entityId=bdf_uid, partId="X00000000", entityTypeName="Main",
                         documentVersion="1")
    return _serialised(root)


def _serialised(root: etree._Element) -> bytes:
    etree.indent(root, space=" ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True) + b"\n"

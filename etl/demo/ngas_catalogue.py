"""The stand-in NGAS's catalogue: every file of the demo archive, as NGAS would describe it.

A table of the demo source database (``<schema>.ngas_file``) that only the stand-in reads — it is not
a contract table and the sync never reads it. ``source demo`` fills it with the product files of
ASA_PRODUCT_FILES (same name, same size) and the parts of every EB's ASDM: file id, version, size,
checksum and plug-in, the node that holds the file, and the content of small documents. Large files have
no content: their bytes are generated from the file id (``etl/demo/ngas_bodies.py``). One fixed case's
restore script is listed in ASA_PRODUCT_FILES but missing here, as a file the archive lost.

Checksums follow NGAS's history: files of Cycle 6 and before were archived by Python 2 servers
(``ngamsGenCrc32``, stored signed), Cycle 7's by ``crc32`` (unsigned), later ones with ``crc32c``.
Generated bodies have their checksum stored for the fixed cases (small, identical in every archive);
for the random population it is left NULL and the stand-in computes it when first asked, which keeps
an ALMA-sized archive quick to generate.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    select,
)

from etl.demo.asdm_documents import asdm_parts
from etl.demo.model import Project
from etl.demo.ngas_bodies import body_chunks
from etl.ngas.checksums import PLUGINS, RunningChecksum, stored_form
from etl.source.contract import SCHEMA_PLACEHOLDER

CATALOGUE_TABLE: Final = "ngas_file"
CATALOGUE: Final = Table(
    CATALOGUE_TABLE,
    MetaData(schema=SCHEMA_PLACEHOLDER),
    Column("file_id", String(512), nullable=False),
    Column("file_version", Integer, nullable=False),
    Column("file_size", BigInteger, nullable=False),
    Column("checksum", String(16)),
    Column("checksum_plugin", String(32), nullable=False),
    Column("mime_type", String(64), nullable=False),
    Column("node", SmallInteger, nullable=False),
    Column("ingestion_date", DateTime, nullable=False),
    Column("content", LargeBinary),
    PrimaryKeyConstraint("file_id", "file_version"),
)
COLUMNS: Final = tuple(column.key for column in CATALOGUE.columns)
LAST_PYTHON2_CYCLE: Final = 6
LAST_CRC32_CYCLE: Final = 7
# The largest generated body whose checksum is computed while the archive is generated.
STORED_CHECKSUM_MAX_BYTES: Final = 16 << 20
NODES: Final = (1, 2)


@dataclass(frozen=True)
class CatalogueEntry:
    """One file as the stand-in serves it."""

    file_id: str
    file_version: int
    file_size: int
    checksum: str | None
    checksum_plugin: str
    mime_type: str
    node: int
    ingestion_date: datetime
    content: bytes | None


def checksum_plugin(cycle_number: int) -> str:
    """The checksum plug-in NGAS used for files of a cycle."""
    if cycle_number <= LAST_PYTHON2_CYCLE:
        return "ngamsGenCrc32"
    if cycle_number <= LAST_CRC32_CYCLE:
        return "crc32"
    return "crc32c"


def node_of(file_id: str) -> int:
    """The node holding a file: about a third of the files are on the second node."""
    return NODES[1] if zlib.crc32(file_id.encode()) % 3 == 0 else NODES[0]


def mime_type(file_id: str) -> str:
    for suffix, kind in ((".xml", "text/xml"), (".py", "text/x-python"), (".txt", "text/plain"),
                         (".tgz", "application/x-tar"), (".tar.gz", "application/x-tar"),
                         (".fits", "image/x-fits"), (".gz", "application/gzip"), (".pdf", "application/pdf")):
        if file_id.endswith(suffix):
            return kind
    return "application/octet-stream"


def body_checksum(file_id: str, size: int, plugin: str) -> str:
    """The checksum of a generated body, in the form NGAS stores it for ``plugin``."""
    running = RunningChecksum(PLUGINS[plugin])
    for chunk in body_chunks(file_id, size):
        running.update(chunk)
    return stored_form(plugin, running.value)


def content_checksum(content: bytes, plugin: str) -> str:
    running = RunningChecksum(PLUGINS[plugin])
    running.update(content)
    return stored_form(plugin, running.value)


def catalogue_rows(project: Project, store_body_checksums: bool) -> Iterator[tuple[Any, ...]]:
    """The catalogue rows of one project: its product files, then its EBs' ASDM parts."""
    plugin = checksum_plugin(project.cycle.number)
    for mous in project.mouses():
        ingested = mous.delivery.delivered if mous.delivery is not None else project.cycle.observing_start
        for product in mous.products:
            if product.on_ngas:
                archived = product.archived or ingested
                yield _row(
                    product.name, product.size, product.content, plugin, archived, store_body_checksums
                )
        for eb in mous.all_ebs():
            archived = eb.end or eb.start
            for part in asdm_parts(eb.uid, eb.start, eb.end):
                yield _row(part.file_id, part.size, part.content, plugin, archived, store_body_checksums)


def _row(
    file_id: str, size: int, content: bytes | None, plugin: str, ingested: datetime, store_checksum: bool
) -> tuple[Any, ...]:
    if content is not None:
        checksum: str | None = content_checksum(content, plugin)
    elif store_checksum and size <= STORED_CHECKSUM_MAX_BYTES:
        checksum = body_checksum(file_id, size, plugin)
    else:
        checksum = None
    return (file_id, 1, size, checksum, plugin, mime_type(file_id), node_of(file_id), ingested, content)


def lookup(connection: Connection, file_id: str, version: int | None = None) -> CatalogueEntry | None:
    """The file's highest version (or ``version``), or None when the archive does not have it."""
    query = select(CATALOGUE).where(CATALOGUE.c.file_id == file_id)
    if version is not None:
        query = query.where(CATALOGUE.c.file_version == version)
    row = connection.execute(query.order_by(CATALOGUE.c.file_version.desc()).limit(1)).first()
    if row is None:
        return None
    return CatalogueEntry(**row._mapping)

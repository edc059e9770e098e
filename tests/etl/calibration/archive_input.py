"""Changing what the stand-in NGAS serves: a copy of the demo source, a document's bytes replaced."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import URL

from etl.demo.ngas_catalogue import content_checksum
from etl.demo.ngas_process import start_stand_in
from etl.source.contract import CONTRACT, contract_table
from tests.helpers import connect

product_files = contract_table(CONTRACT, "asa_product_files")


def replace_document(
    source: URL, mous_uid: str, suffix: str, content: bytes, new_version: bool = False
) -> str:
    """Serve ``content`` as the MOUS's archived file ending in ``suffix``; returns its NGAS file id.

    ``new_version``: archive it again as the next NGAS file version (the old one stays, as in NGAS);
    else the stored version's bytes change. ASA_PRODUCT_FILES lists the new size.
    """
    with connect(source) as connection:
        file_id = connection.execute(
            select(product_files.c.ngas_file_id).where(
                product_files.c.asa_ous_id == mous_uid, product_files.c.ngas_file_id.like(f"%{suffix}")
            )
        ).scalar_one()
        if new_version:
            connection.execute(text(
                "INSERT INTO alma.ngas_file SELECT file_id, file_version + 1, file_size, NULL, "
                "checksum_plugin, mime_type, node, ingestion_date + interval '1 day', content "
                "FROM alma.ngas_file WHERE file_id = :id AND file_version = "
                "(SELECT max(file_version) FROM alma.ngas_file WHERE file_id = :id)"
            ), {"id": file_id})
        plugin = connection.execute(text(
            "SELECT checksum_plugin FROM alma.ngas_file WHERE file_id = :id LIMIT 1"
        ), {"id": file_id}).scalar_one()
        connection.execute(text(
            "UPDATE alma.ngas_file SET content = :content, file_size = :size, checksum = :checksum "
            "WHERE file_id = :id AND file_version = "
            "(SELECT max(file_version) FROM alma.ngas_file WHERE file_id = :id)"
        ), {"id": file_id, "content": content, "size": len(content),
            "checksum": content_checksum(content, plugin)})
        connection.execute(
            update(product_files).where(product_files.c.ngas_file_id == file_id)
            .values(stored_size=func.cast(len(content), product_files.c.stored_size.type))
        )
    return file_id


@contextmanager
def stand_in_on(source: URL, home: Path) -> Iterator[str]:
    """A stand-in NGAS serving ``source``'s catalogue; yields its URL."""
    process = start_stand_in({
        "ALMAMIRROR_SOURCE_URL": source.render_as_string(hide_password=False),
        "ALMAMIRROR_HOME": str(home), "ALMAMIRROR_LOG_LEVEL": "WARNING",
    })
    try:
        yield process.url
    finally:
        process.stop()

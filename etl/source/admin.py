"""Create the stand-in's tables in a source database we own (never in ALMA's Oracle)."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, MetaData, inspect, text
from sqlalchemy.schema import CreateSchema

from etl.errors import UnsupportedSource
from etl.logs import mask_url
from etl.source.contract import TABLE_NAMES, source_execution_options
from etl.urls import is_oracle

log = logging.getLogger(__name__)


def refuse_oracle(engine: Engine, action: str) -> None:
    """The production source is ALMA's, read-only: the stand-in's writers must never touch it."""
    if is_oracle(engine.url):
        raise UnsupportedSource(
            f"refusing to {action} in {mask_url(engine.url)}: that is an Oracle (ALMA) database, "
            "which almamirror only reads; point ALMAMIRROR_SOURCE_URL at a PostgreSQL stand-in"
        )


# Encodings that hold any text the demo archive writes (SQL_ASCII stores the UTF-8 bytes as given).
TEXT_ENCODINGS = ("UTF8", "SQL_ASCII")


def refuse_narrow_encoding(engine: Engine, action: str) -> None:
    """The demo archive has names in many scripts: a LATIN1 (or other one-byte) stand-in cannot hold them."""
    with engine.connect() as connection:
        encoding = connection.execute(text("SHOW server_encoding")).scalar_one()
    if encoding not in TEXT_ENCODINGS:
        raise UnsupportedSource(
            f"refusing to {action} in {mask_url(engine.url)}: its encoding is {encoding}, which cannot "
            "hold the demo archive's names (Greek, accented and other letters); create the stand-in as "
            "UTF8: CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0"
        )


def init_source(engine: Engine, contract: MetaData, schema: str) -> list[str]:
    """Create the schema and every missing contract table, empty; returns the tables created."""
    refuse_oracle(engine, "create the stand-in tables")
    with engine.begin() as connection:
        if not inspect(connection).has_schema(schema):
            connection.execute(CreateSchema(schema, if_not_exists=True))
        existing = set(inspect(connection).get_table_names(schema=schema))
        created = [name for name in TABLE_NAMES if name not in existing]
        translated = connection.execution_options(**source_execution_options(schema))
        contract.create_all(translated, checkfirst=True)
    log.info("source.init schema=%s created=%d existing=%d", schema, len(created), len(existing))
    return created


def missing_tables(engine: Engine, schema: str) -> list[str]:
    """Contract tables absent from the source (case-insensitive, as Oracle reports upper case)."""
    with engine.connect() as connection:
        present = {name.lower() for name in inspect(connection).get_table_names(schema=schema)}
    return [name for name in TABLE_NAMES if name not in present]

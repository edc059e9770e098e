"""The copy floor: the fastest the sync's rows can move from the source into the mirror's server.

Every source contract table's mirrored columns, ``COPY (SELECT …) TO STDOUT`` on the source, piped chunk
by chunk into ``COPY … FROM STDIN`` of a plain table (the mirror's column types; no key, no index, no
constraint) in a scratch schema of the mirror database, in one source snapshot and one mirror
transaction, as the sync reads and writes. No conversion, comparison, merge or derivation: what is
left is reading, carrying and writing the bytes. A sync's time divided by this one says what the rest
costs. PostgreSQL sources only (the stand-in; Oracle has no COPY).

    .venv/bin/python bench/copy_floor.py [--source-url URL] [--mirror-url URL] [--home DIR]

Without URLs, the configured (``ALMAMIRROR_SOURCE_URL``, ``ALMAMIRROR_MIRROR_URL``) or embedded ones;
``--home`` starts the embedded server of that home, which the URLs may then name.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import Column, Engine, MetaData, Table
from sqlalchemy.schema import CreateSchema, DropSchema

from etl import embedded
from etl.database import create_mirror_engine, create_source_engine, mirror_url, source_url
from etl.load.mapping import TableMapping, mirrored_tables
from etl.settings import SourceSettings, load_settings
from etl.source.contract import build_contract

SCRATCH_SCHEMA = "bench_copy_floor"


@dataclass(frozen=True)
class TableFloor:
    table: str  # the mirror table the source table fills
    rows: int
    bytes: int  # of COPY text carried
    seconds: float


@dataclass(frozen=True)
class CopyFloor:
    tables: list[TableFloor]
    seconds: float  # the whole copy, commit included

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)

    @property
    def bytes(self) -> int:
        return sum(table.bytes for table in self.tables)


def measure_copy_floor(
    source: Engine, mirror: Engine, options: SourceSettings, scratch_schema: str = SCRATCH_SCHEMA
) -> CopyFloor:
    """Copy every mirrored source table into plain tables of ``scratch_schema`` on the mirror, timed.

    The scratch schema is made afresh and dropped afterwards; creating and dropping it is not timed.
    """
    mappings = mirrored_tables(build_contract(options.column_names))
    plain = _plain_tables(mappings, scratch_schema)
    _drop_schema(mirror, scratch_schema)
    with mirror.begin() as connection:
        connection.execute(CreateSchema(scratch_schema))
        plain.create_all(connection)
    try:
        started = time.monotonic()
        with _source_snapshot(source) as reading, mirror.begin() as writing:
            writer = writing.connection.driver_connection
            assert isinstance(writer, psycopg.Connection)
            tables = [
                _copy_table(reading, writer, mapping, options.schema, scratch_schema) for mapping in mappings
            ]
        return CopyFloor(tables, time.monotonic() - started)
    finally:
        _drop_schema(mirror, scratch_schema)


def _plain_tables(mappings: list[TableMapping], schema: str) -> MetaData:
    """One table per mirrored table: its loaded columns and their types, nothing else."""
    metadata = MetaData(schema=schema)
    for mapping in mappings:
        Table(
            mapping.name, metadata,
            *(Column(name, mapping.target.c[name].type) for name in mapping.loaded),
        )
    return metadata


def _drop_schema(mirror: Engine, schema: str) -> None:
    with mirror.begin() as connection:
        connection.execute(DropSchema(schema, cascade=True, if_exists=True))


@contextmanager
def _source_snapshot(source: Engine) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A read-only, repeatable-read transaction on the source, as the sync reads in."""
    with source.connect() as connection:
        connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with connection.begin():
            reader = connection.connection.driver_connection
            assert isinstance(reader, psycopg.Connection)
            yield reader


def _copy_table(
    reader: psycopg.Connection[tuple[object, ...]],
    writer: psycopg.Connection[tuple[object, ...]],
    mapping: TableMapping,
    source_schema: str,
    scratch_schema: str,
) -> TableFloor:
    started = time.monotonic()
    source_columns = (mapping.source.c[key].name for key in mapping.source_columns)
    copy_out = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT").format(
        sql.SQL(", ").join(map(sql.Identifier, source_columns)),
        sql.Identifier(source_schema.lower(), mapping.source.name),
    )
    copy_in = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(scratch_schema, mapping.name), sql.SQL(", ").join(map(sql.Identifier, mapping.loaded))
    )
    carried = 0
    with reader.cursor() as out_cursor, writer.cursor() as in_cursor:
        with out_cursor.copy(copy_out) as out_copy, in_cursor.copy(copy_in) as in_copy:
            for chunk in out_copy:
                carried += len(chunk)
                in_copy.write(chunk)
        rows = in_cursor.rowcount
    return TableFloor(mapping.name, rows, carried, time.monotonic() - started)


def report_floor(floor: CopyFloor) -> None:
    for table in sorted(floor.tables, key=lambda table: table.seconds, reverse=True):
        print(f"    {table.table:<20} {table.rows:>12,} rows {table.bytes / 1e6:10.1f} MB "
              f"{table.seconds:8.2f} s")
    print(f"copy floor: {floor.rows:,} rows, {floor.bytes / 1e6:,.1f} MB in {floor.seconds:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source-url", help="the PostgreSQL stand-in (default: the configured source)")
    parser.add_argument("--mirror-url", help="the mirror database (default: the configured mirror)")
    parser.add_argument("--home", type=Path, help="start (or join) the embedded PostgreSQL of this home")
    args = parser.parse_args()
    environ = dict(os.environ)
    if args.home:
        environ["ALMAMIRROR_HOME"] = str(args.home)
        embedded.start_server(args.home)  # up while this process runs, whatever the URLs name
    if args.source_url:
        environ["ALMAMIRROR_SOURCE_URL"] = args.source_url
    if args.mirror_url:
        environ["ALMAMIRROR_MIRROR_URL"] = args.mirror_url
    settings = load_settings(environ=environ)
    source = create_source_engine(source_url(settings), settings)
    mirror = create_mirror_engine(mirror_url(settings), "almamirror-bench")
    try:
        report_floor(measure_copy_floor(source, mirror, settings.source))
    finally:
        source.dispose()
        mirror.dispose()


if __name__ == "__main__":
    main()

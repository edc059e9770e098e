"""Reading the ALMA source: one consistent snapshot, streamed in batches, values coerced to mirror types."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from etl.database import is_oracle, mask_url
from etl.errors import SchemaMismatch, SourceUnavailable
from etl.load.mapping import TableMapping, row_converter
from etl.source.contract import source_execution_options


@contextmanager
def source_snapshot(engine: Engine, schema: str) -> Iterator[Connection]:
    """A read-only transaction in which every table is read as of the same moment.

    Without it, an EB committed between reading AQUA_EXECBLOCK and SHIFTLOG_ENTRIES would appear in
    one table and not the other. Oracle gives this with SET TRANSACTION READ ONLY; PostgreSQL with a
    REPEATABLE READ, READ ONLY transaction.
    """
    options: dict[str, Any] = source_execution_options(schema)
    if not is_oracle(engine.url):
        options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    # Only connecting is guarded here: errors raised inside the block belong to whoever raised them.
    with _source_errors(engine, "connecting to"):
        plain = engine.connect()
    with plain:
        connection = plain.execution_options(**options)
        with connection.begin():
            if is_oracle(engine.url):
                with _source_errors(engine, "starting a read-only transaction on"):
                    connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield connection


@contextmanager
def _source_errors(engine: Engine, doing: str) -> Iterator[None]:
    """Source failures say which database and what we were doing; dropped links are worth a retry."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise SourceUnavailable(
            f"{doing} the source {mask_url(engine.url)} failed: {' '.join(str(exc.orig).split())}"
        ) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise SourceUnavailable(f"the source {mask_url(engine.url)} dropped the connection") from exc
        raise SchemaMismatch(
            f"{doing} the source {mask_url(engine.url)} failed: {' '.join(str(exc.orig).split())}"
        ) from exc


def source_rows(connection: Connection, mapping: TableMapping, batch_rows: int) -> Iterator[tuple[Any, ...]]:
    """Stream the source table's rows in the mirror table's column order, converted to mirror types.

    ``yield_per`` keeps memory bounded: a server-side cursor on PostgreSQL, fetches of ``arraysize``
    rows on Oracle.
    """
    statement = select(*(mapping.source.c[column] for column in mapping.source_columns))
    convert = row_converter(mapping)
    with _source_errors(connection.engine, f"reading {mapping.source.name} from"):
        result = connection.execute(statement, execution_options={"yield_per": batch_rows})
        for row in result:
            yield convert(row)

"""Reading the ALMA source: one consistent snapshot, streamed in batches, values coerced to mirror types."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from etl.database import is_oracle, mask_url
from etl.errors import BadSourceData, SchemaMismatch, SourceChanged, SourceUnavailable
from etl.load.mapping import TableMapping, row_converter
from etl.source.contract import source_execution_options

# Oracle's answers to a read of a table that changed under a read-only transaction: the definition
# changed (ORA-01466) or the object no longer exists as it did (ORA-08103, e.g. TRUNCATE). PostgreSQL
# reads such a table as empty instead, which the shrink guard catches.
SOURCE_CHANGED_CODES = frozenset({1466, 8103})
_ORACLE_CODE = re.compile(r"\bORA-(\d{5})\b")


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
    # Connecting and ending are guarded here: errors raised inside the block belong to whoever
    # raised them. The snapshot ends when the block does, so a sync closes it before the mirror
    # commits: a source that drops after the last read fails the run before anything is committed.
    with source_errors(engine, "connecting to"):
        plain = engine.connect()
    with plain:
        connection = plain.execution_options(**options)
        transaction = connection.begin()
        try:
            if is_oracle(engine.url):
                with source_errors(engine, "starting a read-only transaction on"):
                    connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield connection
        except BaseException:
            with contextlib.suppress(Exception):  # the failure in hand is the one to report
                transaction.rollback()
            raise
        with source_errors(engine, "ending the read-only transaction on"):
            transaction.rollback()  # it wrote nothing: ending it is all that is needed


@contextmanager
def source_errors(engine: Engine, doing: str) -> Iterator[None]:
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
        if oracle_error_code(exc) in SOURCE_CHANGED_CODES:
            raise SourceChanged(
                f"{doing} the source {mask_url(engine.url)} failed: {' '.join(str(exc.orig).split())}; "
                "a table changed while the sync read it: run the sync again"
            ) from exc
        raise SchemaMismatch(
            f"{doing} the source {mask_url(engine.url)} failed: {' '.join(str(exc.orig).split())}"
        ) from exc


def oracle_error_code(exc: DBAPIError) -> int | None:
    """The ORA-nnnnn number of an Oracle driver error, else None."""
    error = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    code = getattr(error, "code", None)  # oracledb's _Error; 0 when it was not parsed
    if isinstance(code, int) and code > 0:
        return code
    found = _ORACLE_CODE.search(str(exc.orig))
    return int(found.group(1)) if found else None


def source_rows(
    connection: Connection,
    mapping: TableMapping,
    batch_rows: int,
    convert: Callable[[Sequence[Any]], Sequence[Any]] | None = None,
    where: ColumnElement[bool] | None = None,
) -> Iterator[Sequence[Any]]:
    """Stream the source table's rows in the mirror table's column order, converted to mirror types.

    ``convert`` defaults to ``row_converter`` (a bad value raises); ``where`` limits the rows read.
    ``yield_per`` keeps memory bounded: a server-side cursor on PostgreSQL, fetches of ``arraysize``
    rows on Oracle.
    """
    statement = select(*(mapping.source.c[column] for column in mapping.source_columns))
    if where is not None:
        statement = statement.where(where)
    convert = convert or row_converter(mapping)
    with source_errors(connection.engine, f"reading {mapping.source.name} from"):
        try:
            result = connection.execute(statement, execution_options={"yield_per": batch_rows})
            for row in result:
                yield convert(row)
        except UnicodeDecodeError as exc:
            # The driver decodes a whole fetch at once, so the row cannot be named (Oracle thin mode).
            raise BadSourceData(
                f"reading {mapping.source.name} from the source {mask_url(connection.engine.url)}: "
                f"it returned bytes that are not text in its character set ({exc.reason}, byte "
                f"0x{exc.object[exc.start]:02x}); fix the row in the source"
            ) from exc

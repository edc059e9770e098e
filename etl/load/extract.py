"""Reading the ALMA source: one consistent snapshot, streamed in batches, values coerced to mirror types."""

from __future__ import annotations

import contextlib
import queue
import re
import threading
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from etl.errors import BadSourceData, SchemaMismatch, SourceChanged, SourceUnavailable
from etl.load.mapping import StagingConverter, TableMapping
from etl.logs import mask_url
from etl.source.contract import source_execution_options
from etl.urls import is_oracle

# Oracle's answers to a read of a table that changed under a read-only transaction: the definition
# changed (ORA-01466) or the object no longer exists as it did (ORA-08103, e.g. TRUNCATE). PostgreSQL
# reads such a table as empty instead, which the shrink guard catches.
SOURCE_CHANGED_CODES = frozenset({1466, 8103})
T = TypeVar("T")
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
    convert: StagingConverter,
    where: ColumnElement[bool] | None = None,
) -> Generator[Sequence[Any], None, None]:
    """Stream the source table's rows in the mirror table's column order, converted to mirror types.

    ``convert`` marks a bad row instead of raising (``StagingConverter``); ``where`` limits the rows read.
    ``yield_per`` keeps memory bounded: a server-side cursor on PostgreSQL, fetches of ``arraysize``
    rows on Oracle. Close the iterator when done with it early: that ends its read-ahead thread.
    """
    statement = select(*(mapping.source.c[column] for column in mapping.source_columns))
    if where is not None:
        statement = statement.where(where)
    with source_errors(connection.engine, f"reading {mapping.source.name} from"):
        try:
            result = connection.execute(statement, execution_options={"yield_per": batch_rows})
            for batch in read_ahead(result.partitions()):
                yield from convert.convert_batch(batch)
        except UnicodeDecodeError as exc:
            # The driver decodes a whole fetch at once, so the row cannot be named (Oracle thin mode).
            raise BadSourceData(
                f"reading {mapping.source.name} from the source {mask_url(connection.engine.url)}: "
                f"it returned bytes that are not text in its character set ({exc.reason}, byte "
                f"0x{exc.object[exc.start]:02x}); fix the row in the source"
            ) from exc


_END = object()


def read_ahead(batches: Iterator[T], depth: int = 2) -> Iterator[T]:
    """The same batches, the next ones fetched by a thread while the caller works on this one.

    Over a WAN a fetch is mostly waiting for the link, and the driver releases the GIL while it
    waits: the round trips then overlap the conversion and the COPY into the stage instead of adding
    to them. At most ``depth`` batches wait, so memory stays bounded. An error of the fetch is raised
    here, in the caller's thread; closing the iterator stops the thread and waits for it.
    """
    waiting: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for batch in batches:
                if not _put(waiting, (batch, None), stop):
                    return
            _put(waiting, (_END, None), stop)
        except BaseException as exc:  # handed to the caller's thread, raised there
            _put(waiting, (_END, exc), stop)

    thread = threading.Thread(target=fetch, name="source-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            batch, error = waiting.get()
            if batch is _END:
                if error is not None:
                    raise error
                return
            yield batch
    finally:
        stop.set()
        thread.join()


def _put(waiting: queue.Queue[tuple[Any, BaseException | None]], item: tuple[Any, BaseException | None],
         stop: threading.Event) -> bool:
    """Queue ``item`` unless the reader stopped; False when it did."""
    while not stop.is_set():
        with contextlib.suppress(queue.Full):
            waiting.put(item, timeout=0.1)
            return True
    return False

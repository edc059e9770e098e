"""Readiness of the ALMA source: reached, every contract table and column there and readable, the
checksum functions of the bucket reads, Oracle's comparison mode, row counts, and how long a baseline
would take. Everything is read in one read-only transaction (``source_snapshot``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    Numeric,
    String,
    Table,
    column,
    func,
    inspect,
    literal,
    select,
    table,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

from etl.check.items import SOURCE, Item, passed
from etl.errors import AlmaMirrorError
from etl.load.buckets import missing_grant
from etl.load.mapping import TableMapping, mirrored_tables
from etl.logs import mask_url
from etl.settings import SourceSettings
from etl.source.contract import TABLE_NAMES, build_contract, contract_table
from etl.source.hashing import PLAIN_HASH, HashSupport, hash_support
from etl.source.objects import source_objects, unreadable

# Rows read from each table to measure the link: enough to fill several fetches, few enough to be quick.
SAMPLE_ROWS: Final = 2_000
ROUND_TRIPS: Final = 5
T = TypeVar("T")

_NLS = table("nls_session_parameters", column("parameter"), column("value"))


def check_source(engine: Engine, settings: SourceSettings) -> list[Item]:
    """Every source item, in the order a person fixes them; never writes to the source."""
    from etl.load.extract import source_snapshot

    contract = build_contract(settings.column_names)
    mappings = {mapping.source.name: mapping for mapping in mirrored_tables(contract)}
    try:
        with source_snapshot(engine, settings.schema) as connection:
            return _checks(connection, [contract_table(contract, name) for name in TABLE_NAMES],
                           mappings, settings)
    except AlmaMirrorError as exc:
        return [Item(
            SOURCE, "connection", False, str(exc),
            "check source.url (ALMAMIRROR_SOURCE_URL): host, port, service name, user, password, and "
            "that this machine may reach it",
        )]


def _checks(
    connection: Connection, tables: Sequence[Table], mappings: dict[str, TableMapping],
    settings: SourceSettings,
) -> list[Item]:
    items = [_connection_item(connection)]
    found = source_objects(connection, settings.schema)
    counts: dict[str, int] = {}  # the tables that passed: their rows
    for source_table in tables:
        item, rows = _table_item(connection, source_table, mappings.get(source_table.name),
                                 found.get(source_table.name), settings.schema)
        items.append(item)
        if item.ok and rows is not None:
            counts[source_table.name] = rows
    readable = [mappings[name] for name in counts if name in mappings]
    items.extend(checksum_items(hash_support(connection), readable, connection.engine.url.username))
    if connection.dialect.name == "oracle":
        items.append(_nls_comp_item(connection))
    items.append(_speed_item(connection, [t for t in tables if t.name in counts], counts, settings))
    return items


def _connection_item(connection: Connection) -> Item:
    version = ".".join(str(part) for part in connection.dialect.server_version_info or ())
    database = "Oracle" if connection.dialect.name == "oracle" else "PostgreSQL"
    mode = ""
    if connection.dialect.name == "oracle":
        thin = getattr(connection.connection.dbapi_connection, "thin", None)
        mode = ", thin mode" if thin else ", thick mode" if thin is not None else ""
    return Item(SOURCE, "connection", True,
                f"connected to {mask_url(connection.engine.url)} ({database} {version}{mode})")


def _table_item(
    connection: Connection, source_table: Table, mapping: TableMapping | None, kind: str | None,
    schema: str,
) -> tuple[Item, int | None]:
    """One contract table: there, its columns there with types the mapping reads, SELECT granted."""
    name = source_table.name.upper()
    wrong = unreadable(source_table.name, kind, schema)
    if wrong is not None:
        what, fix = wrong
        if kind is None and connection.dialect.name == "oracle":
            # Oracle lists only the tables the user may read: a missing grant looks like a missing table.
            fix += f", or GRANT SELECT ON {schema.upper()}.{name} TO {_user(connection)}"
        return Item(SOURCE, name, False, what, fix), None
    problems, fixes = _column_problems(connection, source_table, mapping, kind or "", schema)
    rows: int | None = None
    try:
        rows = _guarded(connection, lambda: int(connection.execute(
            select(func.count()).select_from(source_table)).scalar_one()))
    except DBAPIError as exc:
        problems.append(f"SELECT failed: {_driver_message(exc)}")
        fixes.append(f"GRANT SELECT ON {schema}.{source_table.name} TO {_user(connection)}")
    if problems:
        return Item(SOURCE, name, False, "; ".join(problems), "; ".join(fixes)), rows
    columns = len(source_table.columns)
    return Item(SOURCE, name, True, f"{kind}, {columns} contract columns of types the mirror reads, "
                f"SELECT granted, {rows:,} rows"), rows


def _column_problems(
    connection: Connection, source_table: Table, mapping: TableMapping | None, kind: str, schema: str
) -> tuple[list[str], list[str]]:
    options: dict[str, Any] = {"oracle_resolve_synonyms": True} if connection.dialect.name == "oracle" else {}
    reflected = {
        str(found["name"]).lower(): found["type"]
        for found in inspect(connection).get_columns(source_table.name, schema=schema, **options)
    }
    targets = _targets(mapping)
    missing = [c.name for c in source_table.columns if c.name.lower() not in reflected]
    mistyped = [
        f"{c.name} is {reflected[c.name.lower()]}, which the mirror's {targets[c.key]} cannot take"
        for c in source_table.columns
        if c.name.lower() in reflected and c.key in targets
        and not reads(reflected[c.name.lower()], targets[c.key])
    ]
    problems, fixes = [], []
    if missing:
        problems.append(f"the {kind} lacks column(s) {', '.join(missing)}")
        fixes.append("if the site names a stand-in column otherwise, set it in [source.column_names]; else "
                     "the source's schema is not the contract's")
    if mistyped:
        problems.append("; ".join(mistyped))
        fixes.append("the source's column types are not the contract's (shared CONTRACT.md)")
    return problems, fixes


def _targets(mapping: TableMapping | None) -> dict[str, TypeEngine[Any]]:
    """Contract column key -> the type of the mirror column it is loaded into."""
    if mapping is None:
        return {}
    return {key: mapping.target.c[loaded].type
            for loaded, key in zip(mapping.loaded, mapping.source_columns, strict=True)}


def reads(source_type: TypeEngine[Any], target_type: TypeEngine[Any]) -> bool:
    """Whether ``etl.load.mapping``'s converter for ``target_type`` takes what ``source_type`` yields."""
    if isinstance(target_type, DateTime):
        return isinstance(source_type, DateTime | Date)
    if isinstance(target_type, Integer | Numeric):
        return isinstance(source_type, Integer | Numeric | Float)
    if isinstance(target_type, String):
        return isinstance(source_type, String | Integer | Numeric | Float)
    return False


def checksum_items(support: HashSupport, mappings: Sequence[TableMapping], user: str | None) -> list[Item]:
    """The checksum functions the bucket reads ask of the source, and what the sync does without them."""
    whole = [m.source.name.upper() for m in mappings if not support.can_checksum(m)]
    instead = (f"the sync will read {', '.join(whole)} whole each night instead of only the buckets that "
               "changed (same result, more time on the link)")
    grantee = user or "the sync user"
    oracle = support.dialect == "oracle"
    plain_name, document_name = ("STANDARD_HASH", "DBMS_CRYPTO") if oracle else (PLAIN_HASH, "sha256")
    cannot_run = f"{plain_name} does not answer: the sync's checksum reads cannot run without it"
    return [
        passed(support.plain, SOURCE, f"checksums ({plain_name})",
               f"{plain_name} answers: each night reads only the buckets whose checksums moved"
               if support.plain else cannot_run + (" (it needs Oracle 12c or later)" if oracle else ""),
               "read from Oracle 12c or later" if oracle
               else f"GRANT EXECUTE ON FUNCTION {PLAIN_HASH}(record, bigint) TO {grantee}"),
        passed(support.clob, SOURCE, f"checksums ({document_name})",
               f"{document_name} answers: the OUSStatus documents are checksummed by the source"
               if support.clob
               else f"{missing_grant(support.dialect)} is not granted (it hashes the OUSStatus "
               f"documents): {instead}",
               f"GRANT EXECUTE ON SYS.DBMS_CRYPTO TO {grantee}" if oracle
               else f"GRANT EXECUTE ON FUNCTION sha256(bytea) TO {grantee}"),
    ]


def _nls_comp_item(connection: Connection) -> Item:
    value = connection.execute(select(_NLS.c.value).where(_NLS.c.parameter == literal("NLS_COMP"))).scalar()
    comparison = str(value or "").upper()
    return passed(
        comparison == "BINARY", SOURCE, "NLS_COMP",
        f"NLS_COMP is {comparison or 'unknown'}" + ("" if comparison == "BINARY" else
            ": the buckets compare keys in binary order, as the mirror does; another order puts a key "
            "in another bucket on each side"),
        "ask the DBA to leave NLS_COMP at BINARY for this account (a logon trigger may set it)",
    )


def _speed_item(
    connection: Connection, tables: Sequence[Table], counts: dict[str, int], settings: SourceSettings
) -> Item:
    """The round trip, and a baseline's reading time from a sample of each table read at full speed."""
    trips = []
    for _ in range(ROUND_TRIPS):
        started = time.perf_counter()
        connection.execute(select(literal(1))).scalar()
        trips.append(time.perf_counter() - started)
    round_trip = statistics.median(trips)
    seconds, sampled = 0.0, 0
    for source_table in tables:
        rows = counts[source_table.name]
        if rows == 0:
            continue
        took, read = _sample(connection, source_table, min(rows, SAMPLE_ROWS), settings.arraysize)
        sampled += read
        seconds += took * rows / max(read, 1)
    total = sum(counts.values())
    return Item(
        SOURCE, "speed", True,
        f"round trip {round_trip * 1000:.1f} ms; a baseline reads {total:,} rows: about "
        f"{_duration(seconds)} from the source (measured on {sampled:,} rows; writing the mirror adds to it)",
    )


def _sample(connection: Connection, source_table: Table, rows: int, arraysize: int) -> tuple[float, int]:
    statement = select(*source_table.columns).limit(rows)
    started = time.perf_counter()
    result = connection.execute(statement, execution_options={"yield_per": arraysize})
    read = sum(len(batch) for batch in result.partitions())
    return time.perf_counter() - started, read


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _guarded(connection: Connection, query: Callable[[], T]) -> T:
    """Run ``query``; on PostgreSQL in a savepoint, so that a refusal leaves the snapshot usable."""
    if connection.dialect.name == "oracle":
        return query()
    with connection.begin_nested():
        return query()


def _user(connection: Connection) -> str:
    return connection.engine.url.username or "the sync user"


def _driver_message(exc: DBAPIError) -> str:
    return " ".join(str(exc.orig if exc.orig is not None else exc).split())

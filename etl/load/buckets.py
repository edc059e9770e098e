"""Key-ordered buckets of a source table, and the source's own checksum of each.

A quiet night changes a few hundred of ALMA's 2.5 million rows, and the source is across a WAN: so
instead of reading every row, the sync asks the source for one aggregate per table, a row count and a
checksum for each bucket of the table's keys, and reads only the rows of the buckets whose figures
moved since the last run. The mirror keeps, per table, the buckets' lower keys (chosen from its own
keys when the table was last read whole) and the figures the source gave for each.

Only checksums the source computed are ever compared with each other, so the source's hash needs no
counterpart in the mirror. What both sides must agree on is *which bucket a key is in*: that is a plain
comparison of keys with the stored bounds, done by the same expression (``bucket_of``) in both
databases, text compared byte by byte (``COLLATE "C"`` in PostgreSQL; Oracle compares VARCHAR2 in
binary order under its default ``NLS_COMP``).

A row's digest is a 64-bit hash over every mirrored column, combined so that no two columns can run
together (PostgreSQL's ``hash_record_extended`` of the row; in Oracle the first 60 bits of an MD5 over
a hash per column, whose strings are limited to 4,000 bytes), and the key is part of it: a bucket's
checksum is the sum of its rows' digests, so two changes that would cancel in a sum of values (two
values swapped between rows, +1 here and -1 there) change it, and so does a deleted row, which a sum
of digests has no way to forget.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CLOB,
    BigInteger,
    ColumnElement,
    Connection,
    DateTime,
    Integer,
    Numeric,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy import column as sql_column
from sqlalchemy.dialects import oracle, postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql import FromClause

from etl.load.mapping import TableMapping

# Buckets per table: checksums and row counts the mirror stores, and answers the source sends, per run.
MAX_BUCKETS = 8_192
# Key ranges a read of the moved buckets names at most: the statement's size stays bounded however
# many buckets moved (a range may then span a few buckets that did not).
MAX_RANGES = 32
# A table whose row count drifts this far from its layout's is read whole and laid out again.
RELAYOUT_FACTOR = 2
# Bumped whenever the digest's definition changes: every table is then read whole once.
DIGEST_VERSION = "2"


@dataclass(frozen=True)
class Layout:
    """A table's buckets: bucket 0 holds the keys below ``bounds[0]``, bucket i those from
    ``bounds[i - 1]`` up to ``bounds[i]``, the last bucket every key from the last bound on."""

    bounds: tuple[tuple[Any, ...], ...]

    @property
    def buckets(self) -> int:
        return len(self.bounds) + 1

    def suits(self, rows: int, bucket_rows: int) -> bool:
        """Whether the layout still fits a table of ``rows`` rows (else: read it whole, lay it out again)."""
        wanted = bucket_count(rows, bucket_rows)
        return wanted <= self.buckets * RELAYOUT_FACTOR and self.buckets <= wanted * RELAYOUT_FACTOR


@dataclass(frozen=True)
class BucketFigures:
    """What the source says of one bucket: its rows and their checksum (None: always read it again)."""

    rows: int
    checksum: str | None


def bucket_count(rows: int, bucket_rows: int) -> int:
    """How many buckets a table of ``rows`` rows gets, for about ``bucket_rows`` rows each."""
    return max(1, min(MAX_BUCKETS, math.ceil(rows / bucket_rows)))


def signature(mapping: TableMapping) -> str:
    """What the stored checksums were computed over; another signature means they cannot be compared."""
    parts = [DIGEST_VERSION, mapping.source.name, *(mapping.source.c[c].name for c in mapping.source_columns)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def source_key(mapping: TableMapping, table: Table | None = None) -> list[ColumnElement[Any]]:
    """The source's key columns, in the mirror key's order (``table``: the same columns of an alias)."""
    source = table if table is not None else mapping.source
    by_target = dict(zip(mapping.loaded, mapping.source_columns, strict=True))
    return [source.c[by_target[column]] for column in mapping.key]


def mirror_key(table: Any, key: Sequence[str]) -> list[ColumnElement[Any]]:
    return [table.c[column] for column in key]


def bucket_of(key: Sequence[ColumnElement[Any]], layout: Layout, dialect: str) -> ColumnElement[int]:
    """The bucket of each row's key in PostgreSQL: one search of the bounds, passed as data.

    ``width_bucket(key, bounds)`` counts the bounds at or below the key (bucket 0: below the first):
    a statement of the same size for 1 bucket or 8,192, and an expression that does not grow with
    them either (a tree of comparisons did: JIT compiled it, in every parallel worker, for minutes).
    A key of several columns is searched as a row, compared column by column as a row comparison
    is. A key with a NULL in it goes to the last bucket (as it sorts last: see ``sorted_checksums``).
    Used where few rows are asked (the rows of the key ranges read, a quarantine): over a whole
    table the sort of ``checksum_query`` is cheaper. Oracle has no such search.
    """
    if dialect != "postgresql":
        raise ValueError(f"bucket_of is PostgreSQL's search; {dialect} sorts (checksum_query)")
    if not layout.bounds:
        return literal(0, Integer)
    comparable = [_comparable(column) for column in key]
    search: ColumnElement[int]
    if len(key) == 1:
        search = func.width_bucket(comparable[0], _bounds_array(key[0], layout, 0), type_=Integer)
    else:
        search = func.width_bucket(func.row(*comparable), _bounds_rows(key, layout), type_=Integer)
    return case((_any_null(key), literal(len(layout.bounds), Integer)), else_=search)


def _comparable(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A key column as the bounds hold it: text (compared byte by byte) or bigint.

    Both sides of a row comparison must have the same column types (varchar and text differ there).
    """
    if _is_text(column):
        return cast(column, Text).collate("C")
    return cast(column, BigInteger) if isinstance(column.type, Integer) else column


def _bounds_array(column: ColumnElement[Any], layout: Layout, position: int) -> ColumnElement[Any]:
    """One key column of every bound, as a single array parameter."""
    element: Any = column.type
    if _is_text(column):
        element = Text()
    elif isinstance(column.type, Integer):
        element = BigInteger()
    values = [bound[position] for bound in layout.bounds]
    return cast(bindparam(None, values, type_=postgresql.ARRAY(element)), postgresql.ARRAY(element))


def _bounds_rows(key: Sequence[ColumnElement[Any]], layout: Layout) -> ColumnElement[Any]:
    """Every bound as a row, in order: an array built once per statement (an InitPlan) from one
    array parameter per key column."""
    arrays = [_bounds_array(column, layout, position) for position, column in enumerate(key)]
    names = [f"k{position}" for position in range(len(key))]
    bounds = func.unnest(*arrays).table_valued(*names, with_ordinality="position").render_derived()
    rows = func.array_agg(
        aggregate_order_by(
            func.row(*(
                _comparable_bound(bounds.c[name], column) for name, column in zip(names, key, strict=True)
            )),
            bounds.c.position,
        )
    )
    return select(rows).select_from(bounds).scalar_subquery()


def _comparable_bound(bound: ColumnElement[Any], column: ColumnElement[Any]) -> ColumnElement[Any]:
    return bound.collate("C") if _is_text(column) else bound


def _any_null(key: Sequence[ColumnElement[Any]]) -> ColumnElement[bool]:
    return or_(*(column.is_(None) for column in key))


def _is_text(column: ColumnElement[Any]) -> bool:
    return isinstance(column.type, String | Text)


def key_below(
    key: Sequence[ColumnElement[Any]], bound: Sequence[Any], dialect: str
) -> ColumnElement[bool]:
    """``key < bound`` in key order: a row comparison in PostgreSQL (one operator, measurably cheaper
    over a million rows), written out column by column for Oracle, which has none."""
    values = [literal(value, column.type) for column, value in zip(key, bound, strict=True)]
    if len(key) > 1 and dialect == "postgresql":
        return tuple_(*key) < tuple_(*values)
    return _written_out_below(key, values)


def _written_out_below(
    key: Sequence[ColumnElement[Any]], values: Sequence[ColumnElement[Any]]
) -> ColumnElement[bool]:
    first, *rest = key
    if not rest:
        return first < values[0]
    return or_(first < values[0], and_(first == values[0], _written_out_below(rest, values[1:])))


def in_buckets(
    key: Sequence[ColumnElement[Any]], layout: Layout, buckets: Sequence[int], dialect: str
) -> ColumnElement[bool]:
    """The rows of ``buckets``: key ranges, so an index on the key can find them.

    At most ``MAX_RANGES`` ranges, whatever the number of buckets: beyond that the closest runs of
    buckets are read as one range. In PostgreSQL the bucket search (``bucket_of``) then keeps
    exactly the rows of ``buckets`` among the ranges' (the mirror deletes only within them).
    Oracle reads the ranges, which may then hold a few buckets more: their rows are as the mirror
    has them (their checksums did not move), so merging them changes nothing, and the mirror's
    deletes stay within ``buckets``.
    """
    ordered = [_in_key_order(column, dialect) for column in key]
    wanted = sorted(set(buckets))
    runs = _runs(wanted)
    covering = _covering(runs)
    ranges = [_bucket_range(ordered, layout, first, last, dialect) for first, last in covering]
    # A key with a NULL in it is in the last bucket, and in no range (a row comparison may hold
    # one: (a, NULL) < (b, c) where a < b).
    null_key = [_any_null(key)] if wanted and wanted[-1] == layout.buckets - 1 else []
    keyed = and_(or_(*ranges), ~_any_null(key)) if len(key) > 1 else or_(*ranges)
    within = or_(keyed, *null_key)
    if covering == runs or dialect != "postgresql":
        return within
    # Searched only for the rows of the ranges (CASE: whatever order the planner gives the two).
    moved = cast(bindparam(None, wanted, type_=postgresql.ARRAY(Integer)), postgresql.ARRAY(Integer))
    exact = case((within, bucket_of(key, layout, dialect) == func.any(moved)), else_=literal(False))
    return and_(within, exact)


def _bucket_range(
    key: Sequence[ColumnElement[Any]], layout: Layout, first: int, last: int, dialect: str
) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if first > 0:
        conditions.append(~key_below(key, layout.bounds[first - 1], dialect))
    if last < layout.buckets - 1:
        conditions.append(key_below(key, layout.bounds[last], dialect))
    return and_(*conditions) if conditions else literal(True)


def _runs(buckets: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive buckets as (first, last) ranges: 1, 2, 3, 7 → (1, 3), (7, 7)."""
    runs: list[tuple[int, int]] = []
    for bucket in buckets:
        if runs and runs[-1][1] == bucket - 1:
            runs[-1] = (runs[-1][0], bucket)
        else:
            runs.append((bucket, bucket))
    return runs


def _covering(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """At most ``MAX_RANGES`` ranges covering ``runs``: the widest gaps between runs are kept."""
    if len(runs) <= MAX_RANGES:
        return runs
    by_gap = sorted(range(1, len(runs)), key=lambda i: runs[i][0] - runs[i - 1][1], reverse=True)
    splits = sorted(by_gap[:MAX_RANGES - 1])
    return [
        (runs[first][0], runs[end - 1][1])
        for first, end in zip([0, *splits], [*splits, len(runs)], strict=True)
    ]


def _in_key_order(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql" and isinstance(column.type, String | Text):
        return column.collate("C")
    return column


def checksum_query(mapping: TableMapping, layout: Layout, dialect: str) -> Select[Any]:
    """One aggregate over the source table: (bucket, rows, checksum) for every non-empty bucket.

    The rows are sorted among the bounds (``sorted_checksums``), in both databases: the statement's
    size does not depend on the number of buckets (the bounds are one parameter), and a sort costs
    less than a search per row. (PostgreSQL's ``width_bucket``, ``bucket_of``, walks an array of
    text element by element to reach the middle: 3,000 bounds cost 3 to 4 times the digests.)
    """
    if layout.bounds:
        return sorted_checksums(mapping, layout, dialect)
    source = mapping.source
    columns = [source.c[column] for column in mapping.source_columns]
    digests = select(
        literal(0, Integer).label("bucket"), row_digest(columns, dialect).label("digest")
    ).subquery("digests")
    return _figures(digests, dialect)


def sorted_checksums(mapping: TableMapping, layout: Layout, dialect: str) -> Select[Any]:
    """The checksum query by sorting: each row's bucket is the number of bounds sorted before it.

    The rows and the bounds are sorted together in key order, a bound before a row of the same key
    (a bucket starts at its bound), keys with a NULL in them after everything; a running count of
    the bounds then numbers each row's bucket. One sort of the table (no index, no per-row search
    over a list), in SQL both databases take: the PostgreSQL stand-in runs it in the tests.
    """
    key = source_key(mapping)
    names = [f"k{position}" for position in range(len(key))]
    source = mapping.source
    digest = row_digest([source.c[column] for column in mapping.source_columns], dialect)
    rows = select(
        *(column.label(name) for column, name in zip(key, names, strict=True)),
        digest.label("digest"), literal_column("0").label("is_bound"),
    )
    bounds = bounds_table(key, layout, dialect)
    marks = select(*(bounds.c[name] for name in names), null().label("digest"), literal_column("1"))
    both = union_all(rows, marks).subquery("marked")
    order = [
        case((_any_null([both.c[name] for name in names]), literal_column("1")), else_=literal_column("0")),
        *(_sort_key(both.c[name], column, dialect) for name, column in zip(names, key, strict=True)),
        both.c.is_bound.desc(),
    ]
    bounds_so_far = func.count(case((both.c.is_bound == 1, literal_column("1"))))
    bucket = bounds_so_far.over(order_by=order, rows=(None, 0))
    numbered = select(bucket.label("bucket"), both.c.digest).subquery("numbered")
    # The bounds' rows are counted out by their NULL digest rather than filtered out: a filter on
    # the marker made PostgreSQL expect a few thousand rows and sort them all again by bucket; over
    # every row it hashes the few thousand buckets instead.
    return _figures(numbered, dialect).having(func.count(numbered.c.digest) > 0)


def _figures(digests: Any, dialect: str) -> Select[Any]:
    """Rows and checksum per bucket; a row's digest is never NULL, so only rows are counted."""
    return select(
        digests.c.bucket,
        func.count(digests.c.digest).label("row_count"),
        cast(func.sum(digests.c.digest), _checksum_text(dialect)).label("checksum"),
    ).group_by(digests.c.bucket)


def _sort_key(value: ColumnElement[Any], column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """Byte order for text: ``COLLATE "C"``, or Oracle's NLSSORT, whatever the session's NLS_SORT."""
    if not _is_text(column):
        return value
    if dialect == "oracle":
        return func.nlssort(value, literal_column("'NLS_SORT=BINARY'"))
    return value.collate("C")


# The JSON_TABLE columns for a key column's bounds; the statement holds these words, never a value.
_ORACLE_BOUND_TYPES = {True: " VARCHAR2(4000) PATH '$[", False: " NUMBER PATH '$["}


def bounds_table(key: Sequence[ColumnElement[Any]], layout: Layout, dialect: str) -> FromClause:
    """The layout's bounds as rows (columns k0, k1, …), from one parameter whatever their number:
    arrays unnested in PostgreSQL, a JSON document read by JSON_TABLE (12c) in Oracle."""
    names = [f"k{position}" for position in range(len(key))]
    if dialect == "postgresql":
        arrays = [_bounds_array(column, layout, position) for position, column in enumerate(key)]
        return func.unnest(*arrays).table_valued(*names).render_derived().alias("bounds")
    paths = ", ".join(
        name + _ORACLE_BOUND_TYPES[_is_text(column)] + str(position) + "]'"
        for position, (name, column) in enumerate(zip(names, key, strict=True))
    )
    document = json.dumps([list(bound) for bound in layout.bounds], separators=(",", ":"))
    statement = text(
        "SELECT " + ", ".join(names) + " FROM JSON_TABLE(:bounds, '$[*]' COLUMNS (" + paths + "))"
    )
    typed = statement.bindparams(bindparam("bounds", document, type_=CLOB)).columns(
        *(sql_column(name, column.type) for name, column in zip(names, key, strict=True))
    )
    return typed.subquery("bounds")


def read_checksums(rows: Sequence[Sequence[Any]], layout: Layout) -> dict[int, BucketFigures]:
    """The checksum query's answer for every bucket of the layout, empty ones included."""
    figures = {bucket: BucketFigures(0, "0") for bucket in range(layout.buckets)}
    for bucket, row_count, checksum in rows:
        figures[int(bucket)] = BucketFigures(int(row_count), str(checksum))
    return figures


def moved_buckets(
    before: Mapping[int, BucketFigures], now: Mapping[int, BucketFigures]
) -> list[int]:
    """Buckets whose figures differ, or that were stored without a checksum (they held bad rows)."""
    return sorted(
        bucket for bucket, figures in now.items()
        if before.get(bucket) != figures or figures.checksum is None
        or before[bucket].checksum is None
    )


def row_digest(columns: Sequence[ColumnElement[Any]], dialect: str) -> ColumnElement[Any]:
    if dialect == "oracle":
        return _oracle_digest(columns)
    return _postgresql_digest(columns)


def _postgresql_digest(columns: Sequence[ColumnElement[Any]]) -> ColumnElement[Any]:
    """``hash_record_extended`` of the row: a 64-bit hash of each column's value, combined in column
    order (a value moved to another column changes it; a NULL hashes apart from any value).

    Built in, and several times cheaper than an MD5 over the columns' text (each call of ``md5``
    sets up a hash context of its own: over a million rows that was most of a quiet night). A value
    is hashed as its type compares it, as the merge does (``IS DISTINCT FROM``): only a change the
    merge would write moves a checksum.

    A document (the stand-in's CLOB) goes in as its SHA-256, a function of its own, as Oracle's
    goes through DBMS_CRYPTO: a stand-in whose reading role may not execute it is an account
    without EXECUTE on DBMS_CRYPTO (``can_checksum``).
    """
    parts = [
        postgresql_document_hash(column) if isinstance(column.type, Text) else column for column in columns
    ]
    return func.hash_record_extended(func.row(*parts), literal_column("0"), type_=BigInteger)


def postgresql_document_hash(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The PostgreSQL stand-in's digest of a document (what DBMS_CRYPTO.HASH is on Oracle)."""
    # textsend: the text's bytes as stored, whatever the database's encoding.
    return func.encode(func.sha256(func.textsend(column)), literal("hex"))


# What hashes a document on each side, and the grant it needs.
_DOCUMENT_HASH = {
    "oracle": "EXECUTE on DBMS_CRYPTO",
    "postgresql": "EXECUTE on the function sha256(bytea)",
}


def document_columns(mapping: TableMapping) -> list[str]:
    """The mirrored columns that are documents (CLOBs): those a source hashes with a granted function."""
    return [column for column in mapping.source_columns if isinstance(mapping.source.c[column].type, Text)]


def can_checksum(source: Connection, mapping: TableMapping) -> bool:
    """Whether this source connection may compute ``mapping``'s bucket checksums.

    Every column is hashed with built-in functions anyone may call, but a document (a CLOB): Oracle's
    STANDARD_HASH takes no LOB, so DBMS_CRYPTO hashes it, which read-only accounts often may not
    execute. The PostgreSQL stand-in's equivalent: its reading role may be refused sha256(bytea).
    """
    if not document_columns(mapping):
        return True
    if source.dialect.name == "oracle":
        granted = select(func.count()).select_from(text("all_procedures")).where(
            literal_column("owner") == "SYS", literal_column("object_name") == "DBMS_CRYPTO"
        )
        return bool(source.execute(granted).scalar_one())
    privilege = func.has_function_privilege(literal("pg_catalog.sha256(bytea)"), literal("EXECUTE"))
    return bool(source.execute(select(privilege)).scalar_one())


def missing_grant(dialect: str) -> str:
    """The grant ``can_checksum`` found missing, as an operator would give it."""
    return _DOCUMENT_HASH.get(dialect, _DOCUMENT_HASH["postgresql"])


def _oracle_digest(columns: Sequence[ColumnElement[Any]]) -> ColumnElement[Any]:
    """The first 60 bits of an MD5 over the columns' own MD5s (fixed width: nothing runs together)."""
    parts = [case((column.is_(None), literal("~")), else_=_oracle_column_md5(column)) for column in columns]
    text: ColumnElement[Any] = parts[0]
    for part in parts[1:]:
        text = text + part
    return func.to_number(func.substr(_oracle_md5(text), 1, 15), literal("XXXXXXXXXXXXXXX"))


def _oracle_md5(text: ColumnElement[Any]) -> ColumnElement[Any]:
    # The method must be a constant of the statement, not a bind parameter.
    return func.rawtohex(func.standard_hash(text, literal("MD5", literal_execute=True)))


def _oracle_column_md5(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A value's MD5 in hexadecimal, from text that no session setting changes (dates and numbers
    are NLS-dependent)."""
    if isinstance(column.type, Text):
        # A CLOB: STANDARD_HASH takes no LOB; DBMS_CRYPTO.HASH does (2: MD5), given EXECUTE on it.
        return func.rawtohex(func.dbms_crypto.hash(column, literal(2)))
    text: ColumnElement[Any]
    if isinstance(column.type, DateTime):
        text = func.to_char(cast(column, oracle.TIMESTAMP()), literal("YYYY-MM-DD HH24:MI:SS.FF6"))
    elif isinstance(column.type, Numeric | Integer | BigInteger):
        text = func.to_char(column, literal("TM9"), literal("NLS_NUMERIC_CHARACTERS='.,'"))
    else:
        text = type_coerce(column, String)
    return _oracle_md5(text)


def _checksum_text(dialect: str) -> Any:
    return String(40) if dialect == "oracle" else Text

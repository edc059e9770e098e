"""The bucket search: bounds are data, so no statement grows with the number of buckets.

The source's checksums find each row's bucket by sorting the rows among the bounds (the same SQL on
Oracle and on the stand-in); the mirror searches the bounds with ``width_bucket``. Both ways must
put every key, a NULL in it or not, in the same bucket.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Text, func, insert, select, text
from sqlalchemy.dialects import oracle, postgresql
from sqlalchemy.engine import URL

from etl.database import create_source_engine
from etl.load.buckets import (
    MAX_BUCKETS,
    MAX_RANGES,
    Layout,
    _covering,
    bucket_of,
    checksum_query,
    in_buckets,
    read_checksums,
    row_digest,
    source_key,
)
from etl.load.mapping import TableMapping, mirrored_tables
from etl.source.contract import CONTRACT, source_execution_options
from tests.conftest import settings_for

MAPPINGS = {mapping.name: mapping for mapping in mirrored_tables(CONTRACT)}


def _layout(mapping: TableMapping, buckets: int) -> Layout:
    """``buckets`` buckets of made-up keys, rising in byte order."""
    def value(column: Any, n: int) -> Any:
        return f"uid://A{n:06d}" if column.type.python_type is str else n * 1_000
    return Layout(tuple(
        tuple(value(column, n) for column in source_key(mapping)) for n in range(1, buckets)
    ))


def _oracle(statement: Any) -> str:
    return str(statement.compile(dialect=oracle.dialect()))


def _postgresql(statement: Any) -> str:
    return str(statement.compile(dialect=postgresql.dialect()))


@pytest.mark.parametrize("mapping", mirrored_tables(CONTRACT), ids=lambda mapping: mapping.name)
def test_no_statement_grows_with_the_number_of_buckets(mapping: TableMapping) -> None:
    few, most = _layout(mapping, 3), _layout(mapping, MAX_BUCKETS)
    checksums = {
        dialect: [len(compile_(checksum_query(mapping, layout, dialect))) for layout in (few, most)]
        for dialect, compile_ in (("oracle", _oracle), ("postgresql", _postgresql))
    }
    # Every other bucket moved: more runs than ranges, so the closest are joined.
    moved = list(range(0, MAX_BUCKETS, 2))
    reads = {
        dialect: len(compile_(select(mapping.source).where(
            in_buckets(source_key(mapping), most, moved, dialect)
        )))
        for dialect, compile_ in (("oracle", _oracle), ("postgresql", _postgresql))
    }
    print(f"{mapping.name}: Oracle checksum statement {checksums['oracle'][1]:,} characters "
          f"(PostgreSQL {checksums['postgresql'][1]:,}); a read of {len(moved):,} buckets: Oracle "
          f"{reads['oracle']:,}, PostgreSQL {reads['postgresql']:,}")
    for sizes in checksums.values():
        assert sizes[0] == sizes[1]
    assert checksums["oracle"][1] < 6_000
    assert max(reads.values()) < 30_000


def test_the_oracle_read_of_many_buckets_names_a_bounded_number_of_ranges() -> None:
    runs = [(n, n) for n in range(0, 1_000, 3)]  # 334 runs, gaps of 2
    runs[100:103] = [(300, 305)]
    covering = _covering(runs)
    assert len(covering) == MAX_RANGES
    covered = {bucket for first, last in covering for bucket in range(first, last + 1)}
    assert covered >= {bucket for first, last in runs for bucket in range(first, last + 1)}
    assert covering[0][0] == 0
    assert covering[-1][1] == runs[-1][1]
    assert _covering(runs[:5]) == runs[:5]


def test_oracle_s_statements_carry_the_bounds_as_one_parameter() -> None:
    mapping = MAPPINGS["product_file"]
    compiled = _oracle(checksum_query(mapping, _layout(mapping, 100), "oracle"))
    assert "JSON_TABLE(:bounds" in compiled
    assert "uid://A000050" not in compiled
    assert "nlssort(" in compiled  # byte order, whatever the session's NLS_SORT
    assert "CASE WHEN" in compiled
    assert compiled.count("standard_hash") > 1


@pytest.mark.parametrize("name", ["product_file", "execution_block", "shiftlog_entry", "ous"])
def test_sorting_and_searching_put_every_row_in_the_same_bucket(
    demo_source: URL, test_home: Path, name: str
) -> None:
    """The checksums' way (sorted, as on Oracle) puts every row in the bucket the mirror's search
    does, a key with a NULL in it included."""
    mapping = MAPPINGS[name]
    settings = settings_for(demo_source, None, test_home)
    engine = create_source_engine(demo_source, settings)
    try:
        with engine.connect() as plain:
            source = plain.execution_options(**source_execution_options(settings.source.schema))
            with source.begin() as transaction:
                layout = _layout_from_keys(source, mapping, 7)
                _add_null_key_rows(source, mapping)
                searched = source.execute(_searched_checksums(mapping, layout)).all()
                sorted_ = source.execute(checksum_query(mapping, layout, "postgresql")).all()
                transaction.rollback()
    finally:
        engine.dispose()
    assert read_checksums(sorted_, layout) == read_checksums(searched, layout)
    assert len(searched) == layout.buckets  # no bucket empty: each one was compared
    assert len({checksum for _bucket, _rows, checksum in searched}) == layout.buckets


def _searched_checksums(mapping: TableMapping, layout: Layout) -> Any:
    """The checksum query with each row's bucket searched (``bucket_of``), as the mirror finds it."""
    columns = [mapping.source.c[column] for column in mapping.source_columns]
    bucket = bucket_of(source_key(mapping), layout, "postgresql").label("bucket")
    digests = select(bucket, row_digest(columns, "postgresql").label("digest")).subquery()
    return select(digests.c.bucket, func.count(), func.sum(digests.c.digest).cast(Text)).group_by(
        digests.c.bucket
    )


def _layout_from_keys(source: Connection, mapping: TableMapping, buckets: int) -> Layout:
    key = source_key(mapping)
    ordered = [c.collate("C") if c.type.python_type is str else c for c in key]
    keys = source.execute(select(*key).order_by(*ordered)).all()
    step = len(keys) // buckets
    # Each bound the key of a row: a row exactly on a bound starts its bucket.
    return Layout(tuple(tuple(k) for k in keys[step::step][: buckets - 1]))


def _add_null_key_rows(source: Connection, mapping: TableMapping) -> None:
    """Rows whose key (or a part of it) is NULL: a source without the constraint can hold them."""
    table = mapping.source
    key = source_key(mapping)
    template = dict(source.execute(select(table).limit(1)).mappings().one())
    source.execute(text(f"ALTER TABLE alma.{table.name} DROP CONSTRAINT IF EXISTS {table.name}_pkey"))
    for column in key:
        source.execute(text(f"ALTER TABLE alma.{table.name} ALTER COLUMN {column.name} DROP NOT NULL"))
        source.execute(insert(table).values({**template, column.key: None}))

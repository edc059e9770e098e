"""A night reads only the buckets whose source checksums moved, and still finds every change."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Integer,
    Numeric,
    String,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
    values,
)
from sqlalchemy import column as sql_column
from sqlalchemy.engine import URL, make_url

from etl.database import create_source_engine
from etl.load.bucket_state import buckets_table
from etl.load.buckets import (
    Layout,
    _written_out_below,
    bucket_of,
    checksum_query,
    key_below,
    mirror_key,
    read_checksums,
    source_key,
)
from etl.load.mapping import TableMapping, mirrored_tables
from etl.mirror import SyncRunTable, table_of
from etl.settings import Settings
from etl.source.contract import CONTRACT, contract_table, source_execution_options
from tests.conftest import DatabaseFactory, settings_for
from tests.helpers import connect, rows, scalar, sync_with

MAPPINGS = {mapping.name: mapping for mapping in mirrored_tables(CONTRACT)}
products = contract_table(CONTRACT, "asa_product_files")
execblocks = contract_table(CONTRACT, "aqua_execblock")
run_tables = table_of(SyncRunTable)
# Small buckets, so the small demo archive's tables have many.
BUCKET_ROWS = 8


def bucket_settings(source: URL, mirror: URL, home: Path, **source_options: Any) -> Settings:
    settings = settings_for(source, mirror, home, {"ALMAMIRROR_LOG_LEVEL": "WARNING"})
    options = dataclasses.replace(settings.source, bucket_rows=BUCKET_ROWS, **source_options)
    return dataclasses.replace(settings, source=options)


@pytest.fixture(scope="module")
def baseline_night(
    databases: DatabaseFactory, migrated_template: str, demo_source: URL, test_home: Path
) -> Iterator[tuple[str, str]]:
    """Templates (source, mirror): a copy of the small source and a mirror after its baseline sync with
    small buckets. The baseline is the same for every test, so it is synced once; tests clone both."""
    source = databases.create("buckets_source", template="source_small")
    mirror = databases.create("buckets_baseline", template=migrated_template)
    sync_with(bucket_settings(source, mirror, test_home))  # its engines are closed: both can be cloned
    yield "buckets_source", "buckets_baseline"
    databases.discard("buckets_source")
    databases.discard("buckets_baseline")


@pytest.fixture
def night(
    databases: DatabaseFactory, baseline_night: tuple[str, str], test_home: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Settings]:
    """A mirror after its baseline sync with small buckets; the source is this test's to change."""
    slug = hashlib.blake2s(request.node.nodeid.encode()).hexdigest()[:10]
    source_template, mirror_template = baseline_night
    source = databases.create(f"bsrc_{slug}", template=source_template)
    mirror = databases.create(f"bm_{slug}", template=mirror_template)
    yield bucket_settings(source, mirror, test_home)
    databases.discard(f"bsrc_{slug}")
    databases.discard(f"bm_{slug}")


def table_figures(settings: Settings, run_id: int, table: str) -> dict[str, Any]:
    url = _mirror_url(settings)
    return dict(rows(url, select(run_tables).where(
        run_tables.c.run_id == run_id, run_tables.c.table_name == table
    ))[0])


def _mirror_url(settings: Settings) -> URL:
    assert settings.mirror.url is not None
    return make_url(settings.mirror.url)


def _source_url(settings: Settings) -> URL:
    assert settings.source.url is not None
    return make_url(settings.source.url)


def assert_mirror_is_the_source(settings: Settings) -> None:
    """A full read of every table finds nothing left to change: the night missed nothing."""
    summary = sync_with(settings, full=True)
    mirrored = [figures for figures in summary.tables if figures.table in MAPPINGS]
    assert [(f.table, f.changed) for f in mirrored if f.changed] == []


def stored_layout(settings: Settings, table: str) -> dict[str, Any]:
    url = _mirror_url(settings)
    return dict(rows(url, select(buckets_table).where(buckets_table.c.table_name == table))[0])


def test_a_quiet_night_pulls_no_row_and_writes_no_bucket(night: Settings) -> None:
    before = rows(_mirror_url(night), select(buckets_table).order_by(buckets_table.c.table_name))
    summary = sync_with(night)
    for figures in summary.tables:
        if figures.table in MAPPINGS:
            assert figures.rows_pulled == 0, figures.table
            assert figures.rows_read > 0, figures.table
    assert rows(_mirror_url(night), select(buckets_table).order_by(buckets_table.c.table_name)) == before


def test_the_baseline_lays_out_buckets_by_table_size(night: Settings) -> None:
    for name in ("product_file", "execution_block", "project"):
        layout = stored_layout(night, name)
        table_rows = sum(layout["row_counts"])
        assert len(layout["row_counts"]) == -(-table_rows // BUCKET_ROWS)
        assert max(layout["row_counts"]) <= BUCKET_ROWS + 1
        assert None not in layout["checksums"]


def test_an_insert_an_update_and_a_delete_are_found_reading_few_rows(night: Settings) -> None:
    source = _source_url(night)
    with connect(source) as connection:
        first, last = _first_and_last_keys(connection, products)
        connection.execute(
            update(products).where(_product(first)).values(stored_size=products.c.stored_size + 1)
        )
        connection.execute(delete(products).where(_product(last)))
        connection.execute(insert(products).values(
            asa_ous_id=first[0], ngas_file_id="member.uid___A001_X1_X1.extra.tgz", stored_size=7,
            file_class="calibration",
        ))
    summary = sync_with(night)
    figures = table_figures(night, summary.run_id, "product_file")
    assert (figures["inserted"], figures["updated"], figures["deleted"]) == (1, 1, 1)
    assert figures["rows_pulled"] <= 3 * (BUCKET_ROWS + 1)
    assert figures["rows_read"] == scalar(source, select(func.count()).select_from(products))
    assert_mirror_is_the_source(night)


def test_a_key_whose_row_moves_to_another_bucket_is_found(night: Settings) -> None:
    source = _source_url(night)
    with connect(source) as connection:
        first, _last = _first_and_last_keys(connection, products)
        # The lowest key becomes the highest: its row leaves the first bucket for the last.
        connection.execute(update(products).where(_product(first)).values(asa_ous_id="uid://Z999/X1/X1"))
    summary = sync_with(night)
    figures = table_figures(night, summary.run_id, "product_file")
    assert (figures["inserted"], figures["updated"], figures["deleted"]) == (1, 0, 1)
    assert_mirror_is_the_source(night)


def test_two_changes_that_cancel_in_a_sum_of_values_are_found(night: Settings) -> None:
    source = _source_url(night)
    with connect(source) as connection:
        a, b = _two_keys_of_one_bucket(connection, night)
        sizes = dict(connection.execute(
            select(products.c.ngas_file_id, products.c.stored_size).where(_product(a) | _product(b))
        ).all())
        # Swapped sizes keep the bucket's sum of sizes, and so does +1 here and -1 there.
        connection.execute(update(products).where(_product(a)).values(stored_size=sizes[b[1]] + 1))
        connection.execute(update(products).where(_product(b)).values(stored_size=sizes[a[1]] - 1))
    summary = sync_with(night)
    figures = table_figures(night, summary.run_id, "product_file")
    assert figures["updated"] == 2
    assert_mirror_is_the_source(night)


def test_buckets_are_laid_out_again_when_a_table_grows_far(night: Settings) -> None:
    source = _source_url(night)
    before = len(stored_layout(night, "execution_block")["row_counts"])
    with connect(source) as connection:
        template = dict(connection.execute(select(execblocks).limit(1)).mappings().one())
        grown = [
            {**template, "execblockuid": f"uid://A999/X{n:x}/X1"} for n in range(before * BUCKET_ROWS * 2)
        ]
        connection.execute(insert(execblocks), grown)
    summary = sync_with(night)
    figures = table_figures(night, summary.run_id, "execution_block")
    assert figures["inserted"] == len(grown)
    assert figures["rows_pulled"] == figures["rows_read"]  # read whole, to lay it out again
    after = stored_layout(night, "execution_block")
    assert len(after["row_counts"]) == -(-figures["rows_read"] // BUCKET_ROWS)
    assert_mirror_is_the_source(night)


def test_every_table_is_read_whole_once_its_full_read_is_due(night: Settings) -> None:
    settings = dataclasses.replace(
        night, source=dataclasses.replace(night.source, full_read_every=timedelta(seconds=1))
    )
    baseline = stored_layout(settings, "product_file")
    full_read_at = baseline["full_read_at"]
    with connect(_mirror_url(settings)) as connection:  # the baseline as if it were a week old
        connection.execute(update(buckets_table).values(full_read_at=func.now() - timedelta(days=8)))
    summary = sync_with(settings)
    for figures in summary.tables:
        if figures.table in MAPPINGS:
            assert figures.rows_pulled == figures.rows_read, figures.table
    layout = stored_layout(settings, "product_file")
    assert layout["full_read_run_id"] == summary.run_id != baseline["full_read_run_id"]
    assert layout["full_read_at"] > full_read_at


def test_a_bucket_holding_a_quarantined_row_is_read_every_night(night: Settings) -> None:
    source = _source_url(night)
    with connect(source) as connection:
        first, _last = _first_and_last_keys(connection, products)
        # A source without the constraint can hold a repeated key.
        connection.execute(text("ALTER TABLE alma.asa_product_files DROP CONSTRAINT asa_product_files_pkey"))
        connection.execute(insert(products).values(
            asa_ous_id=first[0], ngas_file_id=first[1], stored_size=1, file_class="calibration"
        ))
    summary = sync_with(night)
    assert table_figures(night, summary.run_id, "product_file")["quarantined"] == 2
    assert None in stored_layout(night, "product_file")["checksums"]
    again = sync_with(night)
    figures = table_figures(night, again.run_id, "product_file")
    assert figures["quarantined"] == 2  # re-read, and so still reported, though nothing moved
    assert 0 < figures["rows_pulled"] <= BUCKET_ROWS + 2
    with connect(source) as connection:  # fixed in the source: the bucket is checksummed again
        connection.execute(delete(products).where(_product(first), products.c.stored_size == 1))
    sync_with(night)
    assert None not in stored_layout(night, "product_file")["checksums"]


def test_a_full_sync_of_an_unchanged_source_keeps_the_layout_and_checksums(night: Settings) -> None:
    before = stored_layout(night, "product_file")
    sync_with(night, full=True)
    after = stored_layout(night, "product_file")
    assert (after["bounds"], after["row_counts"], after["checksums"]) == (
        before["bounds"], before["row_counts"], before["checksums"]
    )
    assert after["full_read_run_id"] > before["full_read_run_id"]


def test_the_mirror_puts_every_key_in_the_bucket_the_source_does(night: Settings) -> None:
    """Deletes are scoped to the buckets read: both databases must agree on every key's bucket."""
    for name in ("product_file", "execution_block", "shiftlog_entry"):
        mapping = MAPPINGS[name]
        layout = Layout(tuple(tuple(bound) for bound in stored_layout(night, name)["bounds"]))
        assert layout.buckets > 1
        key = [column.key for column in source_key(mapping)]
        with _source(night) as source:
            in_source = {tuple(row) for row in source.execute(select(
                *source_key(mapping), bucket_of(source_key(mapping), layout, "postgresql")
            ))}
        in_mirror = set(rows_of(_mirror_url(night), select(
            *mirror_key(mapping.target, mapping.key),
            bucket_of(mirror_key(mapping.target, mapping.key), layout, "postgresql"),
        )))
        assert in_source == in_mirror, (name, key)


@pytest.fixture(scope="module")
def small_source(databases: DatabaseFactory, demo_source: URL, test_home: Path) -> Iterator[Connection]:
    """One connection, for the module, to a copy of the small source read with the contract's schema;
    each test changes it inside a transaction it rolls back."""
    url = databases.create("buckets_columns", template="source_small")
    settings = settings_for(url, None, test_home)
    engine = create_source_engine(url, settings)
    try:
        with engine.connect() as plain:
            yield plain.execution_options(**source_execution_options(settings.source.schema))
    finally:
        engine.dispose()
        databases.discard("buckets_columns")


@pytest.mark.parametrize(
    ("table", "column"),
    [(name, column) for name, mapping in MAPPINGS.items() for column in mapping.source_columns],
)
def test_a_change_in_any_column_moves_exactly_its_bucket(small_source: Connection, table: str,
                                                        column: str) -> None:
    mapping = MAPPINGS[table]
    source = small_source
    with source.begin() as transaction:
        layout = _layout_of(source, mapping)
        before = read_checksums(source.execute(checksum_query(mapping, layout, "postgresql")).all(), layout)
        old_key, new_key = _change_one_value(source, mapping, column)
        after = read_checksums(source.execute(checksum_query(mapping, layout, "postgresql")).all(), layout)
        # A changed key may take its row to another bucket: then both move.
        buckets = {_bucket_of_key(source, mapping, layout, key) for key in (old_key, new_key)}
        transaction.rollback()
    moved = [b for b in before if before[b] != after[b]]
    assert moved == sorted(buckets)


def _bucket_of_key(source: Connection, mapping: TableMapping, layout: Layout, key: tuple[Any, ...]) -> int:
    values = [literal(v, c.type) for c, v in zip(source_key(mapping), key, strict=True)]
    return int(source.execute(select(bucket_of(values, layout, "postgresql"))).scalar_one())


def _change_one_value(
    source: Connection, mapping: TableMapping, column_key: str
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Change one row's value in ``column_key`` (its key, for a key column); the row's key before and
    after."""
    table = mapping.source
    column = table.c[column_key]
    key = source_key(mapping)
    row = source.execute(
        select(*key, column).where(column.is_not(None)).order_by(*key).limit(1)
    ).first() or source.execute(select(*key, column).order_by(*key).limit(1)).one()
    *key_values, value = row
    new_value = _another_value(column, value, is_key=any(k.key == column_key for k in key))
    matches = [k == v for k, v in zip(key, key_values, strict=True)]
    source.execute(update(table).where(*matches).values({column: new_value}))
    new_key = tuple(new_value if k.key == column_key else v for k, v in zip(key, key_values, strict=True))
    return tuple(key_values), new_key


def _another_value(column: Column[Any], value: Any, is_key: bool) -> Any:
    if value is None:
        return _a_value_for(column)
    if isinstance(column.type, DateTime):
        return value + timedelta(seconds=1)
    if isinstance(column.type, Integer | Numeric):
        # The smallest step a NUMERIC(12, 6) keeps; a key: one no other row has.
        return value + (Decimal("0.000001") if isinstance(value, Decimal) else 10**9 if is_key else 1)
    if getattr(column.type, "length", None) == 1:
        return "N" if value != "N" else "Y"
    return f"{value}x"


def _a_value_for(column: Column[Any]) -> Any:
    if isinstance(column.type, DateTime):
        return "2020-01-01 00:00:00"
    return 1 if isinstance(column.type, Integer | Numeric) else "x"


def _layout_of(source: Connection, mapping: TableMapping) -> Layout:
    """Four buckets over the table's keys (a layout as the mirror would choose one)."""
    key = source_key(mapping)
    ordered = [c.collate("C") if c.type.python_type is str else c for c in key]
    keys = source.execute(select(*key).order_by(*ordered)).all()
    step = max(1, len(keys) // 4)
    return Layout(tuple(tuple(k) for k in keys[step::step][:3]))


def _first_and_last_keys(connection: Connection, table: Any) -> tuple[tuple[str, str], tuple[str, str]]:
    ordered = [table.c.asa_ous_id.collate("C"), table.c.ngas_file_id.collate("C")]
    keys = connection.execute(select(table.c.asa_ous_id, table.c.ngas_file_id).order_by(*ordered)).all()
    return tuple(keys[0]), tuple(keys[-1])  # type: ignore[return-value]


def _two_keys_of_one_bucket(connection: Connection, settings: Settings) -> tuple[tuple[str, str], ...]:
    layout = Layout(tuple(tuple(b) for b in stored_layout(settings, "product_file")["bounds"]))
    mapping = MAPPINGS["product_file"]
    bucket = bucket_of(source_key(mapping), layout, "postgresql")
    keys = connection.execute(
        select(products.c.asa_ous_id, products.c.ngas_file_id)
        .where(bucket == 1, products.c.stored_size.is_not(None))
        .order_by(products.c.ngas_file_id).limit(2)
    ).all()
    return tuple(tuple(k) for k in keys)


def _product(key: tuple[str, str]) -> Any:
    return (products.c.asa_ous_id == key[0]) & (products.c.ngas_file_id == key[1])


def rows_of(url: URL, statement: Any) -> set[tuple[Any, ...]]:
    with connect(url) as connection:
        return {tuple(row) for row in connection.execute(statement)}


@contextmanager
def _source(settings: Settings) -> Iterator[Connection]:
    """The test's source database, read with the contract's schema."""
    engine = create_source_engine(_source_url(settings), settings)
    try:
        with engine.connect() as plain:
            yield plain.execution_options(**source_execution_options(settings.source.schema))
    finally:
        engine.dispose()


def test_oracle_s_written_out_comparison_agrees_with_postgresql_s_row_comparison(mirror_db: URL) -> None:
    """The source may compare keys one way and the mirror the other: every key, NULLs too, agrees."""
    names = ["uid://A001/X1", "uid://A001/X1/X2", "uid://A001/X2", None]
    files = ["a", "b", None]
    keys = values(sql_column("a", String), sql_column("b", String), name="keys").data(
        [(name, file) for name in names for file in files]
    )
    key = [keys.c.a.collate("C"), keys.c.b.collate("C")]
    checked = 0
    with connect(mirror_db) as connection:
        for bound in [("uid://A001/X1", "b"), ("uid://A001/X1/X2", "a"), ("uid://A001/X2", "z")]:
            row_form = key_below(key, bound, "postgresql")
            written = _written_out_below(key, [literal(v, String()) for v in bound])
            for a, b, by_row, by_column in connection.execute(select(keys.c.a, keys.c.b, row_form, written)):
                assert by_row is by_column, (a, b, bound)
                checked += 1
    assert checked == len(names) * len(files) * 3

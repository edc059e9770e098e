"""Same scale and seed: byte-identical rows. Another seed: other random rows, the same fixed cases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from etl.database import create_source_engine
from etl.demo.fill import fill_demo_archive
from etl.demo.fixed_cases import build_fixed_projects
from etl.demo.rows import COLUMNS, write_project
from etl.source.contract import CONTRACT, TABLE_NAMES, contract_table
from tests.conftest import DatabaseFactory, open_engine, settings_for
from tests.etl.demo.conftest import fill
from tests.etl.demo.session_rule import table_hashes, table_rows

OTHER_SEED = 4242


class KeySink:
    """Collects the primary keys of the rows the fixed cases write, per table."""

    def __init__(self) -> None:
        self.keys: dict[str, set[tuple[Any, ...]]] = {name: set() for name in TABLE_NAMES}

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        key_columns = contract_table(CONTRACT, table).primary_key
        positions = [COLUMNS[table].index(column.key) for column in key_columns]
        self.keys[table].add(tuple(row[position] for position in positions))


def fixed_case_keys() -> dict[str, set[tuple[Any, ...]]]:
    sink = KeySink()
    for project in build_fixed_projects()[0]:
        write_project(project, sink)
    return sink.keys


def fixed_case_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the fixed cases in each table, in primary-key order."""
    keys = fixed_case_keys()
    rows = {}
    with engine.connect() as connection:
        for name in TABLE_NAMES:
            table = contract_table(CONTRACT, name)
            positions = [list(table.columns).index(column) for column in table.primary_key]
            rows[name] = [row for row in table_rows(connection, name)
                          if tuple(row[p] for p in positions) in keys[name]]
            assert len(rows[name]) == len(keys[name]), name
    return rows


@pytest.fixture(scope="module")
def second_small(databases: DatabaseFactory, test_home: Path) -> URL:
    return fill(databases, "source_small_again", test_home, "small")


@pytest.fixture(scope="module")
def other_seed(databases: DatabaseFactory, test_home: Path) -> URL:
    return fill(databases, "source_small_other_seed", test_home, "small", seed=OTHER_SEED)


def engine_for(url: URL) -> Iterator[Engine]:
    engine = open_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def second_engine(second_small: URL) -> Iterator[Engine]:
    yield from engine_for(second_small)


@pytest.fixture
def other_seed_engine(other_seed: URL) -> Iterator[Engine]:
    yield from engine_for(other_seed)


def test_same_scale_and_seed_give_identical_rows(small_engine: Engine, second_engine: Engine) -> None:
    assert table_hashes(small_engine) == table_hashes(second_engine)


def test_another_seed_gives_other_rows(small_engine: Engine, other_seed_engine: Engine) -> None:
    first, other = table_hashes(small_engine), table_hashes(other_seed_engine)
    # Every table holds random-population rows, so every table differs.
    assert [name for name in TABLE_NAMES if first[name] == other[name]] == []


def test_fixed_cases_are_identical_across_seeds(small_engine: Engine, other_seed_engine: Engine) -> None:
    assert fixed_case_rows(small_engine) == fixed_case_rows(other_seed_engine)


def test_fixed_cases_are_identical_across_scales(small_engine: Engine, medium_engine: Engine) -> None:
    assert fixed_case_rows(small_engine) == fixed_case_rows(medium_engine)


def test_refilling_replaces_the_archive(
    databases: DatabaseFactory, test_home: Path, small_engine: Engine
) -> None:
    url = fill(databases, "source_refilled", test_home, "small", seed=OTHER_SEED)
    engine = create_source_engine(url, settings_for(url, None, test_home))
    try:
        fill_demo_archive(engine, CONTRACT, "alma", scale="small")
        assert table_hashes(engine) == table_hashes(small_engine)
    finally:
        engine.dispose()

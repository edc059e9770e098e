"""Fixtures of the stand-in tests: a medium demo archive, filled once per test run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from tests.conftest import DatabaseFactory, open_engine, settings_for


def fill(databases: DatabaseFactory, name: str, home: Path, scale: str, seed: int | None = None) -> URL:
    """A new database holding the demo archive of ``scale`` (and ``seed``, default when None)."""
    from etl.database import create_source_engine
    from etl.demo.fill import fill_demo_archive
    from etl.demo.scales import DEFAULT_SEED
    from etl.source.contract import CONTRACT

    url = databases.create(name)
    engine = create_source_engine(url, settings_for(url, None, home))
    try:
        fill_demo_archive(engine, CONTRACT, "alma", scale=scale,
                          seed=DEFAULT_SEED if seed is None else seed)
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def medium_source(databases: DatabaseFactory, test_home: Path) -> URL:
    """The medium demo archive (≈2,000 MOUSes). Tests must not write to it."""
    return fill(databases, "source_medium", test_home, "medium")


@pytest.fixture
def small_engine(demo_source: URL) -> Iterator[Engine]:
    engine = open_engine(demo_source)
    yield engine
    engine.dispose()


@pytest.fixture
def medium_engine(medium_source: URL) -> Iterator[Engine]:
    engine = open_engine(medium_source)
    yield engine
    engine.dispose()

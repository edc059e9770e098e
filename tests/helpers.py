"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, Text, cast, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import URL

from etl.mirror import metadata
from etl.settings import Settings
from tests.conftest import open_engine, settings_for

BOOKKEEPING = frozenset({"sync_run"})


@contextmanager
def connect(url: URL) -> Iterator[Connection]:
    """A connection in a transaction that commits at the end of the block."""
    engine = open_engine(url)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def table_fingerprint(connection: Connection, table: Table) -> str:
    """md5 of every row's text form, in a stable order: equal fingerprints, equal contents."""
    row = cast(table.table_valued(), Text)
    digest = select(
        func.md5(func.coalesce(func.string_agg(row, aggregate_order_by(literal("\n"), row)), ""))
    ).select_from(table)
    return str(connection.execute(digest).scalar_one())


def mirror_fingerprints(url: URL, skip: frozenset[str] = BOOKKEEPING) -> dict[str, str]:
    with connect(url) as connection:
        return {
            table.name: table_fingerprint(connection, table)
            for table in metadata.sorted_tables
            if table.name not in skip
        }


def sync(source: URL, mirror: URL, home: Path, full: bool = False, **extra: str) -> Any:
    return sync_with(settings_for(source, mirror, home, extra or None), full=full)


def sync_with(settings: Settings, full: bool = False) -> Any:
    """One sync as the ``sync`` command runs it, with engines opened from ``settings``."""
    from etl.database import mirror_engine, source_engine
    from etl.sync.pipeline import run_sync

    with mirror_engine(settings, "almamirror-sync") as mirror, source_engine(settings) as source:
        return run_sync(mirror, source, settings.source, full=full, archive=settings.archive)


def scalar(url: URL, statement: Any) -> Any:
    with connect(url) as connection:
        return connection.execute(statement).scalar()


def rows(url: URL, statement: Any) -> list[Any]:
    with connect(url) as connection:
        return list(connection.execute(statement).mappings())


def engine(url: URL) -> Engine:
    return open_engine(url)

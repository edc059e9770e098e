"""The sync lock lives in the transaction that writes, and a role that may only read cannot take it.

The same holds for the lock of ``db upgrade``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ProgrammingError

from etl import migrations
from etl.mirror import ChangeEvent, SyncRun, table_of
from tests.conftest import DatabaseFactory, open_engine
from tests.etl.sync.faults import (
    cli_env,
    finish,
    locked,
    run,
    start,
    wait_for_lock_wait,
)
from tests.etl.sync.test_atomicity import add_product
from tests.helpers import rows, scalar

runs = table_of(SyncRun)
events = table_of(ChangeEvent)

# The advisory lock keys earlier versions used; any role that can connect can take them.
OLD_SYNC_LOCK_KEY = 0x616C6D616D697272
OLD_MIGRATION_LOCK_KEY = 0x616C6D616D696772


@contextmanager
def reader_session(url: URL) -> Iterator[Connection]:
    """A session that has become almamirror_reader for good (SET ROLE, not SET LOCAL)."""
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SET ROLE almamirror_reader"))
            connection.commit()
            yield connection
            connection.rollback()
    finally:
        engine.dispose()


def test_the_reader_role_cannot_take_the_sync_lock(synced_mirror: URL) -> None:
    with reader_session(synced_mirror) as reader:
        assert reader.execute(text("SELECT count(*) FROM sync_lock")).scalar_one() == 1  # it may read it
        reader.rollback()
        for statement in (
            "SELECT lock_id FROM sync_lock FOR UPDATE NOWAIT",
            "SELECT lock_id FROM sync_lock FOR SHARE",
            "LOCK TABLE sync_lock IN EXCLUSIVE MODE NOWAIT",
        ):
            with pytest.raises(ProgrammingError, match="permission denied"):
                reader.execute(text(statement))
            reader.rollback()


def test_a_reader_holding_locks_does_not_stop_a_sync(
    synced_mirror: URL, demo_source: URL, test_home: Path
) -> None:
    """Every lock the reader can take: the old advisory key, and a read of sync_lock left open."""
    with reader_session(synced_mirror) as reader:
        reader.execute(select(func.pg_advisory_lock(OLD_SYNC_LOCK_KEY)))
        reader.commit()
        reader.execute(text("SELECT * FROM sync_lock"))  # ACCESS SHARE, held by the open transaction
        done = run(["-q", "sync"], cli_env(demo_source, synced_mirror, test_home))
    assert done.returncode == 0, done.stderr
    assert [r["status"] for r in rows(synced_mirror, select(runs.c.status).order_by(runs.c.run_id))] == [
        "succeeded", "succeeded",
    ]


def test_a_sync_that_lost_its_connection_cannot_commit_beside_the_next_one(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    """The holder's connection dies (idle timeout, a pooler restart): a second sync may start, and the
    first cannot carry on without the lock."""
    add_product(source_copy)
    env = cli_env(source_copy, synced_mirror, test_home)
    with locked(synced_mirror, "LOCK TABLE product_file IN ACCESS EXCLUSIVE MODE") as blocker:
        first = start(["sync"], env)
        wait_for_lock_wait(synced_mirror, "almamirror-sync", first)
        holders = blocker.execute(text(
            "SELECT DISTINCT locks.pid FROM pg_locks AS locks "
            "WHERE locks.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND (locks.locktype = 'advisory' OR (locks.relation = to_regclass('sync_lock') "
            "AND locks.mode = 'RowShareLock'))"
        )).scalars().all()
        assert len(holders) == 1
        blocker.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holders[0]})
        second = start(["sync"], env)
        # The second sync takes the lock, records its run, and queues behind the blocker too.
        _wait_for_runs(synced_mirror, 3)
    first_code, _out, first_err = finish(first)
    second_code, _out, second_err = finish(second)

    assert second_code == 0, second_err
    assert first_code == 1, first_err
    states = [r["status"] for r in rows(synced_mirror, select(runs.c.status).order_by(runs.c.run_id))]
    assert states[0] == "succeeded"
    assert sorted(states[1:]) in (["interrupted", "succeeded"], ["failed", "succeeded"])
    product_inserts = scalar(synced_mirror, select(func.count()).where(
        events.c.table_name == "product_file", events.c.kind == "insert"
    ))
    assert product_inserts == 1  # not once per sync


def _wait_for_runs(mirror: URL, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if scalar(mirror, select(func.count()).select_from(runs)) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} runs recorded in {timeout} s")


def test_the_reader_role_cannot_stall_db_upgrade(databases: DatabaseFactory, migrated_template: str,
                                                 test_home: Path) -> None:
    mirror = databases.create("upgrade_beside_reader", template=migrated_template)
    engine = open_engine(mirror)
    try:
        migrations.downgrade(engine, "0002")
    finally:
        engine.dispose()
    with reader_session(mirror) as reader:
        reader.execute(select(func.pg_advisory_lock(OLD_MIGRATION_LOCK_KEY)))
        reader.commit()
        reader.execute(text("SELECT * FROM alembic_version"))  # ACCESS SHARE, held open
        with pytest.raises(ProgrammingError, match="permission denied"):
            reader.execute(text("LOCK TABLE alembic_version IN EXCLUSIVE MODE NOWAIT"))
        reader.rollback()
        reader.execute(text("SELECT * FROM alembic_version"))  # and again held open
        done = run(["db", "upgrade"], cli_env(None, mirror, test_home), timeout=60)
    assert done.returncode == 0, done.stderr
    assert "revision " + migrations.heads()[0] in done.stdout


def test_two_upgrades_of_a_fresh_database_at_once_both_succeed(
    databases: DatabaseFactory, test_home: Path
) -> None:
    mirror = databases.create("upgraded_twice")
    env = cli_env(None, mirror, test_home)
    processes = [start(["-q", "db", "upgrade"], env) for _ in range(2)]
    results = [finish(process) for process in processes]
    assert [code for code, _out, _err in results] == [0, 0], results
    engine = open_engine(mirror)
    try:
        assert migrations.current_revision(engine) == migrations.heads()[0]
    finally:
        engine.dispose()

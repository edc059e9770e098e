"""Run records and the one-sync-at-a-time lock.

The lock is a PostgreSQL session-level advisory lock on the mirror, so it holds across processes and
hosts, and PostgreSQL releases it by itself when a killed sync's connection goes away.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, func, insert, select, update

from etl.errors import SyncAlreadyRunning
from etl.mirror import SyncRun, SyncRunTable, table_of

# 'almamirr' read as a big-endian 64-bit integer: one fixed key for "a sync is running".
SYNC_LOCK_KEY = 0x616C6D616D697272

runs = table_of(SyncRun)
run_tables = table_of(SyncRunTable)


@dataclass(frozen=True)
class RunRecord:
    run_id: int
    started_at: datetime
    baseline: bool


@dataclass(frozen=True)
class TableFigures:
    table: str
    rows_read: int
    inserted: int
    updated: int
    deleted: int
    seconds: float

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.deleted


@contextmanager
def sync_lock(engine: Engine) -> Iterator[None]:
    """Hold the mirror's sync lock for the block, or raise SyncAlreadyRunning naming the holder."""
    with engine.connect() as connection:
        acquired = connection.execute(select(func.pg_try_advisory_lock(SYNC_LOCK_KEY))).scalar_one()
        connection.commit()
        if not acquired:
            raise SyncAlreadyRunning(describe_running_sync(connection))
        try:
            yield
        finally:
            # The connection returns to a pool; a session lock left on it would outlive this sync.
            connection.execute(select(func.pg_advisory_unlock(SYNC_LOCK_KEY)))
            connection.commit()


def describe_running_sync(connection: Connection) -> str:
    running = connection.execute(
        select(runs.c.run_id, runs.c.started_at, runs.c.host, runs.c.pid)
        .where(runs.c.status == "running")
        .order_by(runs.c.run_id.desc())
        .limit(1)
    ).first()
    if running is None:
        return "another sync holds the mirror's sync lock and is starting; try again when it finishes"
    return (
        f"another sync is running: run {running.run_id} started {running.started_at:%Y-%m-%dT%H:%M:%S%z} "
        f"on host {running.host} (pid {running.pid}); try again when it finishes"
    )


def start_run(engine: Engine, full: bool, source: str) -> RunRecord:
    """Record the run as running, in its own transaction, so others can see who holds the lock.

    Called with the lock held: any other run still marked running belongs to a process that died.
    """
    with engine.begin() as connection:
        connection.execute(
            update(runs)
            .where(runs.c.status == "running")
            .values(
                status="failed", finished_at=func.now(),
                error="interrupted: the process ended before the sync finished",
            )
        )
        baseline = not connection.execute(
            select(func.count()).select_from(runs).where(runs.c.status == "succeeded")
        ).scalar_one()
        row = connection.execute(
            insert(runs)
            .values(
                status="running", full=full or baseline, baseline=baseline, host=socket.gethostname(),
                pid=os.getpid(), source=source,
            )
            .returning(runs.c.run_id, runs.c.started_at)
        ).one()
    return RunRecord(run_id=row.run_id, started_at=row.started_at, baseline=baseline)


def finish_run(
    connection: Connection,
    run: RunRecord,
    figures: list[TableFigures],
    counts: dict[str, int],
) -> None:
    """Mark the run succeeded, in the same transaction as the rows it describes."""
    if figures:
        connection.execute(
            insert(run_tables),
            [
                {
                    "run_id": run.run_id, "table_name": f.table, "rows_read": f.rows_read,
                    "inserted": f.inserted, "updated": f.updated, "deleted": f.deleted,
                    "seconds": f.seconds,
                }
                for f in figures
            ],
        )
    connection.execute(
        update(runs)
        .where(runs.c.run_id == run.run_id)
        .values(status="succeeded", finished_at=func.clock_timestamp(), **counts)
    )


def fail_run(engine: Engine, run_id: int, error: str) -> None:
    """Record why the run failed; its data changes were already rolled back."""
    with engine.begin() as connection:
        connection.execute(
            update(runs)
            .where(runs.c.run_id == run_id)
            .values(status="failed", finished_at=func.clock_timestamp(), error=error)
        )

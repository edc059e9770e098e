"""Run records and the one-sync-at-a-time lock.

The lock is a row lock on the one row of ``sync_lock``, taken ``FOR UPDATE NOWAIT`` by the
transaction that writes the mirror. It holds across processes and hosts, it is released by that
transaction's commit or rollback (or by PostgreSQL when the connection dies, which also ends the
work), so it can neither outlive the work nor be lost while the work goes on; and it needs UPDATE
privilege on the table, so a role that may only read the mirror cannot take it.

A run moves from ``running`` to ``succeeded``, ``failed`` or ``interrupted`` once: every update of a
run's state is guarded by ``status = 'running'``.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime

import psycopg
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from etl.errors import MirrorRejected, SyncAlreadyRunning
from etl.logs import fields
from etl.mirror import SyncLock, SyncRun, SyncRunTable, table_of
from etl.steps.figures import StepFigures

log = logging.getLogger(__name__)

runs = table_of(SyncRun)
run_tables = table_of(SyncRunTable)
locks = table_of(SyncLock)
SYNC_LOCK_ID = 1
INTERRUPTED = "interrupted: the process ended, or lost its mirror connection, before the sync finished"


@dataclass(frozen=True)
class RunRecord:
    run_id: int
    started_at: datetime
    baseline: bool


def take_sync_lock(connection: Connection) -> None:
    """Lock the mirror for one sync in ``connection``'s transaction, or raise SyncAlreadyRunning.

    Call it first in the transaction that writes; the lock is released when that transaction ends.
    """
    statement = select(locks.c.lock_id).where(locks.c.lock_id == SYNC_LOCK_ID).with_for_update(nowait=True)
    try:
        held = connection.execute(statement).first()
    except DBAPIError as exc:
        if isinstance(exc.orig, psycopg.errors.LockNotAvailable):
            raise SyncAlreadyRunning(_holder(connection.engine)) from exc
        raise
    if held is None:
        raise MirrorRejected(
            "the mirror's sync_lock table has lost its row, so no sync can be sure it runs alone: "
            "restore it with INSERT INTO sync_lock (lock_id) VALUES (1)"
        )


def check_sync_lock_free(engine: Engine) -> None:
    """Raise SyncAlreadyRunning if another sync holds the lock now; the probe does not keep it.

    For work a sync does before its writing transaction (fetching from the archive): a sync that
    would stop at the lock says so before that work, not after. Only ``take_sync_lock`` in the
    writing transaction makes the sync the only one.
    """
    with engine.connect() as connection, connection.begin():
        take_sync_lock(connection)


def _holder(engine: Engine) -> str:
    # The failed lock attempt aborted the caller's transaction: ask on a connection of our own.
    with engine.connect() as connection:
        return describe_running_sync(connection)


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

    Called with the lock held: any other run still marked running belongs to a process that died,
    or that lost its connection and with it its transaction; neither can commit any more.
    """
    with engine.begin() as connection:
        connection.execute(
            update(runs)
            .where(runs.c.status == "running")
            .values(status="interrupted", finished_at=func.now(), error=INTERRUPTED)
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
    figures: list[StepFigures],
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
                    "seconds": f.seconds, "quarantined": f.quarantined,
                    "rows_pulled": f.rows_pulled,
                }
                for f in figures
            ],
        )
    marked = connection.execute(
        update(runs)
        .where(runs.c.run_id == run.run_id, runs.c.status == "running")
        .values(status="succeeded", finished_at=func.clock_timestamp(), **counts)
    ).rowcount
    if marked != 1:
        # Only a sync that took the lock after ours was lost can have ended this run: our
        # transaction is gone then, but if it were not, committing it would fork the mirror.
        raise MirrorRejected(
            f"run {run.run_id} is no longer recorded as running (another sync ended it); its changes "
            "are rolled back"
        )


def end_run(engine: Engine, run_id: int, status: str, error: str) -> str | None:
    """Record how an unsuccessful run ended (``failed`` or ``interrupted``), unless it already has;
    returns the state the run is recorded in now (None: no such run).

    The guard keeps a state once set: a run that committed, or that another sync marked interrupted,
    keeps its state. The UPDATE waits for the row lock of a sync transaction still committing on a
    connection the caller lost, so ``succeeded`` here means that transaction did commit.
    """
    with engine.begin() as connection:
        ended = connection.execute(
            update(runs)
            .where(runs.c.run_id == run_id, runs.c.status == "running")
            .values(status=status, finished_at=func.clock_timestamp(), error=error)
        ).rowcount
        recorded: str | None = connection.execute(
            select(runs.c.status).where(runs.c.run_id == run_id)
        ).scalar_one_or_none()
    if not ended:
        log.warning(
            "sync.state_kept %s", fields(run=run_id, not_recorded=status, state=recorded, error=error)
        )
    return recorded

"""The latest successful sync run, read without the mirror's ORM models.

``report newly-restorable`` and ``no-longer-restorable`` need only the number and end of the last
good run; importing ``etl.mirror.bookkeeping`` for it would load ``sqlalchemy.orm`` and map every
bookkeeping class, which costs more than the report's own queries. A light Core table clause names
the three columns read (a test checks them against ``SyncRun``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, column, select, table

sync_run_clause = table("sync_run", column("run_id"), column("finished_at"), column("status"))


@dataclass(frozen=True)
class RunMark:
    run_id: int
    finished_at: datetime


def latest_succeeded_run(connection: Connection) -> RunMark | None:
    """The newest run that succeeded, or None before the first one."""
    runs = sync_run_clause
    row = connection.execute(
        select(runs.c.run_id, runs.c.finished_at)
        .where(runs.c.status == "succeeded")
        .order_by(runs.c.run_id.desc())
        .limit(1)
    ).first()
    if row is None or row.finished_at is None:
        return None
    return RunMark(row.run_id, row.finished_at)


def run_exists(connection: Connection, run_id: int) -> bool:
    runs = sync_run_clause
    found = connection.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).first()
    return found is not None

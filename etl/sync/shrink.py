"""The shrink guard: a source table that suddenly reads far fewer rows stops the sync before any merge.

An emptied table, a view that lost its grant, a wrong schema, a table truncated and reloaded while the
sync waited for it (PostgreSQL's TRUNCATE is not MVCC-safe: an older snapshot reads it as empty) all
look like a mass deletion, and merging one would delete every mirrored row of the table, reset every
``restorable_since`` and flood the next night with spurious changes. So each table's rows read are
compared with the last successful run's: a table that had rows and reads none, or that falls by more
than ``source.max_shrink`` of its rows *and* by more than ``SHRINK_MIN_ROWS``, stops the sync.
``sync --allow-shrink`` accepts a real mass deletion. The first (baseline) sync has nothing to compare
with.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from etl.errors import SourceShrank
from etl.load.tables import StagedTable
from etl.logs import fields
from etl.mirror import SyncRun, SyncRunTable, table_of

log = logging.getLogger(__name__)

# Below this many rows lost, a fall is a busy day in a small table, not a broken source.
SHRINK_MIN_ROWS = 1_000

runs = table_of(SyncRun)
run_tables = table_of(SyncRunTable)


@dataclass(frozen=True)
class Shrinkage:
    source_table: str
    before: int
    now: int
    run_id: int

    def describe(self) -> str:
        return (
            f"source table {self.source_table} had {self.before:,} rows at the last successful sync "
            f"(run {self.run_id}) and reads {self.now:,} now"
        )


def check_shrink(
    connection: Connection, staged: Sequence[StagedTable], max_shrink: float, allow_shrink: bool
) -> None:
    """Raise ``SourceShrank`` naming every table that shrank too far, unless ``allow_shrink``."""
    shrunk = shrunk_tables(connection, staged, max_shrink)
    if not shrunk:
        return
    if allow_shrink:
        for table in shrunk:
            log.warning("sync.shrink_allowed %s", fields(table=table.source_table, before=table.before,
                                                         now=table.now, last_run=table.run_id))
        return
    raise SourceShrank(
        "the shrink guard stopped the sync, nothing was merged: "
        + "; ".join(table.describe() for table in shrunk)
        + ". Check the source (an emptied or truncated table, a lost grant, a wrong source.schema); "
        "if the rows were really deleted, run 'almamirror sync --allow-shrink'"
    )


def shrunk_tables(
    connection: Connection, staged: Sequence[StagedTable], max_shrink: float
) -> list[Shrinkage]:
    before = _last_success(connection)
    shrunk = []
    for table in staged:
        last = before.get(table.mapping.name)
        if last is not None and shrank(last[1], table.rows_read, max_shrink):
            shrunk.append(Shrinkage(table.mapping.source.name, last[1], table.rows_read, last[0]))
    return shrunk


def shrank(before: int, now: int, max_shrink: float) -> bool:
    lost = before - now
    if before > 0 and now == 0:
        return True
    return lost > max_shrink * before and lost > SHRINK_MIN_ROWS


def _last_success(connection: Connection) -> dict[str, tuple[int, int]]:
    """Mirror table name → (run id, rows read) of the last successful run; empty before the baseline."""
    last_run = select(func.max(runs.c.run_id)).where(runs.c.status == "succeeded").scalar_subquery()
    return {
        row.table_name: (row.run_id, row.rows_read)
        for row in connection.execute(
            select(run_tables.c.table_name, run_tables.c.run_id, run_tables.c.rows_read)
            .where(run_tables.c.run_id == last_run)
        )
    }

"""One night's clock does not decide the nights after it: a time stamped in the future is not trusted."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.engine import URL

from etl.load.bucket_state import buckets_table
from etl.load.mapping import mirrored_tables
from etl.source.contract import CONTRACT
from tests.helpers import connect, rows, sync

MIRRORED = {mapping.name for mapping in mirrored_tables(CONTRACT)}


def test_a_full_read_stamped_by_a_clock_years_ahead_is_due_at_once(
    synced_mirror: URL, demo_source: URL, test_home: Path
) -> None:
    """The server's clock ran four years ahead the night of the last full read: the next night reads whole."""
    with connect(synced_mirror) as connection:
        connection.execute(update(buckets_table).values(full_read_at=func.now() + timedelta(days=4 * 365)))

    summary = sync(demo_source, synced_mirror, test_home)

    assert not summary.full
    mirrored = [figures for figures in summary.tables if figures.table in MIRRORED]
    assert {figures.table for figures in mirrored} == MIRRORED
    for figures in mirrored:
        assert figures.rows_read > 0, figures.table
        assert figures.rows_pulled == figures.rows_read, figures.table
    stamps = rows(synced_mirror, select(
        buckets_table.c.table_name, buckets_table.c.full_read_run_id,
        (buckets_table.c.full_read_at <= func.now()).label("not_ahead"),
    ))
    assert {row["table_name"] for row in stamps} == MIRRORED
    assert all(row["full_read_run_id"] == summary.run_id and row["not_ahead"] for row in stamps)
    # Read whole once, the night after is a quiet one again.
    assert all(figures.rows_pulled == 0 for figures in sync(demo_source, synced_mirror, test_home).tables
               if figures.table in MIRRORED)

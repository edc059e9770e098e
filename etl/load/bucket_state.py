"""The mirror's side of the buckets: which tables a run may read by bucket, and what it stores after.

A table is read whole — and laid out again from the keys it then holds — on the first sync, on
``sync --full``, when its stored checksums were computed over other columns (a site renamed a
column, the digest changed), when its row count has drifted far from its layout's, and once every
``source.full_read_every`` days as a safety net: a bucket whose rows changed in a way its checksum
missed is then found anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, FromClause, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from etl.load.buckets import (
    BucketFigures,
    Layout,
    bucket_count,
    bucket_of,
    mirror_key,
    signature,
)
from etl.load.mapping import TableMapping
from etl.mirror import SourceBuckets, table_of

buckets_table = table_of(SourceBuckets)
# Keys sampled per bucket to place the bounds.
SAMPLED_PER_BUCKET = 16


@dataclass(frozen=True)
class StoredBuckets:
    """What the mirror holds of one table's buckets, as of the last run that checked them."""

    layout: Layout
    figures: Mapping[int, BucketFigures]
    full_read_at: datetime
    full_read_run_id: int


@dataclass(frozen=True)
class BucketUpdate:
    """A table's buckets after this run: ``moved`` None when the table was read whole."""

    layout: Layout
    figures: Mapping[int, BucketFigures]
    moved: Sequence[int] | None

    @property
    def whole(self) -> bool:
        return self.moved is None


def stored_buckets(
    mirror: Connection,
    mappings: Sequence[TableMapping],
    read_whole: bool,
    full_read_every: timedelta,
    now: datetime,
) -> dict[str, StoredBuckets]:
    """The tables this run may read by bucket, with their stored buckets; the others are read whole."""
    if read_whole:
        return {}
    wanted = {mapping.name: signature(mapping) for mapping in mappings}
    stored: dict[str, StoredBuckets] = {}
    for row in mirror.execute(select(buckets_table).where(buckets_table.c.table_name.in_(list(wanted)))):
        # A full read "in the future" was stamped by a clock that ran ahead one night: it is due now,
        # or that night's clock would turn the safety net off until the date it showed.
        due = now - row.full_read_at >= full_read_every or row.full_read_at > now
        if row.signature != wanted[row.table_name] or due:
            continue
        layout = Layout(tuple(tuple(bound) for bound in row.bounds))
        figures = {
            bucket: BucketFigures(rows, checksum)
            for bucket, (rows, checksum) in enumerate(zip(row.row_counts, row.checksums, strict=True))
        }
        stored[row.table_name] = StoredBuckets(layout, figures, row.full_read_at, row.full_read_run_id)
    return stored


def layout_of(
    mirror: Connection, stage: FromClause, key: Sequence[str], rows: int, bucket_rows: int
) -> Layout:
    """Bounds that cut the staged keys into buckets of about equal size, in the buckets' key order.

    Chosen from a sample of the keys (``SAMPLED_PER_BUCKET`` per bucket): sorting a few thousand keys
    instead of every key of a large table; a bucket a little larger or smaller than the rest costs a
    few rows more or less on the night it moves.
    """
    buckets = bucket_count(rows, bucket_rows)
    if buckets == 1:
        return Layout(())
    share = 100.0 * buckets * SAMPLED_PER_BUCKET / rows
    sampled = stage.tablesample(func.bernoulli(share)) if share < 100 else stage
    ordered = [column.collate("C") if _is_text(column) else column for column in mirror_key(sampled, key)]
    keys = [tuple(row) for row in mirror.execute(select(*mirror_key(sampled, key)).order_by(*ordered))]
    if not keys:
        return Layout(())
    bounds = [keys[len(keys) * bucket // buckets] for bucket in range(1, buckets)]
    # A tiny sample may repeat a bound; bounds must rise strictly.
    return Layout(tuple(bound for i, bound in enumerate(bounds) if i == 0 or bound != bounds[i - 1]))


def buckets_holding(mirror: Connection, rows: FromClause, key: Sequence[str], layout: Layout) -> set[int]:
    """The buckets of the keys in ``rows`` (a quarantine: those buckets are read again next time)."""
    bucket = bucket_of(mirror_key(rows, key), layout, "postgresql")
    return set(mirror.execute(select(bucket).distinct()).scalars())


def store_buckets(
    mirror: Connection,
    updates: Mapping[str, BucketUpdate],
    stored: Mapping[str, StoredBuckets],
    mappings: Sequence[TableMapping],
    run_id: int,
) -> None:
    """Write the buckets of the tables read after the merge, in the sync's transaction: one statement.

    A table of which no bucket moved keeps its row as it was: a quiet night writes nothing but its
    run record.
    """
    rows = [
        _row(mapping, updates[mapping.name], stored.get(mapping.name), run_id)
        for mapping in mappings
        if mapping.name in updates and (updates[mapping.name].whole or updates[mapping.name].moved)
    ]
    if not rows:
        return
    statement = pg_insert(buckets_table).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=[buckets_table.c.table_name],
        set_={column: statement.excluded[column] for column in rows[0] if column != "table_name"},
    )
    mirror.execute(statement)


def _row(
    mapping: TableMapping, update: BucketUpdate, before: StoredBuckets | None, run_id: int
) -> dict[str, Any]:
    figures = [update.figures[bucket] for bucket in range(update.layout.buckets)]
    whole = update.whole or before is None
    return {
        "table_name": mapping.name,
        "signature": signature(mapping),
        "bounds": [list(bound) for bound in update.layout.bounds],
        "row_counts": [figure.rows for figure in figures],
        "checksums": [figure.checksum for figure in figures],
        "full_read_at": func.now() if whole else before.full_read_at,  # type: ignore[union-attr]
        "full_read_run_id": run_id if whole else before.full_read_run_id,  # type: ignore[union-attr]
    }


def _is_text(column: Any) -> bool:
    return column.type.python_type is str

"""Load every mirrored table: stream from the source into a stage, quarantine bad rows, then merge."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Generator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table

from etl.copy import analyze, copy_rows
from etl.errors import SchemaMismatch, TooManyBadRows
from etl.load.bucket_state import BucketUpdate, StoredBuckets, buckets_holding, layout_of
from etl.load.buckets import (
    BucketFigures,
    Layout,
    can_checksum,
    checksum_query,
    document_columns,
    in_buckets,
    mirror_key,
    missing_grant,
    moved_buckets,
    read_checksums,
    source_key,
)
from etl.load.extract import source_errors, source_rows
from etl.load.index_limits import mark_long_values
from etl.load.mapping import PROBLEM_COLUMNS, StagingConverter, TableMapping
from etl.load.quarantine import Quarantine, first_finding, quarantine_bad_rows, record_quarantine_findings
from etl.logs import fields
from etl.progress import Progress
from etl.source.objects import source_objects, unreadable
from etl.steps.figures import StepFigures, timed_step
from etl.steps.merge import MergeTarget, merge
from etl.steps.stage import add_stage_key, create_unkeyed_stage

log = logging.getLogger(__name__)

# However small a table, this many bad rows are quarantined rather than stop the sync.
ALWAYS_ALLOWED_BAD_ROWS = 10


def check_source_tables(source: Connection, mappings: list[TableMapping], schema: str) -> None:
    """Fail before reading anything when a contract table is missing, or is something the sync does
    not read as of its snapshot (a materialized view): tables, views and Oracle synonyms count."""
    found = source_objects(source, schema)
    problems = [
        problem for m in mappings
        if (problem := unreadable(m.source.name, found.get(m.source.name.lower()), schema)) is not None
    ]
    if problems:
        said = "; ".join(f"{what} ({fix})" for what, fix in problems)
        raise SchemaMismatch(
            f"the source lacks contract tables the sync reads: {said}; "
            "for the stand-in: almamirror source init"
        )


@dataclass(frozen=True)
class StagedTable:
    """One source table read into its stage, its bad rows already quarantined.

    ``rows_read``: the source table's rows; ``rows_pulled``: those read into the stage (fewer when
    only the buckets that moved were read). ``buckets``: the table's buckets after this run.
    """

    mapping: TableMapping
    stage: Table | None  # None: no bucket moved, so nothing was read (nor is anything merged)
    quarantine: Quarantine
    rows_read: int
    rows_pulled: int
    seconds: float
    buckets: BucketUpdate


def stage_table(
    mirror: Connection,
    source: Connection,
    mapping: TableMapping,
    findings: Table,
    batch_rows: int,
    max_bad_rows: float,
    bucket_rows: int,
    stored: StoredBuckets | None = None,
) -> StagedTable:
    """Stream one source table, or with ``stored`` only its buckets that moved, into a stage and
    quarantine its bad rows; nothing is merged yet.

    Raises ``TooManyBadRows`` when more than ``max_bad_rows`` of the table's rows (and more than
    ``ALWAYS_ALLOWED_BAD_ROWS``) are bad.
    """
    started = time.monotonic()
    progress = Progress(mapping.name, logger=log)
    dialect = source.dialect.name
    convert = StagingConverter(mapping)
    checksummed = _may_checksum(source, mapping)
    checked = (
        _checked_buckets(source, mapping, stored, bucket_rows, progress) if stored and checksummed else None
    )
    if checked is not None and not checked.moved:
        # Not one bucket moved (most tables on most nights): no row to read, check or merge
        # (merge_table passes the table by), so no stage either.
        progress.finish()
        rows_read = sum(figures.rows for figures in checked.figures.values())
        seconds = time.monotonic() - started
        return StagedTable(mapping, None, Quarantine(None, 0), rows_read, 0, seconds, checked)
    stage = create_unkeyed_stage(mirror, mapping.target, mapping.loaded, PROBLEM_COLUMNS, mapping.name)
    rows: Generator[Sequence[Any], None, None]
    if checked is None:
        rows = source_rows(source, mapping, batch_rows, convert)
    else:
        assert checked.moved  # none moved: returned above
        where = in_buckets(source_key(mapping), checked.layout, checked.moved, dialect)
        rows = source_rows(source, mapping, batch_rows, convert, where=where)
    progress.phase("reading")
    with closing(rows):  # a failed COPY stops the source's read-ahead at once
        pulled = copy_rows(
            mirror, stage, (*mapping.loaded, *PROBLEM_COLUMNS), rows,
            on_batch=progress.update, batch_rows=batch_rows, binary=True,  # converted: mirror types
        )
    progress.phase("checking for bad rows")
    quarantine = _set_bad_rows_aside(mirror, stage, mapping, convert.marked, pulled)
    record_quarantine_findings(mirror, findings, quarantine, mapping)
    rows_read = pulled if checked is None else sum(figures.rows for figures in checked.figures.values())
    _check_bad_rows(mirror, findings, mapping, quarantine.rows, rows_read, max_bad_rows)
    analyze(mirror, stage)
    if checked is None and not checksummed:
        checked = BucketUpdate(Layout(()), {0: BucketFigures(pulled, None)}, None)
    elif checked is None:
        progress.phase("checksumming its buckets")
        checked = _laid_out(mirror, source, mapping, stage, pulled - quarantine.rows, bucket_rows)
    buckets = _without_bad_rows(mirror, checked, quarantine, mapping)
    # The table's one line comes when it is merged (merge_table): this one only showed it streaming.
    progress.finish()
    return StagedTable(mapping, stage, quarantine, rows_read, pulled, time.monotonic() - started, buckets)


def _set_bad_rows_aside(
    mirror: Connection, stage: Table, mapping: TableMapping, marked: int, pulled: int
) -> Quarantine:
    """Quarantine the stage's bad rows and give it its key.

    A stage that got no row (an empty table, or buckets that moved only by deletions) has none to
    mark or move, and no key of it can repeat: it takes its key at once, without the marking
    statement and the savepoint that tries the key.
    """
    if not pulled:
        add_stage_key(mirror, stage, mapping.key)
        return Quarantine(None, 0)
    return quarantine_bad_rows(mirror, stage, mapping, marked + mark_long_values(mirror, stage, mapping))


def _may_checksum(source: Connection, mapping: TableMapping) -> bool:
    """Whether the source account may checksum the table; if not, it is read whole, and that said."""
    if can_checksum(source, mapping):
        return True
    log.warning("sync.table_read_whole %s", fields(
        table=mapping.name, columns=",".join(document_columns(mapping)),
        reason=f"the source account lacks {missing_grant(source.dialect.name)}, which hashes these columns: "
               "the table is read whole every night until it is granted",
    ))
    return False


def _checked_buckets(
    source: Connection, mapping: TableMapping, stored: StoredBuckets, bucket_rows: int, progress: Progress
) -> BucketUpdate | None:
    """The source's figures of the stored buckets and those that moved; None: read the table whole."""
    progress.phase("checksumming its buckets")
    figures = _source_checksums(source, mapping, stored.layout)
    if not stored.layout.suits(sum(bucket.rows for bucket in figures.values()), bucket_rows):
        log.info("sync.buckets_relaid %s", fields(table=mapping.name, buckets=stored.layout.buckets))
        return None
    return BucketUpdate(stored.layout, figures, moved_buckets(stored.figures, figures))


def _laid_out(
    mirror: Connection, source: Connection, mapping: TableMapping, stage: Table, rows: int, bucket_rows: int
) -> BucketUpdate:
    """A table read whole: new buckets from its keys, and the source's figures for each."""
    layout = layout_of(mirror, stage, mapping.key, rows, bucket_rows)
    return BucketUpdate(layout, _source_checksums(source, mapping, layout), None)


def _source_checksums(source: Connection, mapping: TableMapping, layout: Layout) -> dict[int, BucketFigures]:
    with source_errors(source.engine, f"checksumming {mapping.source.name} on"):
        answer = source.execute(checksum_query(mapping, layout, source.dialect.name)).all()
    return read_checksums(answer, layout)


def _without_bad_rows(
    mirror: Connection, buckets: BucketUpdate, quarantine: Quarantine, mapping: TableMapping
) -> BucketUpdate:
    """A bucket holding a quarantined row keeps no checksum, so every run reads it until it is fixed."""
    if quarantine.table is None:
        return buckets
    figures = dict(buckets.figures)
    for bucket in buckets_holding(mirror, quarantine.table, mapping.key, buckets.layout):
        figures[bucket] = BucketFigures(figures[bucket].rows, None)
    return BucketUpdate(buckets.layout, figures, buckets.moved)


def _check_bad_rows(
    mirror: Connection, findings: Table, mapping: TableMapping, bad: int, rows_read: int, max_bad_rows: float
) -> None:
    # A few bad rows never stop a night, however small their table.
    allowed = max(ALWAYS_ALLOWED_BAD_ROWS, math.floor(max_bad_rows * rows_read))
    if bad <= allowed:
        return
    raise TooManyBadRows(
        f"source table {mapping.source.name}: {bad:,} of its {rows_read:,} rows are bad "
        f"({bad / rows_read:.1%}, more than source.max_bad_rows = {max_bad_rows:.1%}): that is a broken "
        f"source, not a bad row; nothing was merged. For example {first_finding(mirror, findings, mapping)}"
    )


def merge_table(mirror: Connection, staged: StagedTable, run_id: int, record_events: bool) -> StepFigures:
    """Merge a staged table into its mirror table; quarantined keys keep their mirror rows."""
    mapping = staged.mapping
    moved = staged.buckets.moved
    target = MergeTarget(
        table=mapping.target, key=mapping.key, loaded=mapping.loaded,
        recorded=mapping.watch + mapping.link, kept=staged.quarantine.table,
        documents=tuple(column.name for column in mapping.target.columns if column.info.get("document")),
        # Read by bucket: only the mirror rows of the buckets read may be gone from the source.
        within=in_buckets(
            mirror_key(mapping.target, mapping.key), staged.buckets.layout, moved, "postgresql"
        ) if moved else None,
    )
    with timed_step(mapping.name, log, doing="merging", earlier=staged.seconds) as step:
        step.read, step.pulled = staged.rows_read, staged.rows_pulled
        step.quarantined = staged.quarantine.rows
        # No bucket moved: the table is as the source has it, nothing to merge.
        if moved is None or moved:
            assert staged.stage is not None  # a table read whole, or the buckets that moved
            step.changes = merge(mirror, target, staged.stage, run_id, record_events)
    return step.figures

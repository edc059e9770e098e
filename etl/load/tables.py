"""Load every mirrored table: stream from the source into a stage, quarantine bad rows, then merge."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from sqlalchemy import Connection, Table, inspect

from etl.copy import analyze, copy_rows
from etl.errors import SchemaMismatch, TooManyBadRows
from etl.load.extract import source_rows
from etl.load.mapping import PROBLEM_COLUMNS, StagingConverter, TableMapping
from etl.load.merge import MergeTarget, merge
from etl.load.quarantine import Quarantine, first_finding, quarantine_bad_rows, record_quarantine_findings
from etl.load.stage import create_unkeyed_stage
from etl.progress import Progress
from etl.sync.run_record import TableFigures

log = logging.getLogger(__name__)

# However small a table, this many bad rows are quarantined rather than stop the sync.
ALWAYS_ALLOWED_BAD_ROWS = 10


def check_source_tables(source: Connection, mappings: list[TableMapping], schema: str) -> None:
    """Fail before reading anything when a contract table is missing (tables or views count)."""
    inspector = inspect(source)
    present = {
        name.lower()
        for name in inspector.get_table_names(schema=schema) + inspector.get_view_names(schema=schema)
    }
    missing = [m.source.name for m in mappings if m.source.name.lower() not in present]
    if missing:
        raise SchemaMismatch(
            f"the source schema {schema} lacks contract table(s) {', '.join(missing)}: "
            "check source.url and source.schema (for the stand-in: almamirror source init)"
        )


@dataclass(frozen=True)
class StagedTable:
    """One source table read into its stage, its bad rows already quarantined."""

    mapping: TableMapping
    stage: Table
    quarantine: Quarantine
    rows_read: int
    seconds: float


def stage_table(
    mirror: Connection,
    source: Connection,
    mapping: TableMapping,
    findings: Table,
    batch_rows: int,
    max_bad_rows: float,
) -> StagedTable:
    """Stream one source table into a stage, quarantine its bad rows; nothing is merged yet.

    Raises ``TooManyBadRows`` when more than ``max_bad_rows`` of the table's rows (and more than
    ``ALWAYS_ALLOWED_BAD_ROWS``) are bad.
    """
    started = time.monotonic()
    progress = Progress(mapping.name, logger=log)
    stage = create_unkeyed_stage(mirror, mapping.target, mapping.loaded, PROBLEM_COLUMNS, mapping.name)
    convert = StagingConverter(mapping)
    rows_read = copy_rows(
        mirror, stage, (*mapping.loaded, *PROBLEM_COLUMNS), source_rows(source, mapping, batch_rows, convert),
        on_batch=progress.update, batch_rows=batch_rows,
    )
    progress.phase("checking for bad rows")
    quarantine = quarantine_bad_rows(mirror, stage, mapping, convert.marked)
    record_quarantine_findings(mirror, findings, quarantine, mapping)
    _check_bad_rows(mirror, findings, mapping, quarantine.rows, rows_read, max_bad_rows)
    analyze(mirror, stage)
    # The table's one line comes when it is merged (merge_table): this one only showed it streaming.
    progress.finish()
    return StagedTable(mapping, stage, quarantine, rows_read, time.monotonic() - started)


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


def merge_table(mirror: Connection, staged: StagedTable, run_id: int, record_events: bool) -> TableFigures:
    """Merge a staged table into its mirror table; quarantined keys keep their mirror rows."""
    started = time.monotonic()
    mapping = staged.mapping
    target = MergeTarget(
        table=mapping.target, key=mapping.key, loaded=mapping.loaded,
        recorded=mapping.watch + mapping.link, kept=staged.quarantine.table,
        documents=tuple(column.name for column in mapping.target.columns if column.info.get("document")),
    )
    with Progress(mapping.name, logger=log, doing="merging") as progress:
        counts = merge(mirror, target, staged.stage, run_id, record_events)
        figures = TableFigures(
            table=mapping.name, rows_read=staged.rows_read, inserted=counts.inserted,
            updated=counts.updated, deleted=counts.deleted,
            seconds=staged.seconds + time.monotonic() - started, quarantined=staged.quarantine.rows,
        )
        finish_step(progress, "sync.table_merged", figures)
    return figures


def finish_step(progress: Progress, event: str, figures: TableFigures) -> None:
    """A table's one line: ``event table=… read=…`` in a log, its finished progress line on a terminal."""
    # Only a mirrored table can have quarantined source rows; derived tables never do.
    quarantined = {"quarantined": figures.quarantined} if event == "sync.table_merged" else {}
    progress.finish(
        event, table=figures.table, read=figures.rows_read, inserted=figures.inserted,
        updated=figures.updated, deleted=figures.deleted, **quarantined, seconds=round(figures.seconds, 3),
    )

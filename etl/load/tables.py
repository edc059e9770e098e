"""Load every mirrored table: stream from the source, COPY into staging, merge into the mirror."""

from __future__ import annotations

import logging
import time

from sqlalchemy import Connection, inspect

from etl.copy import analyze, copy_rows
from etl.errors import SchemaMismatch
from etl.load.extract import source_rows
from etl.load.mapping import TableMapping
from etl.load.merge import MergeTarget, merge
from etl.load.stage import create_stage
from etl.progress import Progress
from etl.sync.run_record import TableFigures

log = logging.getLogger(__name__)


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


def load_table(
    mirror: Connection,
    source: Connection,
    mapping: TableMapping,
    run_id: int,
    record_events: bool,
    batch_rows: int,
) -> TableFigures:
    started = time.monotonic()
    with Progress(mapping.name, logger=log) as progress:
        stage = create_stage(mirror, mapping.target, mapping.loaded, mapping.key, mapping.name)
        rows_read = copy_rows(
            mirror, stage, mapping.loaded, source_rows(source, mapping, batch_rows),
            on_batch=progress.update, batch_rows=batch_rows,
        )
        progress.phase("merging")
        analyze(mirror, stage)
        target = MergeTarget(
            table=mapping.target, key=mapping.key, loaded=mapping.loaded,
            recorded=mapping.watch + mapping.link,
            documents=tuple(
                column.name for column in mapping.target.columns if column.info.get("document")
            ),
        )
        counts = merge(mirror, target, stage, run_id, record_events)
        figures = TableFigures(
            table=mapping.name, rows_read=rows_read, inserted=counts.inserted, updated=counts.updated,
            deleted=counts.deleted, seconds=time.monotonic() - started,
        )
        finish_step(progress, "sync.table_merged", figures)
    return figures


def finish_step(progress: Progress, event: str, figures: TableFigures) -> None:
    """A table's one line: ``event table=… read=…`` in a log, its finished progress line on a terminal."""
    progress.finish(
        event, table=figures.table, read=figures.rows_read, inserted=figures.inserted,
        updated=figures.updated, deleted=figures.deleted, seconds=round(figures.seconds, 3),
    )

"""One sync, start to end: everything it changes commits together or not at all."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import psycopg
from sqlalchemy import Connection, Engine, Table, func, select
from sqlalchemy.exc import DBAPIError, OperationalError

from etl.database import mask_url
from etl.derive.affected import create_affected_table, mark_all_members, mark_changed
from etl.derive.ous_status_xml import refresh_status_documents
from etl.derive.quality import QualityCounts, record_findings
from etl.derive.restorability import derive_mous_status
from etl.derive.sessions import derive_session_assignment
from etl.errors import AlmaMirrorError, BadSourceData, MirrorRejected, MirrorUnavailable
from etl.load.extract import source_snapshot
from etl.load.mapping import mirrored_tables
from etl.load.merge import MergeCounts
from etl.load.tables import check_source_tables, finish_step, load_table
from etl.logs import fields
from etl.mirror import MousStatus, table_of
from etl.progress import Progress
from etl.settings import SourceSettings
from etl.source.contract import build_contract
from etl.sync.run_record import RunRecord, TableFigures, fail_run, finish_run, start_run, sync_lock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncSummary:
    run_id: int
    baseline: bool
    full: bool
    tables: list[TableFigures]
    mous_derived: int
    newly_restorable: list[str]
    restorable_total: int
    quality: QualityCounts
    seconds: float

    @property
    def changes(self) -> int:
        return sum(table.changed for table in self.tables)


def run_sync(mirror: Engine, source: Engine, options: SourceSettings, full: bool = False) -> SyncSummary:
    """Sync the mirror from the source; raises SyncAlreadyRunning (exit 3) or a classified error."""
    source_name = mask_url(source.url)
    with sync_lock(mirror):
        run = start_run(mirror, full, source_name)
        log.info("sync.started %s", fields(run=run.run_id, source=source_name, full=full,
                                             baseline=run.baseline))
        try:
            summary = _sync(mirror, source, options, run, full)
        except BaseException as exc:
            error = _classify(exc)
            reason = _one_line(str(error or exc)) or f"interrupted ({type(exc).__name__})"
            fail_run(mirror, run.run_id, reason)
            log.error("sync.failed %s", fields(run=run.run_id, error=reason))
            if error is not None:
                raise error from exc
            raise
    log.info(
        "sync.succeeded %s",
        fields(run=summary.run_id, changes=summary.changes, mous_derived=summary.mous_derived,
               newly_restorable=len(summary.newly_restorable), seconds=round(summary.seconds, 1)),
    )
    return summary


def _sync(
    mirror_engine: Engine, source_engine: Engine, options: SourceSettings, run: RunRecord, full: bool
) -> SyncSummary:
    started = time.monotonic()
    mappings = mirrored_tables(build_contract(options.column_names))
    record_events = not run.baseline
    with (
        mirror_engine.connect() as mirror,
        source_snapshot(source_engine, options.schema) as source,
        mirror.begin(),
    ):
        check_source_tables(source, mappings, options.schema)
        figures = [
            load_table(mirror, source, mapping, run.run_id, record_events, options.batch_rows)
            for mapping in mappings
        ]
        with _step("affected MOUSes", "finding the MOUSes the changes touch") as step:
            affected = create_affected_table(mirror)
            if full or run.baseline:
                mark_all_members(mirror, affected)
            else:
                mark_changed(mirror, affected, run.run_id)
            step.finish()
        figures += _derive(mirror, affected, run, record_events)
        with _step("data quality", "checking the affected MOUSes") as step:
            quality = record_findings(mirror, affected, run.run_id)
            step.finish("sync.quality_checked", opened=quality.opened, resolved=quality.resolved,
                        open=quality.open_total, seconds=round(time.monotonic() - step.started, 3))
        newly = _newly_restorable(mirror, run.run_id)
        restorable_total = _restorable_total(mirror)
        mous_derived = next(f.rows_read for f in figures if f.table == "mous_status")
        finish_run(
            mirror, run, figures,
            {
                "mous_derived": mous_derived, "newly_restorable": len(newly),
                "quality_opened": quality.opened, "quality_resolved": quality.resolved,
            },
        )
    return SyncSummary(
        run_id=run.run_id, baseline=run.baseline, full=full or run.baseline, tables=figures,
        mous_derived=mous_derived, newly_restorable=newly, restorable_total=restorable_total,
        quality=quality, seconds=time.monotonic() - started,
    )


def _derive(mirror: Connection, affected: Table, run: RunRecord, record_events: bool) -> list[TableFigures]:
    figures: list[TableFigures] = []

    def timed(table: str, step: Progress, read: int, counts: MergeCounts) -> None:
        figures.append(
            TableFigures(table, read, counts.inserted, counts.updated, counts.deleted,
                         time.monotonic() - step.started)
        )
        finish_step(step, "sync.table_derived", figures[-1])

    with _step("ous_status_document", "parsing OUSStatus documents") as step:
        read, documents, _sessions = refresh_status_documents(mirror, affected, run.run_id, record_events)
        timed("ous_status_document", step, read, documents)
    with _step("session_assignment", "applying the session rule") as step:
        read, counts = derive_session_assignment(mirror, affected, run.run_id, record_events)
        timed("session_assignment", step, read, counts)
    with _step("mous_status", "judging restorability") as step:
        read, counts = derive_mous_status(mirror, affected, run.run_id, run.started_at, record_events)
        timed("mous_status", step, read, counts)
    return figures


def _step(label: str, doing: str) -> Progress:
    """A derivation step's live line: one statement or a few, so it shows what it does and for how long."""
    return Progress(label, unit="MOUSes", logger=log, doing=doing)


def _newly_restorable(mirror: Connection, run_id: int) -> list[str]:
    status = table_of(MousStatus)
    return list(
        mirror.execute(
            select(status.c.mous_uid)
            .where(status.c.restorable_since_run_id == run_id)
            .order_by(status.c.mous_uid)
        ).scalars()
    )


def _restorable_total(mirror: Connection) -> int:
    status = table_of(MousStatus)
    return mirror.execute(select(func.count()).where(status.c.restorable)).scalar_one()


def _classify(exc: BaseException) -> AlmaMirrorError | None:
    """Turn driver errors into what the caller should do; None keeps the original exception.

    Source-side errors were already classified where they happened (``extract``); what is left here
    comes from the mirror.
    """
    if isinstance(exc, AlmaMirrorError):
        return exc
    original: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    if isinstance(original, psycopg.errors.UniqueViolation) and "pk_stage_" in str(original):
        return BadSourceData(f"the source repeats a key and cannot be mirrored: {_db_message(original)}")
    if isinstance(original, psycopg.errors.DataError):
        return BadSourceData(f"the source has a value the mirror cannot store: {_db_message(original)}")
    if isinstance(exc, OperationalError) or isinstance(original, psycopg.OperationalError):
        return MirrorUnavailable(f"the mirror connection failed during the sync: {_db_message(original)}")
    if isinstance(original, psycopg.Error):
        return MirrorRejected(f"the mirror rejected the sync: {_db_message(original)}")
    return None


def _db_message(error: BaseException) -> str:
    """PostgreSQL's own message, without the SQL statement SQLAlchemy appends to its errors."""
    diagnostics = getattr(error, "diag", None)
    primary = getattr(diagnostics, "message_primary", None)
    return _one_line(primary or str(error))


def _one_line(message: str) -> str:
    return " ".join(message.split())[:2000]

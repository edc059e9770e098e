"""One sync, start to end: everything it changes commits together or not at all."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, RootTransaction, Table, func, select

from etl.database_errors import classify_mirror_error
from etl.derive.affected import create_affected_table, mark_all_members, mark_changed
from etl.derive.calibration_record import derive_calibration_records, mark_record_changes
from etl.derive.ous_status_xml import refresh_status_documents
from etl.derive.quality import QualityCounts, create_source_findings, record_findings
from etl.derive.restorability import derive_mous_status
from etl.derive.sessions import derive_session_assignment
from etl.errors import AlmaMirrorError, MirrorUnavailable
from etl.load.bucket_state import store_buckets, stored_buckets
from etl.load.documents import DocumentFetch, claim_documents, fetch_calibration_documents
from etl.load.extract import source_snapshot
from etl.load.mapping import mirrored_tables
from etl.load.tables import check_source_tables, merge_table, stage_table
from etl.logs import fields, mask_url
from etl.mirror import MousStatus, table_of
from etl.mirror.views import mous_restore
from etl.progress import Progress
from etl.report.lost import LostMous, lost_in_run
from etl.restore.kinds import NONE, PIPELINE_PPR
from etl.settings import ArchiveSettings, SourceSettings
from etl.source.contract import build_contract
from etl.steps.figures import StepFigures
from etl.sync.run_record import (
    RunRecord,
    check_sync_lock_free,
    end_run,
    finish_run,
    start_run,
    take_sync_lock,
)
from etl.sync.shrink import check_shrink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncSummary:
    run_id: int
    baseline: bool
    full: bool
    tables: list[StepFigures]
    mous_derived: int
    newly_restorable: list[str]
    restorable_total: int  # a restore kind other than none: by a PPR, the archived script or scriptForPI.py
    quality: QualityCounts
    seconds: float
    documents: DocumentFetch
    no_longer_restorable: list[LostMous] = field(default_factory=list)
    restorable_by_ppr: int = 0  # of restorable_total, those a restore PPR restores (kind pipeline_ppr)

    @property
    def changes(self) -> int:
        return sum(table.changed for table in self.tables)


def run_sync(
    mirror: Engine,
    source: Engine,
    options: SourceSettings,
    full: bool = False,
    allow_shrink: bool = False,
    archive: ArchiveSettings | None = None,
) -> SyncSummary:
    """Sync the mirror from the source; raises SyncAlreadyRunning (exit 3) or a classified error.

    First the calibration documents the mirror does not hold yet are fetched from ``archive`` (None,
    or no NGAS URL: the step is skipped and the records stay as they were), in short transactions of
    their own, before the writing transaction: the archive's pace never holds the mirror's lock.
    Then everything runs in one mirror transaction that first takes the sync lock; the run record is
    committed on its own, so others can see the run, and its state changes once, from ``running``.
    """
    source_name = mask_url(source.url)
    # A sync that could not take the lock would have fetched for nothing: say so before fetching.
    check_sync_lock_free(mirror)
    documents = fetch_calibration_documents(mirror, source, options, archive)
    with mirror.connect() as connection:
        transaction = connection.begin()
        try:
            take_sync_lock(connection)
            run = start_run(mirror, full, source_name)
        except BaseException:
            _end_quietly(transaction)
            raise
        log.info("sync.started %s", fields(run=run.run_id, source=source_name, full=full,
                                             baseline=run.baseline))
        summary: SyncSummary | None = None
        try:
            summary = _sync(connection, source, options, run, full, allow_shrink, documents)
            transaction.commit()
        except BaseException as exc:
            _end_quietly(transaction)
            error = _record_failure(mirror, run, exc, committing=summary is not None)
            if error is exc:
                raise
            if error is not None:
                raise error from exc
    assert summary is not None  # no error: _sync returned, and its commit went through
    # Committed: whatever happens now, the run succeeded.
    try:
        log.info(
            "sync.succeeded %s",
            fields(run=summary.run_id, changes=summary.changes, mous_derived=summary.mous_derived,
                   newly_restorable=len(summary.newly_restorable), seconds=round(summary.seconds, 1)),
        )
    except Exception as exc:  # nothing after the commit may turn a success into a failure
        log.warning("sync.after_commit %s", fields(run=summary.run_id, error=_one_line(str(exc))))
    return summary


def _end_quietly(transaction: RootTransaction) -> None:
    """Roll back; the connection may be the thing that failed, and that failure is the one to report."""
    with contextlib.suppress(Exception):
        transaction.rollback()


def _record_failure(
    mirror: Engine, run: RunRecord, exc: BaseException, committing: bool
) -> BaseException | None:
    """Record how the run ended and return the exception to raise (classified where possible).

    ``committing``: the failure came from the COMMIT. The server may have committed and only its
    answer been lost with the connection: the run's record, read on a new connection, says which.
    None: the run committed, and it is a success.
    """
    error = _classify(exc)
    interrupted = isinstance(exc, KeyboardInterrupt | SystemExit)
    reason = _one_line(str(error or exc)) or f"interrupted ({type(exc).__name__})"
    if interrupted and not reason.startswith("interrupted"):
        reason = f"interrupted: {reason}"
    try:
        recorded = end_run(mirror, run.run_id, "interrupted" if interrupted else "failed", reason)
    except Exception as record_error:  # the next sync marks the run interrupted
        log.warning("sync.end_not_recorded %s", fields(run=run.run_id, error=_one_line(str(record_error))))
        if committing:
            return _outcome_unknown(run, reason, record_error)
        recorded = None
    if committing and recorded == "succeeded":
        log.warning("sync.commit_unacknowledged %s", fields(run=run.run_id, error=reason))
        return None
    log.error("sync.failed %s", fields(run=run.run_id, error=reason))
    return error if error is not None else exc


def _outcome_unknown(run: RunRecord, reason: str, record_error: Exception) -> MirrorUnavailable:
    """The COMMIT got no answer and the mirror cannot be asked whether it went through."""
    log.error("sync.outcome_unknown %s", fields(run=run.run_id, error=reason,
                                                 lookup_error=_one_line(str(record_error))))
    return MirrorUnavailable(
        f"the mirror connection was lost while run {run.run_id} committed ({reason}), and the mirror "
        "cannot be asked whether it did: 'almamirror report runs' shows the run's state once the "
        "mirror is back (a run still 'running' did not commit; the next sync marks it interrupted)"
    )


def _sync(
    mirror: Connection,
    source_engine: Engine,
    options: SourceSettings,
    run: RunRecord,
    full: bool,
    allow_shrink: bool,
    documents: DocumentFetch,
) -> SyncSummary:
    started = time.monotonic()
    # Each of the sync's statements runs once, over up to millions of rows: a server's JIT (on in
    # Debian's and RHEL's packages) compiled the derivations' for longer than they ran (13 s for
    # mous_status at ALMA scale). Only this transaction's setting: the server's stays as it is.
    mirror.exec_driver_sql("SET LOCAL jit = off")
    # The documents fetched before the transaction (by this sync, or by one that did not commit)
    # become this run's: their MOUSes are re-derived, and they name this run as the one that fetched.
    claim_documents(mirror, run.run_id)
    mappings = mirrored_tables(build_contract(options.column_names))
    record_events = not run.baseline
    source_findings = create_source_findings(mirror)
    # A full or first sync reads every table whole; a night reads the buckets that moved.
    stored = stored_buckets(mirror, mappings, full or run.baseline, options.full_read_every, run.started_at)
    with source_snapshot(source_engine, options.schema) as source:
        check_source_tables(source, mappings, options.schema)
        staged = [
            stage_table(mirror, source, mapping, source_findings, options.batch_rows, options.max_bad_rows,
                        options.bucket_rows, stored.get(mapping.name))
            for mapping in mappings
        ]
    # The source snapshot is closed: from here on only the mirror is involved.
    check_shrink(mirror, staged, options.max_shrink, allow_shrink)
    merged = [merge_table(mirror, table, run.run_id, record_events) for table in staged]
    updates = {table.mapping.name: table.buckets for table in staged}
    store_buckets(mirror, updates, stored, mappings, run.run_id)
    with _step("affected MOUSes", "finding the MOUSes the changes touch") as step:
        affected = create_affected_table(mirror)
        if full or run.baseline:
            mark_all_members(mirror, affected)
        else:
            mark_changed(mirror, affected, run.run_id)
            mark_record_changes(mirror, affected, run.run_id)
        step.finish()
    derived = _derive(mirror, affected, run, record_events, documents)
    figures = [*merged, *derived.figures]
    with _step("data quality", "checking the affected MOUSes") as step:
        quality = record_findings(mirror, affected, run.run_id, source_findings)
        step.finish("sync.quality_checked", opened=quality.opened, resolved=quality.resolved,
                    open=quality.open_total, seconds=round(time.monotonic() - step.started, 3))
    newly = _newly_restorable(mirror, run.run_id)
    lost = lost_in_run(mirror, run.run_id)
    restorable_total, restorable_by_ppr = _restorable_totals(mirror)
    mous_derived = derived.mous_status.rows_read
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
        quality=quality, seconds=documents.seconds + time.monotonic() - started, documents=documents,
        no_longer_restorable=lost, restorable_by_ppr=restorable_by_ppr,
    )


@dataclass(frozen=True)
class _Derived:
    """The figures of the derivation steps, in the order they ran; ``mous_status`` is the last."""

    figures: list[StepFigures]
    mous_status: StepFigures


def _derive(
    mirror: Connection, affected: Table, run: RunRecord, record_events: bool, fetch: DocumentFetch
) -> _Derived:
    # The fetch ran before the transaction; its figures join the run's when it did something.
    fetched = [fetch.figures()] if fetch.configured or fetch.reparsed else []
    documents = refresh_status_documents(mirror, affected, run.run_id, record_events)
    sessions = derive_session_assignment(mirror, affected, run.run_id, record_events)
    records = derive_calibration_records(mirror, affected, run.run_id, record_events, fetch.configured)
    status = derive_mous_status(mirror, affected, run.run_id, run.started_at, record_events)
    return _Derived([*fetched, documents, sessions, *records, status], status)


def _step(label: str, doing: str) -> Progress:
    """The live line of a step that writes no table of its own (the affected MOUSes, the data-quality
    check): one statement or a few, so it shows what it does and for how long."""
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


def _restorable_totals(mirror: Connection) -> tuple[int, int]:
    """MOUSes restorable by any kind (mous_restore's kind is not none), and of them by a restore PPR."""
    kind = mous_restore.c.restore_kind
    row = mirror.execute(
        select(func.count().filter(kind != NONE), func.count().filter(kind == PIPELINE_PPR))
    ).one()
    return row[0], row[1]


def _classify(exc: BaseException) -> AlmaMirrorError | None:
    """Turn driver errors into what the caller should do; None keeps the original exception.

    Source-side errors were already classified where they happened (``extract``); what is left here
    comes from the mirror.
    """
    return classify_mirror_error(exc, "the sync")


def _one_line(message: str) -> str:
    return " ".join(message.split())[:2000]

"""Fetch everything a request directory's manifest lists, several files at once, and say what happened."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Final, Protocol

from etl.errors import AlmaMirrorError, ArchiveDown, ArchiveFileProblem, ArchiveUnavailable, NotAnArchive
from etl.logs import fields
from etl.ngas.client import NgasClient, StatusAnswer, VerifiedPart, fsync_directory
from etl.safe_files import check_no_links
from etl.settings import ArchiveSettings
from ppr.fetch.asdms import ExportFailed, check_export_tool, run_export
from ppr.fetch.plan import AsdmItem, FetchPlan, ProductItem, read_plan
from ppr.fetch.record import EXPORTED, EXPORTING, FetchRecord, tree_size
from ppr.request_lock import request_lock

if TYPE_CHECKING:
    from ppr.verify import Verification

log = logging.getLogger(__name__)

FETCHED: Final = "fetched"
PRESENT: Final = "present"  # already there, verified
FAILED: Final = "failed"
NOT_TRIED: Final = "not fetched: the run stopped"
PLANNED: Final = "to fetch"  # --dry-run
# Verified files waiting to be put in place, per download worker (each holds its .part open).
PENDING_PER_WORKER: Final = 2


@dataclass(frozen=True)
class FetchOptions:
    products_only: bool = False
    dry_run: bool = False
    workers: int | None = None  # None: [archive] workers


@dataclass(frozen=True)
class Outcome:
    """What became of one product or ASDM."""

    kind: str  # product or asdm
    target: str  # relative to the request directory
    source: str  # NGAS file id, or EB UID
    state: str  # fetched, present, failed, to fetch
    bytes: int | None
    seconds: float = 0.0
    reason: str | None = None


@dataclass
class FetchSummary:
    directory: Path
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    # The preflight run after the fetch (``ppr.verify``); None for a dry run.
    preflight: Verification | None = None

    def count(self, state: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.state == state)

    @property
    def failed(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.state == FAILED]

    @property
    def ready(self) -> bool:
        """Nothing failed and the preflight found nothing the restore would miss."""
        return not self.failed and (self.preflight is None or self.preflight.ok)

    @property
    def fetched_bytes(self) -> int:
        return sum(outcome.bytes or 0 for outcome in self.outcomes if outcome.state == FETCHED)


class FetchObserver(Protocol):
    """Progress of a fetch: a terminal display, log lines, or nothing."""

    def planned(self, plan: FetchPlan, items: int) -> None: ...
    def started(self, target: str, size: int | None) -> None: ...
    def advanced(self, target: str, held: int, size: int) -> None: ...
    def finished(self, outcome: Outcome) -> None: ...


ClientFactory = Callable[[ArchiveSettings], NgasClient]


def fetch_request(
    directory: Path,
    archive: ArchiveSettings,
    options: FetchOptions,
    observer: FetchObserver | None = None,
    client_factory: ClientFactory = NgasClient,
) -> FetchSummary:
    """Fetch what ``directory``'s manifest lists that is not yet there and verified."""
    started = time.monotonic()
    plan = read_plan(directory)
    record = FetchRecord(directory)
    asdms = () if options.products_only else plan.asdms
    summary = FetchSummary(directory)
    if options.dry_run:
        summary.outcomes = [*(_planned_product(plan, record, item) for item in plan.products),
                            *(_planned_asdm(plan, record, item) for item in asdms)]
        return summary
    with request_lock(directory):
        _check_directories(plan)
        if observer is not None:
            observer.planned(plan, len(plan.products) + len(asdms))
        try:
            summary.outcomes, stopped = _fetch_all(plan, record, asdms, archive, options, observer,
                                                   client_factory)
        finally:
            record.save()  # the products verified since the record was last written
        # Once per directory for the run's renames, not once per file.
        for written in sorted({PurePosixPath(outcome.target).parent for outcome in summary.outcomes
                               if outcome.kind == "product" and outcome.state == FETCHED}):
            fsync_directory(directory / written)
    summary.seconds = time.monotonic() - started
    if stopped is not None:
        # An outage or a wrong URL stops the run: said once, with what was not fetched, not per file.
        not_fetched = sum(1 for outcome in summary.outcomes if outcome.reason == NOT_TRIED)
        log.info("fetch.stopped %s", fields(directory=directory, not_fetched=not_fetched,
                                            reason=str(stopped)))
        if isinstance(stopped, ArchiveDown):
            raise stopped.with_count(not_fetched)
        raise stopped
    # Imported here: ppr.verify reads the fetch record, whose package imports this module.
    from ppr.verify import verify_request

    # The checksums of the files just downloaded were computed as they arrived: not read again.
    downloaded = [outcome.target for outcome in summary.outcomes
                  if outcome.kind == "product" and outcome.state == FETCHED]
    summary.preflight = verify_request(directory, asdms=not options.products_only, just_verified=downloaded)
    log.info("fetch.done %s", fields(
        directory=directory, fetched=summary.count(FETCHED), present=summary.count(PRESENT),
        failed=summary.count(FAILED), bytes=summary.fetched_bytes, seconds=round(summary.seconds, 2),
        preflight_problems=len(summary.preflight.problems),
    ))
    return summary


def _check_directories(plan: FetchPlan) -> None:
    # A link planted as products/ or rawdata/ (script/, raw/ …) would carry every download or export outside.
    for name in plan.directories:
        check_no_links(plan.directory, plan.directory / name)


def _fetch_all(
    plan: FetchPlan, record: FetchRecord, asdms: tuple[AsdmItem, ...], archive: ArchiveSettings,
    options: FetchOptions, observer: FetchObserver | None, client_factory: ClientFactory,
) -> tuple[list[Outcome], AlmaMirrorError | None]:
    """Every item's outcome, and what stopped the run early (an outage, a URL that is not NGAS)."""
    workers = options.workers or archive.workers
    # Downloads on ``workers`` threads. Around them, so that a download waits neither for a STATUS nor
    # for the disk (on a request of small files each took as long as the transfer): the STATUS of the
    # files to download is asked ahead, pipelined on one connection by one thread, and each verified
    # file is put in place (fsync, rename, record) on another, at most PENDING_PER_WORKER per worker waiting.
    pending = PENDING_PER_WORKER * workers
    # Each waiting file on a thread of its own: their fsyncs run at once (the journal takes them together).
    with client_factory(archive) as client, ThreadPoolExecutor(pending, "fetch-commit") as commits, \
            ThreadPoolExecutor(workers, "fetch") as pool:
        if asdms:
            check_export_tool(archive.asdm_command)  # one line before any EB is tried, not one per EB
        room = threading.BoundedSemaphore(pending)
        job = _Job(plan, record, client, archive, observer, commits, room)
        wanted = [item for item in plan.products if not record.product_verified(
            item.target, plan.directory / item.target, item.ngas_file_id, item.size)]
        ahead = _StatusesAhead(client, [item.ngas_file_id for item in wanted])
        answers = dict(zip((item.target for item in wanted), ahead.answers, strict=True))
        ahead.start()
        try:
            products = [pool.submit(job.product, item, answers.get(item.target)) for item in plan.products]
            exports = [pool.submit(job.asdm, item) for item in asdms]
            outcomes = [_settled(future.result()) for future in products]
        finally:
            ahead.stop()  # a run stopped by an outage asks no more
        return [*outcomes, *(future.result() for future in exports)], job.stopped


class _StatusesAhead:
    """The STATUS of the products to download (not those the record knows), asked ahead on one thread:
    each file's answer as it comes (``answers``, in the order given; None for a file not asked, whose
    download asks it)."""

    def __init__(self, client: NgasClient, file_ids: list[str]) -> None:
        self.answers: list[Future[StatusAnswer | None]] = [Future() for _ in file_ids]
        self._client = client
        self._file_ids = file_ids
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._ask, name="fetch-status", daemon=True)

    def start(self) -> None:
        if self._file_ids:
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        self._settle()

    def _ask(self) -> None:
        answers = self._client.status_answers(self._file_ids)
        try:
            for future, answer in zip(self.answers, answers, strict=False):
                if self._stopped.is_set():
                    break
                future.set_result(answer)
        except Exception as exc:  # each file's download asks its STATUS itself, and says what failed
            log.debug("fetch.status_ahead_failed %s", fields(reason=str(exc)))
        finally:
            answers.close()  # its connection, if the run stopped before every answer was read
            self._settle()

    def _settle(self) -> None:
        for future in self.answers:
            if not future.done():
                future.set_result(None)


def _settled(outcome: Outcome | Future[Outcome]) -> Outcome:
    return outcome.result() if isinstance(outcome, Future) else outcome


def _planned_product(plan: FetchPlan, record: FetchRecord, item: ProductItem) -> Outcome:
    path = plan.directory / item.target
    there = record.product_verified(item.target, path, item.ngas_file_id, item.size)
    return Outcome("product", item.target, item.ngas_file_id, PRESENT if there else PLANNED, item.size)


def _planned_asdm(plan: FetchPlan, record: FetchRecord, item: AsdmItem) -> Outcome:
    state, size = record.asdm_state(item.disk_name)
    path = plan.directory / item.target
    there = state == EXPORTED and path.is_dir() and size == tree_size(path)
    return Outcome("asdm", item.target, item.eb_uid, PRESENT if there else PLANNED,
                   size.bytes if there and size is not None else None)


@dataclass
class _Job:
    plan: FetchPlan
    record: FetchRecord
    client: NgasClient
    archive: ArchiveSettings
    observer: FetchObserver | None
    commits: ThreadPoolExecutor  # puts verified files in place
    room: threading.BoundedSemaphore  # bounds the files waiting for it
    stopped: AlmaMirrorError | None = None  # the archive is down or not NGAS: nothing more is tried

    def product(
        self, item: ProductItem, status: Future[StatusAnswer | None] | None
    ) -> Outcome | Future[Outcome]:
        """The product's outcome, or the outcome to come once its verified file is put in place.

        ``status``: its STATUS asked ahead (None when the record knows the file).
        """
        started = time.monotonic()
        if self.stopped is not None:
            return Outcome("product", item.target, item.ngas_file_id, FAILED, None, 0.0, NOT_TRIED)
        self._started(item.target, item.size)
        try:
            outcome = self._product(item, started, status)
        except (ArchiveDown, NotAnArchive) as exc:
            self.stopped = self.stopped or exc
            return self._finished(
                Outcome("product", item.target, item.ngas_file_id, FAILED, None, 0.0, NOT_TRIED)
            )
        except (ArchiveFileProblem, ArchiveUnavailable, OSError) as exc:
            outcome = self._failed(item, started, exc)
        if isinstance(outcome, Future):
            return outcome  # its outcome is reported when it is put in place
        return self._finished(outcome)

    def _failed(self, item: ProductItem, started: float, exc: Exception) -> Outcome:
        outcome = Outcome("product", item.target, item.ngas_file_id, FAILED, None,
                          time.monotonic() - started, _reason(exc))
        log.warning("fetch.failed %s", fields(target=item.target, reason=outcome.reason))
        return outcome

    def _product(
        self, item: ProductItem, started: float, ahead: Future[StatusAnswer | None] | None
    ) -> Outcome | Future[Outcome]:
        path = self.plan.directory / item.target
        if self.record.product_verified(item.target, path, item.ngas_file_id, item.size):
            return Outcome("product", item.target, item.ngas_file_id, PRESENT, item.size)
        # Its STATUS's errors (a file NGAS lacks, an outage) are raised here, as if asked now.
        known = self.client.status(item.ngas_file_id, answer=ahead.result()) if ahead is not None else None
        if path.exists():
            # There, but not recorded (copied by hand, or the record was lost): check it against NGAS.
            status = known or self.client.status(item.ngas_file_id)
            known = status  # the download below needs no second STATUS
            size_agrees = item.size is None or item.size == status.file_size
            if size_agrees and self.client.verify_local(path, status):
                self.record.record_product(item.target, path, item.ngas_file_id, status.checksum,
                                           status.checksum_plugin)
                return Outcome("product", item.target, item.ngas_file_id, PRESENT, status.file_size,
                               time.monotonic() - started)

        def progress(held: int, size: int) -> None:
            if self.observer is not None:
                self.observer.advanced(item.target, held, size)

        check_no_links(self.plan.directory, path.parent)
        # The products directory is fsynced once at the end of the run, not after every file.
        verified = self.client.download_verified(item.ngas_file_id, path, item.size, on_progress=progress,
                                                 sync_directory=False, status=known)
        self.room.acquire()
        try:
            return self.commits.submit(self._put_in_place, item, verified, started)
        except BaseException:
            self.room.release()
            raise

    def _put_in_place(self, item: ProductItem, verified: VerifiedPart, started: float) -> Outcome:
        try:
            outcome = self._recorded(item, verified, started)
        except (ArchiveFileProblem, OSError) as exc:
            outcome = self._failed(item, started, exc)
        finally:
            self.room.release()
        return self._finished(outcome)

    def _recorded(self, item: ProductItem, verified: VerifiedPart, started: float) -> Outcome:
        path = self.plan.directory / item.target
        download = verified.put_in_place()
        check_no_links(self.plan.directory, path)
        checksum = download.checksum
        self.record.record_product(
            item.target, path, item.ngas_file_id, checksum.stored if checksum else None,
            checksum.plugin if checksum else None,
            (download.size, download.mtime_ns) if download.mtime_ns is not None else None,
        )
        return Outcome("product", item.target, item.ngas_file_id, FETCHED, download.size,
                       time.monotonic() - started)

    def asdm(self, item: AsdmItem) -> Outcome:
        started = time.monotonic()
        if self.stopped is not None:
            return Outcome("asdm", item.target, item.eb_uid, FAILED, None, 0.0, NOT_TRIED)
        self._started(item.target, None)
        try:
            outcome = self._asdm(item, started)
        except (ExportFailed, OSError) as exc:
            outcome = Outcome("asdm", item.target, item.eb_uid, FAILED, None, time.monotonic() - started,
                              f"EB {item.eb_uid}: {_reason(exc)}")
            log.warning("fetch.failed %s", fields(target=item.target, reason=outcome.reason))
        return self._finished(outcome)

    def _asdm(self, item: AsdmItem, started: float) -> Outcome:
        path = self.plan.directory / item.target
        # The export tool writes <disk name> where it runs; a delivery tree names it <disk name>.asdm.sdm.
        exported = path.with_name(item.disk_name)
        state, recorded = self.record.asdm_state(item.disk_name)
        if path.exists():
            if state == EXPORTED and recorded == tree_size(path):
                there = recorded.bytes if recorded else None
                return Outcome("asdm", item.target, item.eb_uid, PRESENT, there)
            if state != EXPORTING:
                raise ExportFailed(
                    f"{item.target} exists but no completed export of it is recorded (put there by hand, "
                    "or changed since its export); remove it to export it again"
                )
            # Left by an export this fetch started and never saw finish: start it again.
            shutil.rmtree(path)
        if exported != path and exported.exists() and state == EXPORTING:
            shutil.rmtree(exported)  # an export interrupted before it was renamed
        self.record.asdm_exporting(item.disk_name, item.eb_uid)
        check_no_links(self.plan.directory, path.parent)
        run_export(self.archive.asdm_command, item.eb_uid, path.parent, item.disk_name,
                   self.archive.ngas_urls, self.archive.asdm_timeout)
        if exported != path:
            exported.rename(path)
        size = tree_size(path)
        self.record.asdm_exported(item.disk_name, item.eb_uid, size)
        return Outcome("asdm", item.target, item.eb_uid, FETCHED, size.bytes, time.monotonic() - started)

    def _started(self, target: str, size: int | None) -> None:
        if self.observer is not None:
            self.observer.started(target, size)

    def _finished(self, outcome: Outcome) -> Outcome:
        if self.observer is not None:
            self.observer.finished(outcome)
        return outcome


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror or exc}: {exc.filename}"
    return " ".join(str(exc).split())

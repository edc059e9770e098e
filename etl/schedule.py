"""The nightly sync as a foreground APScheduler process.

One job, ``almamirror-sync``, on the cron expression from settings, kept in the mirror database's
``apscheduler_jobs`` table. One run at a time (``max_instances=1``), missed runs collapse into one
(``coalesce``), and a run more than ``misfire_grace_seconds`` late is skipped rather than run at a
surprising hour. A failed sync is logged and the next one runs at its time. SIGTERM or SIGINT stops the
scheduler after a running sync finishes, and the process exits 0; a second signal stops at once with
exit 143 (the sync's transaction is rolled back by PostgreSQL and the next sync records the run as
interrupted).

The signal handlers only set an event: the main thread, not a handler, shuts the scheduler down, and
no listener takes a scheduler lock (a listener that did would wait for ``shutdown(wait=True)``, which
holds the job-store lock while it waits for the sync, which waits for its listener).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from etl.errors import AlmaMirrorError, ConfigurationError, SyncAlreadyRunning
from etl.logs import fields
from etl.settings import ScheduleSettings, Settings, load_settings

if TYPE_CHECKING:
    from etl.sync.pipeline import SyncSummary

log = logging.getLogger(__name__)

JOB_ID = "almamirror-sync"
EXIT_ON_SECOND_SIGNAL = 143


def scheduled_sync(config_file: str | None) -> None:
    """The job: one sync, never raising, so a bad night does not stop the scheduler.

    Settings are read afresh each time: a changed config file takes effect at the next run.
    """
    settings: Settings | None = None
    try:
        settings = load_settings(config_file)
        summary = _sync_once(settings)
    except SyncAlreadyRunning as exc:
        log.warning("schedule.sync_skipped %s", fields(reason=str(exc)))
        return
    except AlmaMirrorError as exc:
        log.error("schedule.sync_failed %s", fields(error=str(exc), retry="at the next scheduled time"))
    except Exception:  # a bug in one run must not end the nightly schedule
        log.exception("schedule.sync_crashed")
    else:
        log.info(
            "schedule.sync_done %s",
            fields(run=summary.run_id, changes=summary.changes,
                   newly_restorable=len(summary.newly_restorable)),
        )
    # A failed night belongs on the page too: it shows the failure and the last good run.
    if settings is not None:
        refresh_status_page(settings)


def refresh_status_page(settings: Settings) -> None:
    """Write the status page into ``schedule.status_page_dir`` (if set), after the sync committed.

    Never raises: a page that cannot be written is a warning, not a reason to stop the schedule.
    """
    out_dir = settings.schedule.status_page_dir
    if out_dir is None:
        return
    from etl.database import mirror_engine, read_only_connection
    from etl.migrations import require_head
    from etl.report.connection import use_report_time_zone
    from etl.report.html import write_status_page

    try:
        with mirror_engine(settings, "almamirror-status-page") as engine:
            require_head(engine)
            with read_only_connection(engine) as connection:
                use_report_time_zone(connection)
                write_status_page(connection, out_dir)
    except AlmaMirrorError as exc:
        log.warning("schedule.status_page_failed %s", fields(directory=out_dir, error=str(exc)))
    except Exception:  # a bug in the page must not end the nightly schedule either
        log.exception("schedule.status_page_crashed")


def _sync_once(settings: Settings) -> SyncSummary:
    """One night's sync, as the ``sync`` command runs it: the mirror's schema checked first."""
    from etl.database import mirror_engine, source_engine
    from etl.migrations import require_head
    from etl.sync.pipeline import run_sync

    with mirror_engine(settings, "almamirror-sync") as mirror, source_engine(settings) as source:
        require_head(mirror)
        return run_sync(mirror, source, settings.source, archive=settings.archive)


def cron_trigger(schedule: ScheduleSettings) -> CronTrigger:
    """The nightly trigger; ``ConfigurationError`` when the cron expression or time zone is invalid."""
    try:
        return CronTrigger.from_crontab(schedule.cron, timezone=schedule.timezone)
    except (ValueError, LookupError) as exc:
        raise ConfigurationError([
            f"schedule.cron/timezone: '{schedule.cron}' in '{schedule.timezone}' is not a valid "
            f"five-field cron expression and time zone ({exc})"
        ]) from exc


def build_scheduler(
    engine: Engine,
    settings: Settings,
    config_file: str | None,
    trigger: Any = None,
    scheduler_class: type[BaseScheduler] = BlockingScheduler,
    first_run: datetime | None = None,
) -> Any:
    """The scheduler with its one job stored in the mirror that ``engine`` reaches.

    ``trigger`` replaces the cron and ``scheduler_class`` the blocking scheduler, so a test can watch
    several runs in a background scheduler; ``first_run`` runs the job then, before the trigger's times.
    """
    trigger = trigger or cron_trigger(settings.schedule)
    scheduler = scheduler_class(
        jobstores={"default": SQLAlchemyJobStore(engine=engine)},
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": settings.schedule.misfire_grace_seconds,
        },
        timezone=settings.schedule.timezone,
    )
    scheduler.add_job(
        scheduled_sync,
        trigger,
        args=[config_file],
        id=JOB_ID,
        name="almamirror sync",
        replace_existing=True,  # the stored job follows the cron in the current settings
        **({"next_run_time": first_run} if first_run is not None else {}),
    )
    return scheduler


def run_scheduler(engine: Engine, settings: Settings, config_file: str | None, run_now: bool = False) -> None:
    """Run until SIGTERM or SIGINT; the first lets a running sync finish, a second exits 143 at once."""
    trigger = cron_trigger(settings.schedule)
    first_run = datetime.now(trigger.timezone) if run_now else None
    scheduler = build_scheduler(
        engine, settings, config_file, trigger=trigger, scheduler_class=BackgroundScheduler,
        first_run=first_run,
    )
    stop = threading.Event()
    stop_on_signals(stop)
    # Listeners run in the sync's thread: they must not take a scheduler lock (see the module doc).
    scheduler.add_listener(lambda _event: _log_next_run(trigger, "schedule.next"), EVENT_JOB_EXECUTED)
    scheduler.add_listener(
        lambda event: log.warning(
            "schedule.missed %s",
            fields(due=event.scheduled_run_time, grace_seconds=settings.schedule.misfire_grace_seconds),
        ),
        EVENT_JOB_MISSED,
    )
    scheduler.start()
    log.info("schedule.started %s", fields(job=JOB_ID, next_sync=first_run or _next_time(trigger)))
    stop.wait()
    scheduler.shutdown(wait=True)  # waits for a running sync; a second signal exits meanwhile
    log.info("schedule.stopped %s", fields(job=JOB_ID))


def _next_time(trigger: CronTrigger) -> datetime | None:
    next_time: datetime | None = trigger.get_next_fire_time(None, datetime.now(trigger.timezone))
    return next_time


def _log_next_run(trigger: CronTrigger, event_name: str) -> None:
    log.info(event_name + " %s", fields(job=JOB_ID, next_sync=_next_time(trigger)))


def stop_on_signals(stop: threading.Event) -> None:
    """The first SIGTERM or SIGINT sets ``stop``; a second one ends the process at once (exit 143)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            log.warning("schedule.killed %s", fields(signal=signal.Signals(signum).name,
                                                     note="a running sync is rolled back"))
            os._exit(EXIT_ON_SECOND_SIGNAL)
        log.info("schedule.stopping %s", fields(signal=signal.Signals(signum).name,
                                                 note="waiting for a running sync to finish"))
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)

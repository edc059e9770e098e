"""``almamirror sync`` and ``almamirror schedule``."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType
from typing import Any

from etl.cli.confirm import quiet
from etl.settings import Settings


def register(subparsers: Any) -> None:
    sync = subparsers.add_parser(
        "sync", help="copy the ALMA source into the mirror and re-derive restore status",
        description="Fetch from NGAS ([archive] ngas_urls) the calibration documents the mirror "
        "does not hold yet (pipeline manifests, restore scripts, archived PPRs; before and outside the "
        "sync's transaction, within [archive] document_time_budget), then read every contract table "
        "from the source in one consistent snapshot, merge it into the mirror, and re-derive sessions, "
        "calibration records and restore status for the MOUSes whose inputs changed. All or nothing: "
        "a failed sync leaves the mirror as it was (fetched documents are kept). An unreachable "
        "archive never fails a sync. A source table that reads far fewer rows than at the last "
        "successful sync stops it (see --allow-shrink); bad source rows are left out and reported "
        "(report quality --kind quarantined_row). Exit codes: 0 done, 1 failed, 3 another sync is "
        "running.",
    )
    sync.add_argument(
        "--full", action="store_true",
        help="read every source table whole (not only the buckets whose checksums moved) and "
        "re-derive every MOUS, not only changed ones",
    )
    sync.add_argument(
        "--allow-shrink", action="store_true",
        help="accept source tables that lost many rows since the last successful sync (a real mass "
        "deletion); without it such a sync stops before merging anything (source.max_shrink)",
    )
    sync.add_argument(
        "--format", choices=("table", "json"), default="table",
        help="summary format (default: table; -q prints no table, json is printed all the same)",
    )
    sync.set_defaults(run=run_sync_command)

    schedule = subparsers.add_parser(
        "schedule", help="run the sync on its cron schedule, in the foreground (for systemd)",
        description="Run the sync on schedule.cron (default nightly) until SIGTERM or SIGINT. The "
        "job is kept in the mirror database; one sync at a time; missed runs collapse into one and "
        "run if at most schedule.misfire_grace_seconds late. A failed sync is logged and the next one "
        "runs at its time. See docs/operations.md for a systemd unit.",
    )
    schedule.add_argument(
        "--once", action="store_true", help="run one sync now and exit with its exit code (for cron)"
    )
    schedule.add_argument(
        "--now", action="store_true",
        help="also run a sync as soon as the scheduler starts, then follow the schedule",
    )
    schedule.set_defaults(run=run_schedule_command)


def terminate_as_interrupt() -> None:
    """SIGTERM (systemd stop, kill) ends a sync like Ctrl-C: rolled back and recorded as interrupted."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt("terminated by SIGTERM")

    signal.signal(signal.SIGTERM, handler)


def run_sync_command(args: argparse.Namespace, settings: Settings) -> int:
    from etl.cli.databases import checked_mirror
    from etl.database import check_configured_urls, source_engine
    from etl.progress import tables_shown_on_terminal
    from etl.sync.pipeline import run_sync
    from etl.sync.summary import write_summary
    from etl.terminal import paged

    terminate_as_interrupt()
    check_configured_urls(settings)
    with checked_mirror(settings, "almamirror-sync") as mirror, source_engine(settings) as source:
        summary = run_sync(mirror, source, settings.source, full=args.full,
                           allow_shrink=args.allow_shrink, archive=settings.archive)
    if args.format == "json" or not quiet(args):
        # On a terminal: the source's UIDs and reasons escaped, and (with no table of figures to
        # keep whole) the sentences wrapped between words.
        with_tables = not tables_shown_on_terminal()
        with paged(sys.stdout, enabled=False, wrap=args.format == "table" and not with_tables) as shown:
            write_summary(summary, args.format, shown, with_tables=with_tables)
    return 0


def run_schedule_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.once:
        from etl.schedule import cron_trigger, refresh_status_page

        # --once ignores the time, but a cron expression the daemon would refuse is the site's
        # mistake all the same: said now, not on the day someone starts the daemon.
        cron_trigger(settings.schedule)
        try:
            return run_sync_command(
                argparse.Namespace(full=False, allow_shrink=False, format="table", quiet=quiet(args)),
                settings,
            )
        finally:
            refresh_status_page(settings)
    from etl.cli.databases import checked_mirror
    from etl.schedule import cron_trigger, run_scheduler

    cron_trigger(settings.schedule)  # a bad cron expression is a configuration error before connecting
    with checked_mirror(settings, "almamirror-schedule") as engine:
        run_scheduler(engine, settings, args.config, run_now=args.now)
    return 0

"""``almamirror report …``: what the mirror knows, read from its reporting views."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from etl.errors import UsageError
from etl.report.arguments import ARRAYS, COUNT_BY, SINCE_FORMS
from etl.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from etl.output import TableView


# Restorable means a restore kind other than none; a site that runs only PPR restores filters.
PPR_ONLY_HELP = (
    "only the MOUSes a restore PPR restores (kind pipeline_ppr): for a site that runs only PPR restores, "
    "a MOUS that now restores only by its script or scriptForPI.py is lost"
)

def add_format_argument(parser: argparse.ArgumentParser, default: str = "table") -> None:
    parser.add_argument(
        "--format", choices=("table", "csv", "json"), default=default,
        help=f"output format (default: {default}); csv and json are for machines",
    )


def add_pager_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-pager", dest="pager", action="store_false",
        help="never page; by default long output on a terminal goes through $PAGER (less -FRX)",
    )


def add_view_arguments(parser: argparse.ArgumentParser) -> None:
    """--format, and how a person sees the rows: which columns, how many, how wide, paged or not."""
    add_format_argument(parser)
    parser.add_argument(
        "--columns", metavar="A,B,C",
        help="only these columns, in this order (any column of the csv output; a name not in it "
        "lists the valid ones)",
    )
    parser.add_argument("--limit", type=int, metavar="N", help="at most N rows (the summary counts all)")
    parser.add_argument(
        "--wide", action="store_true",
        help="on a terminal, every column at full width (by default the table fits the terminal)",
    )
    add_pager_argument(parser)


def table_view(args: argparse.Namespace, available: Sequence[str], stream: TextIO) -> TableView:
    """The rows as this command line asks to see them; bad --columns or --limit is a UsageError."""
    from etl.output import TableView, choose_columns, parse_columns
    from etl.report.arguments import check_positive
    from etl.terminal import terminal_of

    view = TableView(
        terminal=terminal_of(stream),
        columns=None if args.columns is None else parse_columns(args.columns),
        wide=args.wide,
        limit=None if args.limit is None else check_positive(args.limit, "--limit"),
    )
    choose_columns(view, available, ())  # checked before the mirror is opened
    return view


@contextmanager
def report_output(
    args: argparse.Namespace, available: Sequence[str]
) -> Iterator[tuple[TextIO, TableView]]:
    """Where a report writes, and how: paged on a terminal after the mirror's snapshot is closed."""
    from etl.terminal import paged

    view = table_view(args, available, sys.stdout)
    with paged(sys.stdout, args.pager) as stream:
        yield stream, view


def register(subparsers: Any) -> None:
    report = subparsers.add_parser(
        "report", help="report restorable MOUSes, changes, data quality, provenance and sync runs",
        description="Read-only reports on the mirror's views (docs/reporting.md). Exit codes: 0 done "
        "(also when nothing matches), 1 the mirror is not migrated, 2 a bad argument.",
    )
    kinds = report.add_subparsers(dest="report", metavar="REPORT", required=True)

    restorable = kinds.add_parser(
        "restorable", help="the MOUSes that can be restored (or, with --not-restorable, why not)",
        description="The member OUSes that can be restored, by project and MOUS, each with its restore "
        "kind (pipeline_ppr, pipeline_script, scriptforpi) and the CASA it needs at this site "
        "([restore.casa]), with a summary that counts both sides within the filter. --ppr-only keeps "
        "those a restore PPR restores. --not-restorable lists the others with the reason code (csv and "
        "json also carry the reason in words).",
        epilog="e.g. almamirror report restorable --array 7m --format csv > restorable-7m.csv",
    )
    restorable.add_argument("--project", metavar="CODE", help="only this project, e.g. 2017.1.00886.L")
    restorable.add_argument("--array", choices=ARRAYS, help="only this array family")
    restorable.add_argument(
        "--not-restorable", action="store_true", help="list the MOUSes that cannot be restored, with reasons"
    )
    restorable.add_argument(
        "--ppr-only", action="store_true", help="only the MOUSes a restore PPR restores (kind pipeline_ppr)"
    )
    restorable.add_argument(
        "--by", choices=COUNT_BY,
        help="count the MOUSes per reason (not restorable, first reason that applies), restore kind, "
        "cycle, array or band instead of listing them",
    )
    add_view_arguments(restorable)
    restorable.set_defaults(run=run_restorable)

    changes = kinds.add_parser(
        "changes", help="what syncs changed (default: the latest run that changed anything)",
        description="The change events syncs recorded, newest first: by default those of the latest "
        "successful run that changed anything (the summary line names it), or of run N, or of every "
        "run finished since a moment. --mous keeps one MOUS's changes; alone it lists its whole "
        "history. An update shows old→new for every column it changed.",
        epilog=f"SINCE: {SINCE_FORMS}. Example: almamirror report changes --since 7d "
        "--mous uid://A001/X129e/Xb6",
    )
    which = changes.add_mutually_exclusive_group()
    which.add_argument("--since", metavar="SINCE", help="every change of runs finished since then")
    # dest run_id: args.run is the command's function.
    which.add_argument("--run", type=int, dest="run_id", metavar="N", help="the changes of sync run N")
    changes.add_argument("--mous", metavar="MOUS_UID", help="only the changes of this MOUS")
    add_view_arguments(changes)
    changes.set_defaults(run=run_changes)

    newly = kinds.add_parser(
        "newly-restorable", help="MOUSes that became restorable in the latest run (or since a moment)",
        description="The MOUSes that became restorable in the latest successful sync, or every MOUS "
        "restorable since a moment (restorable_since >= SINCE), oldest first.",
        epilog=f"SINCE: {SINCE_FORMS}.",
    )
    newly.add_argument("--since", metavar="SINCE", help="restorable since then, in any run")
    newly.add_argument(
        "--lost", action="store_true",
        help="the other side: the MOUSes that lost restorability (report no-longer-restorable)",
    )
    newly.add_argument("--spool", type=Path, metavar="DIR", help="with --lost: the spool to look in")
    newly.add_argument("--ppr-only", action="store_true", help=PPR_ONLY_HELP)
    add_view_arguments(newly)
    newly.set_defaults(run=run_newly_restorable)

    lost = kinds.add_parser(
        "no-longer-restorable", help="MOUSes that lost restorability in the latest run (or since a moment)",
        description="The MOUSes a sync found no longer restorable (an EB flipped to QA0 Fail, an archive "
        "record that now disagrees, an OUS gone from the source): by default those of the latest "
        "successful sync, with the reason now, and the request the spool holds for each, which must "
        "not be run (--spool DIR, default ppr.root_directory).",
        epilog=f"SINCE: {SINCE_FORMS}.",
    )
    lost.add_argument("--since", metavar="SINCE", help="lost in any run finished since then")
    lost.add_argument(
        "--spool", type=Path, metavar="DIR",
        help="the spool of request directories (default: ppr.root_directory, when set)",
    )
    lost.add_argument("--ppr-only", action="store_true", help=PPR_ONLY_HELP)
    add_view_arguments(lost)
    lost.set_defaults(run=run_no_longer_restorable)

    quality = kinds.add_parser(
        "quality", help="open data-quality issues found in the ALMA source",
        description="Problems found in the ALMA source (an EB without an end time, duplicate "
        "shift-log rows, a malformed OUSStatus document, …), open until a sync no longer finds them; "
        "by kind, then project and MOUS. last_seen_at is the latest successful sync.",
    )
    quality.add_argument("--kind", metavar="KIND", help="only issues of this kind, e.g. eb_null_end_time")
    quality.add_argument("--mous", metavar="MOUS_UID", help="only the issues of this MOUS")
    add_view_arguments(quality)
    quality.set_defaults(run=run_quality)

    provenance = kinds.add_parser(
        "provenance",
        help="MOUSes by the CASA and pipeline that calibrated them, serial or MPI (what a restore needs)",
        description="List the MOUSes whose calibration record the sync read from the archive, with the "
        "CASA and pipeline versions of their calibration and its MPI servers (0: serial CASA).",
    )
    provenance.add_argument(
        "--casa", metavar="VERSION", help="only this CASA version, or those it starts (6.5 matches 6.5.4-9)"
    )
    mode = provenance.add_mutually_exclusive_group()
    mode.add_argument("--mpi", action="store_true", help="only calibrations that ran in MPI CASA")
    mode.add_argument("--serial", action="store_true", help="only calibrations that ran in serial CASA")
    add_view_arguments(provenance)
    provenance.set_defaults(run=run_provenance)

    page = kinds.add_parser(
        "html", help="write the status page: one self-contained HTML file with charts",
        description="Write OUT_DIR/index.html: the last sync's result and figures, restorable MOUSes "
        "by cycle, array and band, restorable MOUSes over time, the newly restorable of the last 7 "
        "days, open data-quality findings by kind, and the calibration provenance when the mirror "
        "records it. No server and no network: charts and styles are inline. The file is replaced "
        "atomically; OUT_DIR is created if missing. schedule.status_page_dir writes it after every "
        "scheduled sync.",
    )
    page.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="directory for index.html")
    page.set_defaults(run=run_html)

    runs = kinds.add_parser(
        "runs", help="the sync history with per-table figures",
        description="The last N sync runs, newest first: status, times, host and pid, what each did "
        "to every table, and the error of a failed run.",
    )
    add_view_arguments(runs)
    runs.add_argument(
        "--last", type=int, metavar="N",
        help="the same as --limit: the last N runs (default: 10)",
    )
    runs.set_defaults(run=run_runs)


@contextmanager
def report_snapshot(settings: Settings) -> Iterator[Connection]:
    """The read-only snapshot every report reads, its times in UTC."""
    from etl.cli.databases import mirror_snapshot
    from etl.report.connection import use_report_time_zone

    with mirror_snapshot(settings, "almamirror-report") as connection:
        use_report_time_zone(connection)
        yield connection


def _since(text: str | None) -> Any:
    from etl.report.arguments import parse_since

    return None if text is None else parse_since(text)


def run_restorable(args: argparse.Namespace, settings: Settings) -> int:
    from etl.report import RestorableFilter, show_restorable
    from etl.report.arguments import check_array
    from etl.report.known import require_project
    from etl.report.restorable import ALL_COLUMNS

    chosen = RestorableFilter(
        project=args.project, array=check_array(args.array), not_restorable=args.not_restorable,
        ppr_only=args.ppr_only, casa=settings.restore.casa,
    )
    if args.by is not None:
        from etl.report.counts import count_columns, show_counts

        if args.not_restorable:
            raise UsageError("--by counts both sides (reason: the MOUSes that are not restorable); "
                             "leave out --not-restorable")
        with (
            report_output(args, count_columns(args.by)) as (stream, view),
            report_snapshot(settings) as connection,
        ):
            require_project(connection, chosen.project)
            show_counts(connection, chosen, args.by, args.format, stream, view)
        return 0
    with report_output(args, ALL_COLUMNS) as (stream, view), report_snapshot(settings) as connection:
        require_project(connection, chosen.project)
        show_restorable(connection, chosen, args.format, stream, view)
    return 0


def run_changes(args: argparse.Namespace, settings: Settings) -> int:
    from etl.report import show_changes
    from etl.report.arguments import check_positive, parse_mous
    from etl.report.changes import TABLE_COLUMNS
    from etl.report.known import require_mous
    from etl.report.views import column_names, recent_changes

    since = _since(args.since)
    run_id = None if args.run_id is None else check_positive(args.run_id, "--run")
    mous_uid = parse_mous(args.mous)
    available = (*column_names(recent_changes), *TABLE_COLUMNS)
    with report_output(args, available) as (stream, view), report_snapshot(settings) as connection:
        require_mous(connection, mous_uid)
        show_changes(connection, since, run_id, args.format, stream, view, mous_uid)
    return 0


def run_newly_restorable(args: argparse.Namespace, settings: Settings) -> int:
    from etl.report import show_newly_restorable

    if args.lost:
        return run_no_longer_restorable(args, settings)
    if args.spool is not None:
        raise UsageError("--spool goes with --lost (or report no-longer-restorable)")
    from etl.report.restorable import NEWLY_RESTORABLE_COLUMNS

    since = _since(args.since)
    with (
        report_output(args, NEWLY_RESTORABLE_COLUMNS) as (stream, view),
        report_snapshot(settings) as connection,
    ):
        show_newly_restorable(connection, since, args.format, stream, view, args.ppr_only)
    return 0


def run_no_longer_restorable(args: argparse.Namespace, settings: Settings) -> int:
    from etl.report.lost import COLUMNS, show_no_longer_restorable

    since = _since(args.since)
    spool = args.spool
    if spool is None and settings.ppr.root_directory and Path(settings.ppr.root_directory).is_dir():
        spool = Path(settings.ppr.root_directory)
    with report_output(args, COLUMNS) as (stream, view), report_snapshot(settings) as connection:
        show_no_longer_restorable(connection, since, spool, args.format, stream, view, args.ppr_only)
    return 0


def run_quality(args: argparse.Namespace, settings: Settings) -> int:
    from etl.report import show_quality
    from etl.report.arguments import check_quality_kind, parse_mous
    from etl.report.known import require_mous
    from etl.report.views import column_names, data_quality

    kind = check_quality_kind(args.kind)
    mous_uid = parse_mous(args.mous)
    with (
        report_output(args, column_names(data_quality)) as (stream, view),
        report_snapshot(settings) as connection,
    ):
        require_mous(connection, mous_uid)
        show_quality(connection, kind, args.format, stream, view, mous_uid)
    return 0


def run_provenance(args: argparse.Namespace, settings: Settings) -> int:
    from etl.report import ProvenanceFilter, show_provenance
    from etl.report.provenance import COLUMNS, check_casa_version

    mpi = True if args.mpi else False if args.serial else None
    chosen = ProvenanceFilter(casa=check_casa_version(args.casa), mpi=mpi, site=settings.restore.casa)
    with report_output(args, COLUMNS) as (stream, view), report_snapshot(settings) as connection:
        show_provenance(connection, chosen, args.format, stream, view)
    return 0


DEFAULT_RUNS = 10


def run_runs(args: argparse.Namespace, settings: Settings) -> int:
    from etl.report import show_runs
    from etl.report.arguments import check_positive
    from etl.report.runs import FLAT_COLUMNS

    if args.limit is not None and args.last is not None:
        raise UsageError("--last is another name for --limit: give one of them")
    given, option = (args.limit, "--limit") if args.limit is not None else (args.last, "--last")
    last = DEFAULT_RUNS if given is None else check_positive(given, option)
    # --limit counts runs here, not rows: the view lists every table of each run it keeps.
    args.limit = None
    with report_output(args, FLAT_COLUMNS) as (stream, view), report_snapshot(settings) as connection:
        show_runs(connection, last, args.format, stream, view)
    return 0


def run_html(args: argparse.Namespace, settings: Settings) -> int:
    from etl.report.html import prepare_directory, write_status_page

    prepare_directory(args.out_dir)  # a bad directory is refused before the mirror is opened
    with report_snapshot(settings) as connection:
        page = write_status_page(connection, args.out_dir)
    if not getattr(args, "quiet", False):
        print(f"status page: {page}")
    return 0

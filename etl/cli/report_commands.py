"""``almamirror report …``: what the mirror knows, read from its reporting views."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection

from etl.report.arguments import ARRAYS
from etl.settings import Settings


def add_format_argument(parser: argparse.ArgumentParser, default: str = "table") -> None:
    parser.add_argument(
        "--format", choices=("table", "csv", "json"), default=default,
        help=f"output format (default: {default}); csv and json are for machines",
    )


def register(subparsers: Any) -> None:
    report = subparsers.add_parser(
        "report", help="report restorable MOUSes, changes, data quality, provenance and sync runs",
        description="Read-only reports on the mirror's views (docs/reporting.md). Exit codes: 0 done "
        "(also when nothing matches), 1 the mirror is not migrated, 2 a bad argument.",
    )
    kinds = report.add_subparsers(dest="report", metavar="REPORT", required=True)

    restorable = kinds.add_parser(
        "restorable", help="the MOUSes that can be restored (or, with --not-restorable, why not)"
    )
    restorable.add_argument("--project", metavar="CODE", help="only this project, e.g. 2017.1.00886.L")
    restorable.add_argument("--array", choices=ARRAYS, help="only this array family")
    restorable.add_argument(
        "--not-restorable", action="store_true", help="list the MOUSes that cannot be restored, with reasons"
    )
    add_format_argument(restorable)
    restorable.set_defaults(run=run_restorable)

    changes = kinds.add_parser("changes", help="what syncs changed (default: the latest run)")
    which = changes.add_mutually_exclusive_group()
    which.add_argument("--since", metavar="ISO-DATE", help="every change of runs finished since then (UTC)")
    # dest run_id: args.run is the command's function.
    which.add_argument("--run", type=int, dest="run_id", metavar="N", help="the changes of sync run N")
    add_format_argument(changes)
    changes.set_defaults(run=run_changes)

    newly = kinds.add_parser(
        "newly-restorable", help="MOUSes that became restorable in the latest run (or since a date)"
    )
    newly.add_argument("--since", metavar="ISO-DATE", help="restorable since then (UTC), in any run")
    add_format_argument(newly)
    newly.set_defaults(run=run_newly_restorable)

    quality = kinds.add_parser("quality", help="open data-quality issues found in the ALMA source")
    quality.add_argument("--kind", metavar="KIND", help="only issues of this kind, e.g. eb_null_end_time")
    add_format_argument(quality)
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
    add_format_argument(provenance)
    provenance.set_defaults(run=run_provenance)

    runs = kinds.add_parser("runs", help="the sync history with per-table figures")
    runs.add_argument("--last", type=int, default=10, metavar="N", help="the last N runs (default: 10)")
    add_format_argument(runs)
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

    chosen = RestorableFilter(
        project=args.project, array=check_array(args.array), not_restorable=args.not_restorable
    )
    with report_snapshot(settings) as connection:
        show_restorable(connection, chosen, args.format, sys.stdout)
    return 0


def run_changes(args: argparse.Namespace, settings: Settings) -> int:
    from etl.report import show_changes
    from etl.report.arguments import check_positive

    since = _since(args.since)
    run_id = None if args.run_id is None else check_positive(args.run_id, "--run")
    with report_snapshot(settings) as connection:
        show_changes(connection, since, run_id, args.format, sys.stdout)
    return 0


def run_newly_restorable(args: argparse.Namespace, settings: Settings) -> int:
    from etl.report import show_newly_restorable

    since = _since(args.since)
    with report_snapshot(settings) as connection:
        show_newly_restorable(connection, since, args.format, sys.stdout)
    return 0


def run_quality(args: argparse.Namespace, settings: Settings) -> int:
    from etl.report import show_quality
    from etl.report.arguments import check_quality_kind

    kind = check_quality_kind(args.kind)
    with report_snapshot(settings) as connection:
        show_quality(connection, kind, args.format, sys.stdout)
    return 0


def run_provenance(args: argparse.Namespace, settings: Settings) -> int:
    from etl.report import ProvenanceFilter, show_provenance
    from etl.report.provenance import check_casa_version

    mpi = True if args.mpi else False if args.serial else None
    chosen = ProvenanceFilter(casa=check_casa_version(args.casa), mpi=mpi)
    with report_snapshot(settings) as connection:
        show_provenance(connection, chosen, args.format, sys.stdout)
    return 0


def run_runs(args: argparse.Namespace, settings: Settings) -> int:
    from etl.report import show_runs
    from etl.report.arguments import check_positive

    last = check_positive(args.last, "--last")
    with report_snapshot(settings) as connection:
        show_runs(connection, last, args.format, sys.stdout)
    return 0

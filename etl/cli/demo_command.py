"""``almamirror demo``: the whole job on embedded defaults, from an empty machine to a restore PPR."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl.cli.confirm import quiet
from etl.settings import ArchiveSettings, Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from etl.demo.job import DemoResult


def register(subparsers: Any) -> None:
    from etl.cli.source_commands import add_demo_arguments
    from etl.demo.scales import SEED_MOUS

    demo = subparsers.add_parser(
        "demo", help="demo archive → migrated mirror → sync → restore PPR, on embedded defaults",
        description="Create the demo ALMA archive if the source has none, migrate the mirror and sync "
        "it (against the stand-in NGAS archive, which serves each calibration's manifest, restore "
        "script and PPR), print the sync summary and the number of restorable MOUSes, and write the restore "
        "request of the seed document's MOUS " + SEED_MOUS + " and of the real pipeline calibration's "
        "MOUS, then start the stand-in NGAS archive on a free loopback port and fetch each request's "
        "products and ASDMs from it: directories the pipeline's executeppr can run in, checked by the "
        "preflight (ppr --verify). Exit 1 when a file could not be fetched or the preflight found a "
        "problem.",
    )
    add_demo_arguments(demo, default_scale=None)
    demo.add_argument(
        "--rebuild", action="store_true",
        help="replace the source's archive with a fresh demo archive of --scale (default small)",
    )
    demo.add_argument(
        "--output", type=Path, default=Path("demo-output"), metavar="DIR",
        help="where the restore request directory goes (default: ./demo-output)",
    )
    demo.add_argument(
        "--no-fetch", action="store_true",
        help="write the request but do not fetch its data from the stand-in NGAS archive",
    )
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from etl.cli.paths import check_output_directory
    from etl.database import mirror_engine, source_engine
    from etl.demo.job import demo_with_stand_in

    # Before the archive and the sync: a request directory that cannot be written is known now.
    check_output_directory(args.output, "--output")
    with source_engine(settings) as source, mirror_engine(settings, "almamirror-demo") as mirror, \
            demo_with_stand_in(
                source, mirror, settings, args.scale, args.seed, args.output, args.rebuild
            ) as (result, archive):
        # The stand-in the sync read stays up for the fetches (one process for the whole demo).
        return _report_and_fetch(args, mirror, result, archive)


def _report_and_fetch(
    args: argparse.Namespace, mirror: Engine, result: DemoResult, archive: ArchiveSettings
) -> int:
    from etl.demo.scales import SEED_MOUS
    from etl.progress import tables_shown_on_terminal
    from etl.report.restorable import describe_restore_kinds, restore_kind_counts
    from etl.sync.summary import write_summary

    with mirror.connect() as connection:
        kinds = restore_kind_counts(connection)
    if quiet(args):
        return _run_quietly(archive, result, args.no_fetch)
    prepared = result.mirror
    print(("created " if prepared.archive_created else "using ") + prepared.archive)
    write_summary(prepared.sync, "table", sys.stdout, with_tables=not tables_shown_on_terminal())
    # How the demo's MOUSes restore: by a PPR, the archived script, scriptForPI.py, or not at all.
    print(describe_restore_kinds(kinds))
    # The summary gave every figure; what is left is where the request went and what to try next.
    print(f"\nrestore request for {SEED_MOUS}: {result.seed_request}")
    status = 0 if args.no_fetch else _fetch(archive, result.seed_request)
    if result.real_request is not None:
        from etl.demo.real_files import REAL_MOUS

        print(f"\nrestore request for {REAL_MOUS} (a real pipeline calibration): {result.real_request}")
        status = max(status, 0 if args.no_fetch else _fetch(archive, result.real_request))
    print("next: almamirror report restorable, almamirror report quality, almamirror ppr --help")
    return status


def _run_quietly(archive: ArchiveSettings, result: DemoResult, no_fetch: bool) -> int:
    """Under -q: the fetches, and nothing on stdout unless one fails (its summary then goes to stderr)."""
    directories = [result.seed_request, *([result.real_request] if result.real_request is not None else [])]
    status = 0
    for directory in [] if no_fetch else directories:
        status = max(status, _fetch(archive, directory, quiet=True))
    return status


def _fetch(archive: ArchiveSettings, directory: Path, quiet: bool = False) -> int:
    from etl.cli.fetch_command import write_fetch_summary
    from etl.cli.fetch_progress import fetch_progress
    from etl.demo.job import fetch_demo_request

    if quiet:
        summary = fetch_demo_request(archive, directory)
        if not summary.ready:
            write_fetch_summary(summary, "table", sys.stderr)
        return 0 if summary.ready else 1
    with fetch_progress() as progress:
        summary = fetch_demo_request(archive, directory, progress)
    print()
    write_fetch_summary(summary, "table", sys.stdout)
    print(tree_summary(directory))
    return 0 if summary.ready else 1


def tree_summary(directory: Path) -> str:
    """What the request directory holds: files and bytes in rawdata/, products/, working/."""
    lines = [f"{directory}/"]
    for name in ("rawdata", "products", "working"):
        entries = sorted((directory / name).iterdir())
        files = [path for path in (directory / name).rglob("*") if path.is_file()]
        size = sum(path.stat().st_size for path in files)
        lines.append(
            f"  {name + '/':<10} {len(entries):>3} entries, {len(files):>4} files, {size:>13,} bytes"
        )
    return "\n".join(lines)

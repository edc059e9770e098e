"""``almamirror fetch REQUEST_DIR``: the products and ASDMs of a request directory, from ALMA's archive."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from etl.errors import UsageError
from etl.settings import Settings

SUMMARY_COLUMNS = ("state", "kind", "target", "bytes", "seconds", "reason")


def register(subparsers: Any) -> None:
    fetch = subparsers.add_parser(
        "fetch", help="download a request directory's products and ASDMs from ALMA's archive (NGAS)",
        description="Read REQUEST_DIR/fetch-manifest.json (written by 'almamirror ppr … --build') and "
        "fetch every product into products/ (verified against NGAS's size and checksum) and every ASDM "
        "into rawdata/ (through [archive] asdm_command); for a scriptForPI.py delivery tree, into "
        "script/, calibration/ and raw/<uid>.asdm.sdm. Files already there and verified are not "
        "downloaded again; a partial download is resumed. Then the preflight (ppr --verify) checks the "
        "directory as the restore opens it. Exit codes: 0 everything is there and the preflight passed, 1 "
        "some files failed or the preflight found problems (each named), 2 not a request directory or "
        "bad options, 3 another fetch is working in REQUEST_DIR.",
        epilog="The NGAS servers come from [archive] ngas_urls or ALMAMIRROR_NGAS_URL. See docs/fetch.md.",
    )
    fetch.add_argument("request_dir", type=Path, metavar="REQUEST_DIR", help="a request directory")
    add_fetch_options(fetch)
    fetch.add_argument("--dry-run", action="store_true",
                       help="list what would be fetched and its size; contact nothing, write nothing")
    fetch.add_argument("--format", choices=("table", "json"), default="table",
                       help="summary format (default: table)")
    fetch.set_defaults(run=run_fetch)


def add_fetch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--products-only", action="store_true", help="fetch the products, not the ASDMs")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="files fetched at once (default: [archive] workers, 4)")


def fetch_options(args: argparse.Namespace, dry_run: bool = False) -> Any:
    from ppr.fetch import FetchOptions

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers}: give at least 1")
    return FetchOptions(products_only=args.products_only, dry_run=dry_run, workers=args.workers)


def run_fetch(args: argparse.Namespace, settings: Settings) -> int:
    from ppr.fetch import fetch_request, read_plan

    options = fetch_options(args, args.dry_run)
    read_plan(args.request_dir)  # not a request directory: exit 2 before anything else
    if args.dry_run:
        summary = fetch_request(args.request_dir, settings.archive, options)
        write_fetch_summary(summary, args.format, sys.stdout, dry_run=True)
        return 0
    summary = fetch_with_progress(args.request_dir, settings, options)
    if args.format == "json" or not summary.ready or not args.quiet:
        write_fetch_summary(summary, args.format, sys.stdout)
    return 0 if summary.ready else 1


def fetch_with_progress(directory: Path, settings: Settings, options: Any, progress: Any = None) -> Any:
    """Fetch ``directory`` with its own progress display, or with ``progress``: the one display of a
    process that fetches several requests."""
    from etl.cli.fetch_progress import fetch_progress
    from ppr.fetch import fetch_request

    if progress is not None:
        return fetch_request(directory, settings.archive, options, progress)
    with fetch_progress() as own:
        return fetch_request(directory, settings.archive, options, own)


def write_fetch_summary(summary: Any, fmt: str, stream: TextIO, dry_run: bool = False) -> None:
    """The fetch's summary; on a terminal its tables fit the width and its file names and reasons (the
    archive's, a server's or an exporter's words) have their control characters escaped."""
    from etl.terminal import paged, terminal_of

    with paged(stream, enabled=False, wrap=True) as shown:
        _write_fetch_summary(summary, fmt, shown, terminal_of(stream), dry_run)


# On a narrow terminal the server, the kind and the time give way (the size stays); the file and the
# reason wrap in their cells.
SUMMARY_LAYOUT_DROP = ("source", "kind", "seconds")
SUMMARY_LAYOUT_FOLD = ("target", "reason")


def _write_fetch_summary(
    summary: Any, fmt: str, stream: TextIO, terminal: Any, dry_run: bool
) -> None:
    from etl.output import Layout, TableView, write_rows

    view = TableView(terminal=terminal, choosable=False, widenable=False)  # fetch has neither option
    layout = Layout(drop_first=SUMMARY_LAYOUT_DROP, fold=SUMMARY_LAYOUT_FOLD)
    rows = [
        {"state": o.state, "kind": o.kind, "target": o.target, "source": o.source, "bytes": o.bytes,
         "seconds": round(o.seconds, 2), "reason": o.reason}
        for o in summary.outcomes
    ]
    if fmt == "json":
        json.dump({
            "directory": str(summary.directory), "dry_run": dry_run,
            "fetched": summary.count("fetched"), "present": summary.count("present"),
            "failed": summary.count("failed"), "to_fetch": summary.count("to fetch"),
            "bytes": summary.fetched_bytes, "seconds": round(summary.seconds, 2), "files": rows,
            "preflight": None if summary.preflight is None else summary.preflight.to_json(),
        }, stream, indent=2)
        stream.write("\n")
        return
    if dry_run:
        planned = [row for row in rows if row["state"] == "to fetch"]
        known = sum(row["bytes"] or 0 for row in planned)
        unknown = sum(1 for row in planned if row["bytes"] is None)
        write_rows(rows, ("state", "kind", "target", "source", "bytes"), "table", stream, view=view,
                   layout=layout)
        stream.write(f"fetch --dry-run: {len(planned)} to fetch ({known:,} bytes"
                     f"{f' and {unknown} ASDM(s) of unknown size' if unknown else ''}), "
                     f"{summary.count('present')} already there\n")
        return
    # A table of the files that failed, with their reasons; what arrived is counted in the last line
    # (the progress showed each file, and --format json lists every one).
    failed = [row for row in rows if row["state"] == "failed"]
    if failed:
        write_rows(failed, SUMMARY_COLUMNS, "table", stream, view=view, layout=layout)
    rate = summary.fetched_bytes / summary.seconds / 1e6 if summary.seconds > 0 else 0.0
    stream.write(
        f"fetch {summary.directory}: {summary.count('fetched')} fetched, {summary.count('present')} "
        f"already there, {summary.count('failed')} failed; {summary.fetched_bytes:,} bytes in "
        f"{summary.seconds:.1f} s ({rate:.1f} MB/s)\n"
    )
    for failure in summary.failed:
        stream.write(f"  failed: {failure.target}: {failure.reason}\n")
    if summary.preflight is not None:
        from etl.cli.verify_command import write_verification

        write_verification(summary.preflight, "table", stream)

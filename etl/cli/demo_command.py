"""``almamirror demo``: the whole job on embedded defaults, from an empty machine to a restore PPR."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from etl.settings import Settings


def register(subparsers: Any) -> None:
    from etl.cli.source_commands import add_demo_arguments
    from etl.demo.scales import SEED_MOUS

    demo = subparsers.add_parser(
        "demo", help="demo archive → migrated mirror → sync → restore PPR, on embedded defaults",
        description="Create the demo ALMA archive if the source has none, migrate and sync the "
        "mirror, print the sync summary and the number of restorable MOUSes, and write the restore "
        "request (PPR and fetch manifest) of the seed document's MOUS " + SEED_MOUS + ".",
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
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from etl.cli.paths import check_output_directory
    from etl.database import mirror_engine, source_engine
    from etl.demo.job import run_demo
    from etl.demo.scales import SEED_MOUS
    from etl.sync.summary import write_summary

    # Before the archive and the sync: a request directory that cannot be written is known now.
    check_output_directory(args.output, "--output")
    with source_engine(settings) as source, mirror_engine(settings, "almamirror-demo") as mirror:
        result = run_demo(source, mirror, settings, args.scale, args.seed, args.output, args.rebuild)
    prepared = result.mirror
    print(("created " if prepared.archive_created else "using ") + prepared.archive)
    write_summary(prepared.sync, "table", sys.stdout)
    # The summary gave every figure; what is left is where the request went and what to try next.
    print(f"\nrestore request for {SEED_MOUS}: {result.seed_request}")
    print("next: almamirror report restorable, almamirror report quality, almamirror ppr --help")
    return 0

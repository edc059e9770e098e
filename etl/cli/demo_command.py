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
    add_demo_arguments(demo)
    demo.add_argument(
        "--output", type=Path, default=Path("demo-output"), metavar="DIR",
        help="where the restore request directory goes (default: ./demo-output)",
    )
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from etl.database import mirror_engine, source_engine
    from etl.demo.job import run_demo
    from etl.demo.scales import SEED_MOUS
    from etl.sync.summary import write_summary

    with source_engine(settings) as source, mirror_engine(settings, "almamirror-demo") as mirror:
        result = run_demo(source, mirror, settings, args.scale, args.seed, args.output)
    prepared = result.mirror
    print(("created " if prepared.archive_created else "using ") + prepared.archive)
    write_summary(prepared.sync, "table", sys.stdout)
    print(f"\n{prepared.sync.restorable_total:,} MOUSes are restorable "
          "(almamirror report restorable lists them)")
    print(f"restore request for {SEED_MOUS}: {result.seed_request}")
    return 0

"""``almamirror check``: is this site ready for its first night?"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from etl.cli.confirm import quiet
from etl.settings import Settings


def register(subparsers: Any) -> None:
    check = subparsers.add_parser(
        "check", help="check that the source, the mirror and the archive are ready for a sync",
        description="Read-only checks, one line each with what to fix: the source (reached; every "
        "contract table and column, after [source.column_names], present with a type the mirror "
        "reads; SELECT granted; the checksum functions the nightly bucket reads use; Oracle's "
        "NLS_COMP; row counts; round trip and a baseline's reading time), the mirror (server, schema "
        "revision, reader role, free disk when visible) and the archive (each NGAS URL answers STATUS "
        "for a file the mirror knows, with its size and a checksum the client verifies; the ASDM "
        "export tool runs). Nothing is written anywhere. Exit codes: 0 all passed, 1 otherwise.",
    )
    check.add_argument(
        "--format", choices=("table", "json"), default="table",
        help="table: one line per item (✓/✗); json: an object for monitoring (printed under -q too)",
    )
    check.set_defaults(run=run_check)


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    from etl.check.readiness import check_readiness
    from etl.database import check_configured_urls, mirror_engine, source_engine

    check_configured_urls(settings)
    with source_engine(settings) as source, mirror_engine(settings, "almamirror-check") as mirror:
        readiness = check_readiness(source, mirror, settings)
    if args.format == "json":
        document = {"ok": readiness.ok, "items": [item.as_json() for item in readiness.items]}
        json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        shown = readiness.failed if quiet(args) else readiness.items
        for item in shown:
            print(item.line())
    return 0 if readiness.ok else 1

"""Registers every command group; each group lives in its own module."""

from __future__ import annotations

import argparse
from typing import Any

from etl.cli import (
    archive_commands,
    db_commands,
    demo_command,
    fetch_command,
    ppr_commands,
    report_commands,
    source_commands,
    sync_commands,
)


def register_all(subparsers: Any) -> None:
    groups = (
        demo_command, source_commands, db_commands, sync_commands, ppr_commands, fetch_command,
        report_commands, archive_commands,
    )
    for group in groups:
        group.register(subparsers)


def add_format_argument(parser: argparse.ArgumentParser, default: str = "table") -> None:
    parser.add_argument(
        "--format", choices=("table", "csv", "json"), default=default,
        help=f"output format (default: {default}); csv and json are for machines",
    )

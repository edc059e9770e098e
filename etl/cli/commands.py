"""Registers every command group; each group lives in its own module."""

from __future__ import annotations

from typing import Any

from etl.cli import (
    archive_commands,
    check_command,
    completion_command,
    db_commands,
    demo_command,
    explain_command,
    fetch_command,
    ppr_commands,
    report_commands,
    source_commands,
    sync_commands,
)


def register_all(subparsers: Any) -> None:
    groups = (
        demo_command, source_commands, db_commands, sync_commands, ppr_commands, fetch_command,
        report_commands, explain_command, archive_commands, check_command, completion_command,
    )
    for group in groups:
        group.register(subparsers)


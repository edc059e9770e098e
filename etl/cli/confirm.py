"""What a command says when it succeeded: nothing under ``-q`` (cron mails whatever a job prints)."""

from __future__ import annotations

import argparse


def quiet(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "quiet", False))


def confirm(args: argparse.Namespace, *lines: str) -> None:
    """Print the lines that confirm a success, unless ``-q``; results asked for are not confirmations."""
    if not quiet(args):
        for line in lines:
            print(line)

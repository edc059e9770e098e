"""What a command says when it succeeded: nothing under ``-q`` (cron mails whatever a job prints)."""

from __future__ import annotations

import argparse
import sys


def quiet(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "quiet", False))


def confirm(args: argparse.Namespace, *lines: str) -> None:
    """Print the lines that confirm a success, unless ``-q``; results asked for are not confirmations."""
    if quiet(args):
        return
    from etl.terminal import paged

    # On a terminal: names from the archive escaped, sentences broken between words (paths kept whole).
    with paged(sys.stdout, enabled=False, wrap=True) as shown:
        for line in lines:
            shown.write(line + "\n")

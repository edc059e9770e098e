"""What ``explain`` says last: the command to run next for this MOUS, and its verdict in colour.

An operator reads ``explain`` to decide what to do; the screen ends with the command that does it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TextIO

from etl.controls import escape_controls
from etl.terminal import Terminal, write_drawn

GREEN = "\x1b[32m"
RED_BOLD = "\x1b[1;31m"
RESET = "\x1b[0m"


def next_step(status: Mapping[str, Any]) -> str:
    """The next command for this MOUS, in words an operator can paste."""
    uid = status["mous_uid"]
    if status["restorable"] and not status["proprietary"]:
        return (f"next: almamirror ppr {uid} --build DIR (the restore request; --fetch also downloads "
                "its products and ASDMs)")
    if status["restorable"]:
        return (f"next: proprietary, so almamirror ppr {uid} --build DIR refuses it; add "
                "--allow-proprietary only where the data rights allow it, or wait for its release")
    return (f"next: nothing to restore until a sync finds it restorable; almamirror ppr {uid} --check "
            f"compares the archive's record, almamirror report changes --mous {uid} shows what changed")


def write_headline(stream: TextIO, headline: str, restorable: bool, terminal: Terminal | None) -> None:
    """The headline, its verdict coloured on a colour terminal; the source's words in it (a PI's
    name) have their control characters escaped, the colour is the output layer's own."""
    if terminal is None or not terminal.color:
        stream.write(headline + "\n")
        return
    write_drawn(stream, coloured_verdict(escape_controls(headline), restorable, terminal) + "\n")


def coloured_verdict(headline: str, restorable: bool, terminal: Terminal | None) -> str:
    """The headline with its verdict green (restorable) or bold red (not) on a colour terminal."""
    if terminal is None or not terminal.color:
        return headline
    # The verdict ends the headline, possibly wrapped across lines: colour it where it stands.
    found = _VERDICT.search(headline)
    if found is None:
        return headline
    colour = GREEN if restorable else RED_BOLD
    return f"{headline[:found.start()]}{colour}{found.group()}{RESET}{headline[found.end():]}"


_VERDICT = re.compile(r"(NOT\s+restorable\s+\([^)]*\)|restorable)\s*$")

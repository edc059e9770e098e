"""The terminal a command writes to, if any, and paging long output through it as psql and git do.

Everything terminal-shaped (fitted tables, colour, the pager, redrawn progress) happens only when the
stream is a terminal. A file, a pipe or a test gets plain, stable text, so scripts and diffs can rely
on it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from etl.controls import escape_controls
from etl.logs import fields

log = logging.getLogger(__name__)

DEFAULT_PAGER = "less -FRX"
# Lines a screen keeps for the shell's prompt after a page of output.
PROMPT_LINES = 1


@dataclass(frozen=True)
class Terminal:
    width: int
    height: int
    color: bool
    """False when NO_COLOR is set (https://no-color.org): then no escape sequence at all is written."""


def terminal_of(stream: TextIO) -> Terminal | None:
    """The terminal ``stream`` writes to; None for a file, a pipe or a captured stream."""
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):  # a closed or stand-in stream
        return None
    if not interactive:
        return None
    # COLUMNS and LINES win over the kernel's idea of the size, as they do for less and psql.
    size = shutil.get_terminal_size()
    return Terminal(width=size.columns, height=size.lines, color=not os.environ.get("NO_COLOR"))


class TerminalText(io.StringIO):
    """A command's output collected for a terminal: what is written has its control characters escaped
    (source data may hold escape sequences); ``write_drawn`` takes text the output layer drew itself,
    a table whose cells it escaped and whose colours it chose."""

    def write(self, text: str) -> int:
        return super().write(escape_controls(text))

    def write_drawn(self, text: str) -> int:
        return super().write(text)


def write_drawn(stream: TextIO, text: str) -> None:
    """Write text the output layer drew (with its own escape sequences) as it is."""
    if isinstance(stream, TerminalText):
        stream.write_drawn(text)
    else:
        stream.write(text)


@contextlib.contextmanager
def paged(stream: TextIO, enabled: bool = True, wrap: bool = False) -> Iterator[TextIO]:
    """A stream for a command's output: on a terminal, collected, escaped and then shown, paged when
    long (unless ``enabled`` is False: --no-pager).

    Off a terminal the output goes straight to ``stream``, exact. A command that fails inside the
    block shows nothing of what it had written: no half a report. ``wrap`` breaks plain lines wider
    than the terminal between words (a summary's sentences), rather than where the screen cuts them.
    """
    terminal = terminal_of(stream)
    if terminal is None:
        yield stream
        return
    buffer = TerminalText()
    yield buffer
    text = buffer.getvalue()
    show(wrapped_lines(text, terminal.width) if wrap else text, stream, terminal, enabled)


def wrapped_lines(text: str, width: int) -> str:
    """``text`` with each plain line wider than ``width`` broken between words, its continuation
    indented two more than the line; drawn lines (with escape sequences) are left as they are."""
    import textwrap

    lines = []
    for line in text.split("\n"):
        if len(line) <= width or "\x1b" in line:
            lines.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip(" ")) + 2)
        # A path or URL longer than the line stays whole (copied from the screen, it must still work).
        lines.append(textwrap.fill(line, width, subsequent_indent=indent, break_on_hyphens=False,
                                   break_long_words=False))
    return "\n".join(lines)


def show(text: str, stream: TextIO, terminal: Terminal, page: bool = True) -> None:
    """Text that fits the screen is written; longer text goes through the pager."""
    short = screen_rows(text, terminal.width) <= terminal.height - PROMPT_LINES
    if short or not page or not run_pager(text, stream):
        stream.write(text)
        stream.flush()


_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def screen_rows(text: str, width: int) -> int:
    """The rows ``text`` takes on a screen ``width`` columns wide: a line longer than the screen wraps
    (a --wide table), and colour escapes take no room."""
    rows = 0
    for line in text.splitlines():
        length = len(_ESCAPE.sub("", line))
        rows += max(1, -(-length // max(width, 1)))
    return rows


def pager_command() -> list[str] | None:
    """$PAGER split into words (default ``less -FRX``); None when paging is off (PAGER empty or cat)."""
    configured = os.environ.get("PAGER")
    command = DEFAULT_PAGER if configured is None else configured
    try:
        words = shlex.split(command)
    except ValueError as exc:
        log.warning("pager.unusable %s", fields(pager=command, problem=str(exc)))
        return None
    if not words or words == ["cat"]:
        return None
    return words


def run_pager(text: str, stream: TextIO) -> bool:
    """Show ``text`` in the pager on the terminal; False when no pager could be started."""
    command = pager_command()
    if command is None:
        return False
    stream.flush()
    try:
        pager = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=_fd_or_none(stream))
    except OSError as exc:
        log.warning("pager.unusable %s", fields(pager=" ".join(command), problem=exc.strerror or str(exc)))
        return False
    # Ctrl-C belongs to the pager while it runs (less uses it to stop a search), as in git.
    previous = _ignore_interrupts()
    try:
        with contextlib.suppress(BrokenPipeError):  # the reader quit before the end: that is fine
            if pager.stdin is not None:
                pager.stdin.write(text.encode(_encoding(stream), errors="replace"))
                pager.stdin.close()
        pager.wait()
    finally:
        _restore_interrupts(previous)
    return True


def _fd_or_none(stream: TextIO) -> int | None:
    """The pager writes where the command would have: the stream's own descriptor."""
    try:
        return stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


def _encoding(stream: TextIO) -> str:
    return getattr(stream, "encoding", None) or "utf-8"


def _ignore_interrupts() -> object:
    try:
        return signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: leave signals alone
        return None


def _restore_interrupts(previous: object) -> None:
    if previous is not None:
        signal.signal(signal.SIGINT, previous)  # type: ignore[arg-type]


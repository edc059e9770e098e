"""Run ``almamirror`` in a child process whose output is a pseudo-terminal, as a person at a terminal would.

The child gets a real pty of a chosen size (and COLUMNS/LINES, which win, as for less and psql); stdout
and stderr may each be the terminal or a pipe, so a test can tell apart what a person sees on the
terminal and what a log file gets.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

# A pager that records it was called: its words, whether its output was a terminal, and what it read.
RECORDING_PAGER = """\
import os, sys
record = sys.argv[1]
text = sys.stdin.read()
with open(record, "w", encoding="utf-8") as out:
    out.write(f"argv={sys.argv[2:]!r}\\n")
    out.write(f"stdout_is_terminal={os.isatty(1)}\\n")
    out.write(text)
sys.stdout.write("<<paged>>\\n")
"""


@dataclass(frozen=True)
class TerminalRun:
    status: int
    terminal: str
    """Everything written to the terminal (CR LF turned into LF)."""
    stderr: str
    """stderr when it was a pipe; '' when it went to the terminal too."""


def cli_env(
    mirror: URL | None, home: Path, source: URL | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment a child ``almamirror`` needs to reach the test databases."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ALMAMIRROR_")}
    for name in ("PAGER", "NO_COLOR", "COLUMNS", "LINES", "LESS"):
        env.pop(name, None)
    env["ALMAMIRROR_HOME"] = str(home)
    env["TERM"] = "xterm-256color"
    if mirror is not None:
        env["ALMAMIRROR_MIRROR_URL"] = mirror.render_as_string(hide_password=False)
    if source is not None:
        env["ALMAMIRROR_SOURCE_URL"] = source.render_as_string(hide_password=False)
    env.update(extra or {})
    return env


def run_in_terminal(
    args: list[str],
    env: Mapping[str, str],
    columns: int = 100,
    lines: int = 40,
    stderr_to_terminal: bool = False,
    timeout: float = 120.0,
    answer: tuple[str, str] | None = None,
) -> TerminalRun:
    """``almamirror ARGS`` with stdin and stdout (and optionally stderr) on a pty of ``columns`` × ``lines``.

    ``answer`` is (question, reply): the reply is typed, with Enter, once the question has appeared.
    """
    controller, child_end = pty.openpty()
    fcntl.ioctl(child_end, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    child_env = {**env, "COLUMNS": str(columns), "LINES": str(lines)}
    process = subprocess.Popen(
        [sys.executable, "-m", "etl.cli", *args],
        stdin=child_end, stdout=child_end,
        stderr=child_end if stderr_to_terminal else subprocess.PIPE,
        env=child_env, close_fds=True,
    )
    os.close(child_end)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    answered = answer is None
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: every holder of the terminal's other end has closed it
                    break
                if not chunk:
                    break
                chunks.append(chunk)
                if not answered and answer is not None and answer[0].encode() in b"".join(chunks):
                    os.write(controller, answer[1].encode() + b"\n")
                    answered = True
        else:
            process.kill()
            raise AssertionError(f"almamirror {' '.join(args)} did not finish in {timeout} s")
        stderr = process.stderr.read().decode() if process.stderr else ""
        status = process.wait(timeout=timeout)
    finally:
        os.close(controller)
        if process.stderr:
            process.stderr.close()
    text = b"".join(chunks).decode("utf-8", errors="replace").replace("\r\n", "\n")
    return TerminalRun(status, text, stderr)


def recording_pager(directory: Path) -> tuple[str, Path]:
    """A PAGER command and the file it writes when it is called."""
    script = directory / "recording_pager.py"
    script.write_text(RECORDING_PAGER, encoding="utf-8")
    record = directory / "pager-record.txt"
    return f"{sys.executable} {script} {record} --marker", record


_CONTROL = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b[()][0-9A-Za-z]|\x1b[=>78]|([\n\r\b])")


def scrollback(text: str, columns: int, lines: int) -> list[str]:
    """What stays on a ``columns`` × ``lines`` terminal and in its scrollback once ``text`` is drawn:
    lines redrawn in place (cursor up, erase line, carriage return) count once, as a person sees them.

    Enough of a terminal for what rich and the CLI write: printable text, CR, LF, backspace, cursor up
    and down, erase in line; colours and modes are dropped.
    """
    screen: list[list[str]] = [[]]
    row = col = 0

    def put(chars: str) -> None:
        nonlocal row, col
        for char in chars:
            if col >= columns:  # the terminal wraps onto the next row
                row, col = row + 1, 0
                while len(screen) <= row:
                    screen.append([])
            line = screen[row]
            line.extend(" " * (col - len(line) + 1) if col >= len(line) else "")
            line[col] = char
            col += 1

    position = 0
    for match in _CONTROL.finditer(text):
        put(text[position:match.start()])
        position = match.end()
        argument, command, plain = match.group(1), match.group(2), match.group(3)
        if plain == "\n":
            row, col = row + 1, 0  # the pty turned LF into CR LF
            while len(screen) <= row:
                screen.append([])
        elif plain == "\r":
            col = 0
        elif plain == "\b":
            col = max(col - 1, 0)
        elif command in ("A", "B"):
            count = int(argument or "1")
            top = max(len(screen) - lines, 0)  # rows scrolled off can no longer be reached
            row = max(row - count, top) if command == "A" else row + count
            while len(screen) <= row:
                screen.append([])
        elif command == "K":
            line = screen[row]
            if argument in ("", "0"):
                del line[col:]
            elif argument == "2":
                line.clear()
            else:
                del line[:col + 1]
                line[:0] = " " * (col + 1)
    put(text[position:])
    while screen and not screen[-1]:
        screen.pop()
    return ["".join(line).rstrip() for line in screen]

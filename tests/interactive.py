"""Running almamirror as a person does: in a pseudo-terminal, answering what it asks."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class InteractiveRun:
    status: int
    output: str  # stdout and stderr as the terminal showed them


def run_interactive(
    args: list[str],
    environment: Mapping[str, str],
    answer: tuple[str, str] | None = None,
    timeout: float = 120,
) -> InteractiveRun:
    """``python -m etl.cli ARGS`` with stdin, stdout and stderr on a pseudo-terminal.

    ``answer`` is (question, reply): the reply is typed, with Enter, once the question has appeared.
    """
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "etl.cli", *args], stdin=terminal, stdout=terminal, stderr=terminal,
        env=dict(environment), close_fds=True,
    )
    os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    answered = answer is None
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # EIO: the program closed the terminal
                    break
                if not chunk:
                    break
                chunks.append(chunk)
                if not answered and answer is not None and answer[0].encode() in b"".join(chunks):
                    os.write(controller, answer[1].encode() + b"\n")
                    answered = True
            elif process.poll() is not None:
                break
        status = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
            process.wait()
    return InteractiveRun(status, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n"))

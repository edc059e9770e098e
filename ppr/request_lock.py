"""One fetch at a time in a request directory: ``.fetch.lock``, held with ``flock`` while a fetch works.

Two fetches of one directory would append to the same ``.part`` files and rename each other's bytes
into place; a ``--force`` build takes the lock too, so that it never replaces the PPR and the fetch
manifest under a fetch (ppr.layout). The kernel lock ends with the process, however it ends, so a
fetch killed with SIGKILL never leaves a stale lock behind; the file keeps the holder's pid and host
only to name it.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from etl.safe_files import open_file
from ppr.errors import FetchAlreadyRunning

LOCK_FILE: Final = ".fetch.lock"


@contextmanager
def request_lock(directory: Path) -> Iterator[None]:
    """Hold ``directory``'s fetch lock for the block; ``FetchAlreadyRunning`` (exit 3) if another has it."""
    descriptor = open_file(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FetchAlreadyRunning(directory, _holder(descriptor)) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _holder(descriptor: int) -> str:
    said = os.pread(descriptor, 200, 0).decode("utf-8", errors="replace").strip()
    return said or "pid unknown"

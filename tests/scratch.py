"""Temporary directories on the memory file system, for what a test writes but never needs after a crash.

On /dev/shm (where the machine has it, with room to spare) an fsync is still made and returns at once:
an embedded server's initdb and checkpoints, and the fdatasync the request-directory writer gives each
file (ppr/layout.py), no longer wait for a disk. Elsewhere the system's temporary directory, as before.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

MEMORY = Path("/dev/shm")  # noqa: S108  (only a parent: each directory in it is made by tempfile)
ROOM = 2**30


def memory_base() -> str | None:
    """MEMORY when it is usable and has a gigabyte free; None (tempfile's default) otherwise."""
    if not (MEMORY.is_dir() and os.access(MEMORY, os.W_OK | os.X_OK)):
        return None
    return str(MEMORY) if shutil.disk_usage(MEMORY).free >= ROOM else None


def memory_directory(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary directory (a context manager, as tempfile's), on the memory file system if there is one.

    Short: an embedded server's socket lives in its data directory under it.
    """
    return tempfile.TemporaryDirectory(prefix=prefix, dir=memory_base())

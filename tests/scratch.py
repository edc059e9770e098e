"""Temporary directories on the memory file system, for what a test writes but never needs after a crash.

On /dev/shm (where the machine has it, with room to spare) an fsync is still made and returns at once:
an embedded server's initdb and checkpoints, and the fdatasync the request-directory writer gives each
file (ppr/layout.py), no longer wait for a disk. Elsewhere the system's temporary directory, as before.

The whole run's basetemp goes there too (``run_directory``, tests/conftest.py) unless ``--basetemp``
says where: the run's own PostgreSQL clones a template database for most tests, and on the disk shared
with other work a clone took 0.2-0.6 s, a drop 0.9 s and deleting a run's gigabytes of clones at its
end 20-30 s, against 0.05 s, 0.03 s and a few seconds in memory (100 of each side by side, load 11-14).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from etl.embedded_serve import process_alive

MEMORY = Path("/dev/shm")  # noqa: S108  (only a parent: each directory in it is made by tempfile)
ROOM = 2**30
# A run's basetemp: its servers' databases (each test's dropped when it ends), request directories,
# demo outputs and wheels stay under 2 GB; the rest is margin for other work on the machine.
RUN_ROOM = 8 * 2**30
RUN_PREFIX = "almamirror-pytest-"


def memory_base(room: int = ROOM) -> str | None:
    """MEMORY when it is usable and has ``room`` bytes free; None (tempfile's default) otherwise."""
    if not (MEMORY.is_dir() and os.access(MEMORY, os.W_OK | os.X_OK)):
        return None
    return str(MEMORY) if shutil.disk_usage(MEMORY).free >= room else None


def run_directory() -> Path | None:
    """A new directory in memory for a test run's basetemp, or None where there is no room for one.

    A run's directory is removed when the run passes; a failed run's stays for a look at what it left,
    until a later run finds its process gone.
    """
    base = memory_base(RUN_ROOM)
    if base is None:
        return None
    _remove_abandoned_runs()
    return Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-", dir=base))


def _remove_abandoned_runs() -> None:
    for directory in MEMORY.glob(f"{RUN_PREFIX}*-*"):
        pid = directory.name.removeprefix(RUN_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)) and not _servers_running(directory):
            shutil.rmtree(directory, ignore_errors=True)


def _servers_running(directory: Path) -> bool:
    """Whether an embedded server a run started under ``directory`` still runs (its files stay till then)."""
    for pid_file in directory.glob("**/pgdata/postmaster.pid"):
        try:
            pid = pid_file.read_text().split()[0]
        except (OSError, IndexError):
            continue
        if not pid.isdigit() or process_alive(int(pid)):
            return True
    return False


def memory_directory(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary directory (a context manager, as tempfile's), on the memory file system if there is one.

    Short: an embedded server's socket lives in its data directory under it.
    """
    return tempfile.TemporaryDirectory(prefix=prefix, dir=memory_base())

"""Request directories written by threads while the next PPRs are built, flushed to disk a batch at a time.

Writing a directory is mostly the kernel's work: four mkdirs, six files, a rename. The threads write
each directory under a hidden name beside its target (``.<name>.partial-…``) without flushing it; once
``BATCH`` directories are written, one ``syncfs(2)`` (per file system they lie on) puts all of them on
disk and they are renamed into place, in submission order. So no directory is ever renamed into place
before its files are on disk, as when each file was flushed before its rename, and a batch costs one
journal commit instead of six flushes per directory: on ext4 that halves the kernel's CPU per
directory (docs/performance.md).

``syncfs`` also flushes what other writers of the file system left in memory. A batch whose flush
takes longer than ``SLOW_FLUSH_SECONDS`` says that such writers are busy (a fetch of large files into
the same spool), and the process then flushes each file before its rename, as it does where there is
no ``syncfs`` (not Linux): its speed is then its own again.

Results come back in submission order, so a bulk run reports exactly what a sequential one would.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType

from etl.logs import fields
from ppr.errors import OutputExists
from ppr.layout import RequestFiles, StagedDirectory, stage_request_directory

log = logging.getLogger(__name__)

# Threads that wait on the kernel, not the interpreter. On the development machine's ext4, directories
# written per second rose with the threads up to about 32 while each file was flushed (journal commits
# are shared); written unflushed, 8 to 32 threads write about as fast.
WRITER_THREADS = 32
# Directories built ahead of the writers at most: bounds the memory a bulk run holds (about 10 kB each).
MAX_PENDING = 1_024
# Directories written before one flush of the file system puts them on disk and they are renamed.
BATCH = 256
# A flush of a batch slower than this waits for other writers' data: flush file by file from then on.
SLOW_FLUSH_SECONDS = 2.0



@dataclass
class FlushMode:
    """How this process puts request directories on disk."""

    each_file: bool = False  # every file flushed before its directory's rename, no batch flushed at once


# Set to each_file once a batch's flush was slow, for the rest of this process (a bulk run's worker
# writes many chunks, each with its own writer).
flush_mode = FlushMode()

Written = tuple[str, StagedDirectory | Path | OutputExists]


class RequestWriter:
    """Writes request directories in threads; ``on_written`` / ``on_exists`` run in the caller's thread."""

    def __init__(
        self,
        force: bool,
        on_written: Callable[[str, Path], None],
        on_exists: Callable[[str, OutputExists], None],
    ) -> None:
        self._force = force
        self._on_written = on_written
        self._on_exists = on_exists
        self._pool = ThreadPoolExecutor(WRITER_THREADS, thread_name_prefix="ppr-writer")
        self._pending: deque[tuple[str, Future[StagedDirectory | Path]]] = deque()
        self._batch: list[Written] = []  # written, not yet flushed and renamed into place

    def submit(self, mous_uid: str, files: RequestFiles) -> None:
        """Queue ``files`` for writing; waits for the oldest directory when too many are queued."""
        flush = flush_mode.each_file or _syncfs() is None
        future = self._pool.submit(stage_request_directory, files, self._force, flush)
        self._pending.append((mous_uid, future))
        while len(self._pending) > MAX_PENDING:
            self._collect_oldest()

    def finish(self) -> None:
        """Wait for every queued directory; the first error other than ``OutputExists`` is raised."""
        while self._pending:
            self._collect_oldest()
        self._put_batch_in_place()

    def _collect_oldest(self) -> None:
        mous_uid, future = self._pending.popleft()
        try:
            self._batch.append((mous_uid, future.result()))
        except OutputExists as exists:
            self._batch.append((mous_uid, exists))
        if len(self._batch) >= BATCH:
            self._put_batch_in_place()

    def _put_batch_in_place(self) -> None:
        unflushed = [outcome.staging.parent for _uid, outcome in self._batch
                     if isinstance(outcome, StagedDirectory) and not outcome.flushed]
        for directory in _one_per_file_system(unflushed):
            _flush_file_system(directory, len(unflushed))
        batch, self._batch = self._batch, []
        for done, (mous_uid, outcome) in enumerate(batch):
            try:
                if isinstance(outcome, OutputExists):
                    self._on_exists(mous_uid, outcome)
                elif isinstance(outcome, StagedDirectory):
                    self._on_written(mous_uid, outcome.put_in_place())
                else:  # refreshed in place (--force)
                    self._on_written(mous_uid, outcome)
            except BaseException:
                self._batch = batch[done + 1:]  # discarded on the way out
                raise

    def _discard_unplaced(self) -> None:
        """After an error: directories written but not renamed into place are removed, never half-kept."""
        for _uid, outcome in self._batch:
            if isinstance(outcome, StagedDirectory):
                outcome.discard()
        self._batch = []
        for _uid, future in self._pending:
            if not future.cancelled() and future.exception() is None:
                staged = future.result()
                if isinstance(staged, StagedDirectory):
                    staged.discard()
        self._pending.clear()

    def __enter__(self) -> RequestWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if kind is None:
                self.finish()
        finally:
            # After an error, directories not started yet are not written, and those written but not
            # yet in place are removed.
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._discard_unplaced()


def _one_per_file_system(directories: list[Path]) -> list[Path]:
    """A directory of each file system among ``directories`` (a request's path may cross a mount point)."""
    devices: dict[int, Path] = {}
    for directory in dict.fromkeys(directories):
        devices.setdefault(directory.stat().st_dev, directory)
    return list(devices.values())


def _flush_file_system(directory: Path, count: int) -> None:
    """One ``syncfs`` of the file system holding ``directory``: every staged directory's files on disk."""
    syncfs = _syncfs()
    assert syncfs is not None  # staged unflushed only where there is one
    started = time.monotonic()
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if syncfs(descriptor) != 0:
            import ctypes

            number = ctypes.get_errno()
            raise OSError(number, f"flushing the file system of {directory}: {os.strerror(number)}")
    finally:
        os.close(descriptor)
    seconds = time.monotonic() - started
    if seconds > SLOW_FLUSH_SECONDS and not flush_mode.each_file:
        flush_mode.each_file = True
        log.info("ppr.flush_each_file %s", fields(
            directories=count, flush_seconds=round(seconds, 2),
            reason="the file system holds other writers' unflushed data",
        ))


@cache
def _syncfs() -> Callable[[int], int] | None:
    """Linux's ``syncfs`` (not in ``os``), or None where there is none."""
    import ctypes  # here: only a bulk run needs it

    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int,)
    function.restype = ctypes.c_int
    return function

"""Request directories written by threads while the next PPRs are built.

Writing a directory is mostly waiting: five mkdirs, two files each flushed to disk with fsync, a
rename. fsync releases the interpreter and the file system commits concurrent flushes together, so
a few dozen writer threads turn the disk's latency into throughput while the thread that submits
them builds and validates the next PPRs. Results come back in submission order, so a bulk run
reports exactly what a sequential one would.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from ppr.errors import OutputExists
from ppr.layout import RequestFiles, write_request_directory

# Threads that wait on the disk, not the CPU. On the development machine's ext4, directories written
# per second rose with the flushes in flight (journal commits are shared) up to about 32 threads.
WRITER_THREADS = 32
# Directories built ahead of the writers at most: bounds the memory a bulk run holds (about 10 kB each).
MAX_PENDING = 1_024


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
        self._pending: deque[tuple[str, Future[Path]]] = deque()

    def submit(self, mous_uid: str, files: RequestFiles) -> None:
        """Queue ``files`` for writing; waits for the oldest directory when too many are queued."""
        self._pending.append((mous_uid, self._pool.submit(write_request_directory, files, self._force)))
        while len(self._pending) > MAX_PENDING:
            self._collect_oldest()

    def finish(self) -> None:
        """Wait for every queued directory; the first error other than ``OutputExists`` is raised."""
        while self._pending:
            self._collect_oldest()

    def _collect_oldest(self) -> None:
        mous_uid, future = self._pending.popleft()
        try:
            directory = future.result()
        except OutputExists as exists:
            self._on_exists(mous_uid, exists)
        else:
            self._on_written(mous_uid, directory)

    def __enter__(self) -> RequestWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if kind is None:
                self.finish()
        finally:
            # After an error, directories not started yet are not written; those started are finished.
            self._pool.shutdown(wait=True, cancel_futures=True)

"""Progress of a fetch: bars per file and in total on a terminal (rich), plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import threading
import time
from types import TracebackType
from typing import Any, TextIO

from etl.controls import escape_controls
from etl.logs import fields
from ppr.fetch.plan import FetchPlan
from ppr.fetch.run import NOT_TRIED, Outcome

log = logging.getLogger("almamirror.fetch")
LOG_INTERVAL_SECONDS = 10.0


class LogProgress:
    """One line when the fetch starts, one per file, and a running total at most every ten seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}
        self._total = 0
        self._last = time.monotonic()

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def planned(self, plan: FetchPlan, items: int) -> None:
        self._total = plan.product_bytes
        log.info("fetch.start %s", fields(directory=plan.directory, mous_uid=plan.mous_uid, items=items,
                                          product_bytes=plan.product_bytes))

    def started(self, target: str, size: int | None) -> None:
        log.debug("fetch.file_start %s", fields(target=target, bytes=size if size is not None else ""))

    def advanced(self, target: str, held: int, size: int) -> None:  # noqa: ARG002 (the observer's signature)
        with self._lock:
            self._held[target] = held
            now = time.monotonic()
            if now - self._last < LOG_INTERVAL_SECONDS:
                return
            self._last = now
            done = sum(self._held.values())
        log.info("fetch.progress %s", fields(bytes=done, total=self._total))

    def finished(self, outcome: Outcome) -> None:
        # Files a stopped run never tried are counted in its one line, not logged one by one.
        level = logging.WARNING if outcome.state == "failed" and outcome.reason != NOT_TRIED else logging.INFO
        log.log(level, "fetch.file %s", fields(
            state=outcome.state, target=outcome.target,
            bytes=outcome.bytes if outcome.bytes is not None else "",
            seconds=round(outcome.seconds, 2), reason=outcome.reason or "",
        ))


class TerminalProgress:
    """A bar per file being fetched and one for the total: bytes, rate and time left.

    One display for the whole process: ``ppr --build --fetch`` passes each request's fetch to the same
    one, whose total grows by each request's products as it is planned and by each ASDM's bytes once
    exported (an ASDM's size is known only then).
    """

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(
            # File names are the archive's: shown as text, never read as rich markup ("[bold]").
            TextColumn("{task.description}", justify="left", markup=False), BarColumn(), _size_column(),
            TransferSpeedColumn(), TimeRemainingColumn(),
            console=Console(file=stream), transient=False,
        )
        self._lock = threading.Lock()
        self._tasks: dict[str, Any] = {}
        self._held: dict[str, int] = {}
        self._total_task: Any = None
        self._requests = 0
        self._total_bytes = 0
        self._items = 0

    def __enter__(self) -> TerminalProgress:
        self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.progress.stop()

    def planned(self, plan: FetchPlan, items: int) -> None:
        self._requests += 1
        self._items += items
        requests = f", {self._requests} requests" if self._requests > 1 else ""
        description = f"total ({self._items} items{requests})"
        if self._total_task is None:
            self._total_bytes = plan.product_bytes
            self._total_task = self.progress.add_task(description, total=self._total_bytes)
            return
        self._total_bytes += plan.product_bytes
        self.progress.update(self._total_task, description=description, total=self._total_bytes)

    def started(self, target: str, size: int | None) -> None:
        name = target.rsplit("/", 1)[-1]
        with self._lock:
            self._tasks[target] = self.progress.add_task(_short(escape_controls(name)), total=size)
            self._held[target] = 0

    def advanced(self, target: str, held: int, size: int) -> None:
        with self._lock:
            delta = held - self._held.get(target, 0)
            self._held[target] = held
            task = self._tasks.get(target)
        if task is not None:
            self.progress.update(task, completed=held, total=size)
        if self._total_task is not None:
            self.progress.advance(self._total_task, delta)

    def finished(self, outcome: Outcome) -> None:
        with self._lock:
            task = self._tasks.pop(outcome.target, None)
            held = self._held.pop(outcome.target, 0)
        if task is not None:
            self.progress.remove_task(task)
        if self._total_task is not None and outcome.kind == "product" and outcome.bytes:
            # Files already there (or failed) still count towards the total's end.
            self.progress.advance(self._total_task, max(outcome.bytes - held, 0))
        if self._total_task is not None and outcome.kind == "asdm" and outcome.bytes:
            # Not in the planned total (unknown before the export): the total grows by what was written.
            self._total_bytes += outcome.bytes
            self.progress.update(self._total_task, total=self._total_bytes, advance=outcome.bytes)
        if outcome.state == "failed" and outcome.reason != NOT_TRIED:
            # The reason may quote a server or an exporter: its escapes are shown, never run.
            line = escape_controls(f"failed: {outcome.target}: {outcome.reason}")
            self.progress.console.print(line, markup=False, highlight=False, soft_wrap=True)


def _size_column() -> Any:
    """Bytes of a known size as ``held/size``; an ASDM being exported (its size unknown until it is
    written) says so, rather than ``0/? bytes``; its bar pulses."""
    from rich.progress import DownloadColumn, ProgressColumn, Task
    from rich.text import Text

    known = DownloadColumn()

    class SizeColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            if task.total is None:
                return Text("exporting", style="progress.download")
            return known.render(task)

    return SizeColumn()


def _short(name: str, width: int = 48) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]


def fetch_progress(stream: TextIO | None = None) -> LogProgress | TerminalProgress:
    """Bars on a terminal (not under -q), log lines when stderr is a file or a pipe."""
    from etl.logs import progress_wanted

    target = stream if stream is not None else sys.stderr
    return TerminalProgress(target) if target.isatty() and progress_wanted(log) else LogProgress()

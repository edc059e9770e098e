"""Progress for long steps: a live line on a terminal, ``event key=value`` log lines otherwise.

One line per fact. On a terminal (stderr is one, and not ``-q``) a step's line redraws
while it runs — the count and rate while rows stream, a spinner and the elapsed time while one long
statement works (a merge, a re-derivation) — and when the step finishes it is replaced by the step's
one line of figures; the log line of the same figures is not written. Anywhere else (a log file, the
journal, cron, a test) nothing is drawn: a long step logs a ``progress`` line every ``interval``
seconds, and its figures are one ``event key=value`` line, as before.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, TextIO

from etl.controls import escape_controls
from etl.logs import fields, progress_wanted
from etl.terminal import Terminal, terminal_of

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress as LiveProgress
    from rich.progress import TaskID

log = logging.getLogger(__name__)

LABEL_WIDTH = 22


def tables_shown_on_terminal() -> bool:
    """Whether the sync's steps leave their one line of figures on the terminal that also shows
    stdout: a summary written there need not repeat the per-table figures."""
    on_terminal = terminal_of(sys.stderr) is not None and terminal_of(sys.stdout) is not None
    return on_terminal and progress_wanted(log)


class Progress:
    """A running count for one named step (a table copied and merged, MOUSes re-derived)."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        unit: str = "rows",
        stream: TextIO | None = None,
        interval: float = 10.0,
        logger: logging.Logger | None = None,
        doing: str | None = None,
    ) -> None:
        """``doing`` says what the step does ("merging") from its first drawing on."""
        self.label = label
        self.doing = doing
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.logger = logger or log
        self.interval = interval
        self.started = time.monotonic()
        self.last_report = self.started
        self.count = 0
        self.reported = False
        self.finished = False
        # -q (warnings only) keeps a terminal as quiet as a log.
        terminal = terminal_of(self.stream) if progress_wanted(self.logger) else None
        self.live = _LiveLine(self, terminal) if terminal is not None else None

    @property
    def interactive(self) -> bool:
        return self.live is not None

    def update(self, count: int, total: int | None = None) -> None:
        self.count = count
        if total is not None:
            self.total = total
        if self.live is not None:
            self.live.update()
            return
        now = time.monotonic()
        if now - self.last_report >= self.interval:
            self.last_report = now
            self._log_progress(final=False)

    def advance(self, step: int = 1) -> None:
        self.update(self.count + step)

    def phase(self, doing: str) -> None:
        """What the step does now ("merging"), for a line that would otherwise look stuck."""
        if self.live is not None:
            self.live.describe(doing)
        else:
            self.logger.debug("progress.phase %s", fields(step=self.label, doing=doing))

    def finish(self, event: str | None = None, **figures: object) -> float:
        """End the step; returns its duration in seconds.

        With ``event``, ``figures`` are the step's one line: ``event key=value…`` in a log, the
        finished line on a terminal. Without, a terminal keeps a line with the count, and a log gets a
        final ``progress`` line only when it had periodic ones.
        """
        elapsed = time.monotonic() - self.started
        if self.finished:
            return elapsed
        self.finished = True
        if self.live is not None:
            # A step that counted nothing and has no figures leaves no line: it only showed it was busy.
            told = event is not None or self.count > 0
            width = self.live.console.width
            self.live.close(self._finished_line(elapsed, figures if event else None, width) if told else None)
        elif event is not None:
            self.logger.info("%s %s", event, fields(**figures))
        elif self.reported:
            self._log_progress(final=True)
        return elapsed

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        """A step left by an exception clears its live line (the error is what to read)."""
        if not self.finished and self.live is not None:
            self.finished = True
            self.live.close(None)

    def _log_progress(self, final: bool) -> None:
        self.reported = True
        self.logger.info(
            "progress %s",
            fields(step=self.label, count=self.count, total=self.total or "", unit=self.unit,
                   seconds=round(time.monotonic() - self.started, 1), done=final),
        )

    def _finished_line(
        self, elapsed: float, figures: dict[str, object] | None, width: int | None = None
    ) -> str:
        """The step's line; on a terminal ``width`` wide, figures that are zero give way (from the
        last) before the line would wrap, and then the figures are set one space apart."""
        if figures is None:
            return f"{self.label:<{LABEL_WIDTH}} {self.count:,} {self.unit}  ({elapsed:,.1f} s)"
        told = [(name, value) for name, value in figures.items() if name != "seconds" and value != self.label]

        def line(pairs: list[tuple[str, object]], gap: str = "  ") -> str:
            text = gap.join(f"{name} {_figure(value)}" for name, value in pairs)
            return f"{self.label:<{LABEL_WIDTH}} {text}{gap}({elapsed:,.1f} s)"

        if width is None:
            return line(told)
        while len(line(told)) > width and (zero := _last_zero(told)) is not None:
            told.pop(zero)
        return line(told) if len(line(told)) <= width else line(told, " ")


def _last_zero(figures: list[tuple[str, object]]) -> int | None:
    """The index of the last figure that is 0 (never the first: the line says what it counted)."""
    for index in range(len(figures) - 1, 0, -1):
        if figures[index][1] == 0 and not isinstance(figures[index][1], bool):
            return index
    return None


def _figure(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


class _LiveLine:
    """The redrawn line of one step, drawn by rich; its refresh thread keeps the elapsed time moving
    while the step's thread waits on the database."""

    def __init__(self, progress: Progress, terminal: Terminal) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as LiveProgress

        self.progress = progress
        self.console: Console = Console(
            file=progress.stream, width=terminal.width, force_terminal=True,
            color_system="standard" if terminal.color else None, no_color=not terminal.color,
            highlight=False, emoji=False, markup=False,
        )
        self.live: LiveProgress = LiveProgress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[told]}", markup=False),
            TimeElapsedColumn(),
            # Log lines written meanwhile (to sys.stderr) go above the line; stdout is left alone.
            console=self.console, transient=True, refresh_per_second=5, redirect_stdout=False,
        )
        self.task: TaskID = self.live.add_task(
            self._description(progress.doing), total=progress.total, told=self._told()
        )
        self.live.start()

    def _description(self, doing: str | None) -> str:
        label = self.progress.label
        # A label or phase may name source data (a table, a MOUS, a document): shown, never run.
        return escape_controls(f"{label:<{LABEL_WIDTH}}" + (f" {doing}" if doing else ""))

    def _told(self) -> str:
        progress = self.progress
        if not progress.count:
            return ""
        elapsed = time.monotonic() - progress.started
        rate = f" {progress.count / elapsed:,.0f}/s" if elapsed > 0 else ""
        total = f"/{progress.total:,}" if progress.total else ""
        return f"{progress.count:,}{total} {progress.unit}{rate}"

    def update(self) -> None:
        self.live.update(
            self.task, completed=self.progress.count, total=self.progress.total, told=self._told()
        )

    def describe(self, doing: str) -> None:
        # An unknown total makes the bar a pulse: the right look for a statement that counts nothing.
        self.live.update(self.task, description=self._description(doing), total=None)

    def close(self, line: str | None) -> None:
        self.live.stop()
        if line is not None:
            self.console.print(escape_controls(line), soft_wrap=True)

"""Progress for long steps: a redrawn line on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from etl.logs import fields

log = logging.getLogger(__name__)


class Progress:
    """Reports a running count for one named step (a table being copied, MOUSes being written)."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        unit: str = "rows",
        stream: TextIO | None = None,
        interval: float = 10.0,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        # -q (log level above INFO) silences the terminal line too: quiet means nothing on success.
        self.interactive = self.stream.isatty() and log.isEnabledFor(logging.INFO)
        # Redraw a terminal often; write to a log rarely.
        self.interval = 0.2 if self.interactive else interval
        self.started = time.monotonic()
        self.last_report = self.started
        self.count = 0
        self.reported = False

    def update(self, count: int, total: int | None = None) -> None:
        self.count = count
        if total is not None:
            self.total = total
        now = time.monotonic()
        if now - self.last_report >= self.interval:
            self.last_report = now
            self._report(final=False)

    def advance(self, step: int = 1) -> None:
        self.update(self.count + step)

    def finish(self) -> float:
        """Report the final count; returns the step's duration in seconds."""
        self._report(final=True)
        return time.monotonic() - self.started

    def _report(self, final: bool) -> None:
        elapsed = time.monotonic() - self.started
        if self.interactive:
            self.stream.write("\r\x1b[K" + self._line(elapsed) + ("\n" if final else ""))
            self.stream.flush()
        # In a log, a short step's own summary line is enough; long steps get periodic lines.
        elif not final or self.reported:
            self.reported = True
            log.info(
                "progress %s",
                fields(step=self.label, count=self.count, total=self.total or "", unit=self.unit,
                       seconds=round(elapsed, 1), done=final),
            )

    def _line(self, elapsed: float) -> str:
        rate = self.count / elapsed if elapsed > 0 else 0.0
        if self.total:
            fraction = min(self.count / self.total, 1.0)
            filled = int(fraction * 24)
            bar = "#" * filled + "-" * (24 - filled)
            return (
                f"{self.label:<22} [{bar}] {self.count:>11,}/{self.total:,} {self.unit} "
                f"{elapsed:6.1f}s {rate:,.0f}/s"
            )
        return f"{self.label:<22} {self.count:>11,} {self.unit} {elapsed:6.1f}s {rate:,.0f}/s"

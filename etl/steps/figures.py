"""What one step of a sync did to one table, and the one helper that times a step and tells it.

Every step that writes a table ends as one ``StepFigures``: a source table staged and merged
(``etl.load.tables``), a derived table (``etl.derive``), the calibration-document cache (the fetch).
The run record (``sync_run_table``), the summary and ``sync --format json`` read them as they are.
Defined here, below loading, deriving and the sync, because all of them build or read them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from etl.progress import Progress
from etl.steps.merge import MergeCounts

# The event of a step's one log line: a source table merged, or a table derived from the mirror.
MERGED_EVENT = "sync.table_merged"
DERIVED_EVENT = "sync.table_derived"
NO_CHANGES = MergeCounts(inserted=0, updated=0, deleted=0)


@dataclass(frozen=True)
class StepFigures:
    """Rows read, changed and quarantined in one table, and the step's time.

    The fields, in this order, are the columns of ``sync_run_table`` and the keys of a table's
    figures in ``sync --format json``.
    """

    table: str
    rows_read: int
    inserted: int
    updated: int
    deleted: int
    seconds: float
    quarantined: int = 0
    rows_pulled: int | None = None  # rows read from the source; None: the step read no source table

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.deleted

    @property
    def from_source(self) -> bool:
        """Whether the step read a source table (only those can have quarantined source rows)."""
        return self.rows_pulled is not None

    @property
    def event(self) -> str:
        return MERGED_EVENT if self.from_source else DERIVED_EVENT

    def line(self) -> dict[str, object]:
        """The step's one line of figures: ``event table=… read=…`` in a log, its finished line on a
        terminal; a source table's also say how many rows it pulled and quarantined."""
        pulled = {"pulled": self.rows_pulled} if self.from_source else {}
        quarantined = {"quarantined": self.quarantined} if self.from_source else {}
        return {
            "table": self.table, "read": self.rows_read, **pulled, "inserted": self.inserted,
            "updated": self.updated, "deleted": self.deleted, **quarantined,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class StepCount:
    """What a timed step counts while it runs; its ``figures`` once it has finished.

    ``pulled``: rows read from the source (a source table's step only); ``changes``: what the
    step's merge did to its table.
    """

    table: str
    read: int = 0
    changes: MergeCounts = NO_CHANGES
    quarantined: int = 0
    pulled: int | None = None
    _figures: StepFigures | None = field(default=None, init=False, repr=False)

    @property
    def figures(self) -> StepFigures:
        if self._figures is None:
            raise RuntimeError(f"the step of {self.table} has not finished: its figures are not known yet")
        return self._figures

    def finish(self, seconds: float) -> StepFigures:
        changes = self.changes
        self._figures = StepFigures(
            table=self.table, rows_read=self.read, inserted=changes.inserted, updated=changes.updated,
            deleted=changes.deleted, seconds=seconds, quarantined=self.quarantined, rows_pulled=self.pulled,
        )
        return self._figures


@contextmanager
def timed_step(
    table: str, logger: logging.Logger, doing: str | None = None, unit: str = "rows", earlier: float = 0.0
) -> Iterator[StepCount]:
    """Time one step's work on ``table``: while it runs, a live line on a terminal saying what it is
    ``doing``; when it ends, the step's one line of figures (its ``StepCount.figures`` from then on).

    ``earlier``: seconds the step spent before the block (a source table's read into its stage). A
    step left by an exception has no figures and writes no line: the error is what to read.
    """
    with Progress(table, unit=unit, logger=logger, doing=doing) as progress:
        step = StepCount(table)
        yield step
        figures = step.finish(earlier + time.monotonic() - progress.started)
        progress.finish(figures.event, **figures.line())

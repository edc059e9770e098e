"""What one step of a sync did to one table: rows read, changed and quarantined, and its time.

Defined here, below the sync, because loading builds them; the sync records them in ``sync_run_table``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableFigures:
    table: str
    rows_read: int
    inserted: int
    updated: int
    deleted: int
    seconds: float
    quarantined: int = 0
    rows_pulled: int | None = None  # rows read from the source; None for a derived table

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.deleted

"""What a demo-archive fill produced."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoSummary:
    """Rows per contract table, member OUSes and duration of one ``fill_demo_archive`` run."""

    scale: str
    seed: int
    rows: dict[str, int]
    mous_count: int
    seconds: float

    def describe(self) -> str:
        """One line, e.g. ``small archive, seed 2017: 44 MOUSes, 130 EBs, 1,204 product files in 1.9 s``."""
        return (
            f"{self.scale} archive, seed {self.seed}: {self.mous_count:,} MOUSes, "
            f"{self.rows.get('aqua_execblock', 0):,} EBs, "
            f"{self.rows.get('asa_product_files', 0):,} product files in {self.seconds:.1f} s"
        )

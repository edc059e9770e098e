"""ALMA observing cycles as the demo archive needs them: windows, weights and per-cycle conventions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from etl.archive_names import MEMBER_PREFIX

# Cycle 5 (2017.1) introduced the ``member.`` prefix; Cycle 4 (2016.1) moved from .tar.gz to .tgz.
FIRST_CYCLE_WITH_MEMBER_PREFIX: Final = 5
FIRST_CYCLE_WITH_TGZ: Final = 4
# FILE_CLASS is a newer column: rows archived for Cycle 4 and earlier leave it NULL.
LAST_CYCLE_WITHOUT_FILE_CLASS: Final = 4


@dataclass(frozen=True)
class Cycle:
    """One ALMA cycle: its proposal-code prefix, when it observed, and how it processed data."""

    code: str
    number: int
    observing_start: datetime
    observing_end: datetime
    # Relative number of member OUSes the cycle contributes to the archive.
    weight: int
    # Share of processed interferometric MOUSes calibrated by hand (scriptForCalibration, no caltables).
    manual_share: float
    # Share of pipeline MOUSes whose calibration products were never split out (no caltables yet).
    unsplit_share: float
    # Days from the last EB to delivery: (shortest, longest).
    processing_days: tuple[int, int]

    @property
    def member_prefix(self) -> str:
        return MEMBER_PREFIX if self.number >= FIRST_CYCLE_WITH_MEMBER_PREFIX else ""

    @property
    def archive_suffix(self) -> str:
        return ".tgz" if self.number >= FIRST_CYCLE_WITH_TGZ else ".tar.gz"

    @property
    def classifies_files(self) -> bool:
        return self.number > LAST_CYCLE_WITHOUT_FILE_CLASS

    @property
    def legacy_ppr_name(self) -> bool:
        """Cycle 4 and earlier archived the request as ``PPR_<mous>.xml``."""
        return self.number <= LAST_CYCLE_WITHOUT_FILE_CLASS

    @property
    def has_single_dish_pipeline(self) -> bool:
        return self.number >= 4


def _at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day)


# Real ALMA codes: there was no 2014.1 (Cycle 2 ran from 2014 under 2013.1) and no 2020.1 (Cycle 7 was
# extended through the 2020 shutdown). The last cycle keeps observing until the generator's "now".
CYCLES: Final = (
    Cycle("2012.1", 1, _at(2013, 1, 1), _at(2014, 5, 31), 5, 0.90, 0.70, (120, 420)),
    Cycle("2013.1", 2, _at(2014, 6, 1), _at(2015, 9, 30), 6, 0.55, 0.60, (90, 360)),
    Cycle("2015.1", 3, _at(2015, 10, 1), _at(2016, 9, 30), 7, 0.35, 0.40, (60, 300)),
    Cycle("2016.1", 4, _at(2016, 10, 1), _at(2017, 9, 30), 8, 0.20, 0.15, (45, 240)),
    Cycle("2017.1", 5, _at(2017, 10, 1), _at(2018, 9, 30), 9, 0.12, 0.03, (30, 200)),
    Cycle("2018.1", 6, _at(2018, 10, 1), _at(2019, 9, 30), 9, 0.10, 0.01, (30, 180)),
    Cycle("2019.1", 7, _at(2019, 10, 1), _at(2021, 9, 30), 12, 0.08, 0.0, (30, 180)),
    Cycle("2021.1", 8, _at(2021, 10, 1), _at(2022, 9, 30), 8, 0.07, 0.0, (21, 160)),
    Cycle("2022.1", 9, _at(2022, 10, 1), _at(2023, 9, 30), 9, 0.06, 0.0, (21, 160)),
    Cycle("2023.1", 10, _at(2023, 10, 1), _at(2024, 9, 30), 9, 0.05, 0.0, (21, 150)),
    Cycle("2024.1", 11, _at(2024, 10, 1), _at(2025, 9, 30), 9, 0.05, 0.0, (30, 240)),
    Cycle("2025.1", 12, _at(2025, 10, 1), _at(2099, 12, 31), 9, 0.05, 0.0, (30, 240)),
)

CYCLES_BY_CODE: Final = {cycle.code: cycle for cycle in CYCLES}


def cycle(code: str) -> Cycle:
    """The cycle whose proposal codes start with ``code`` (e.g. ``2017.1``)."""
    return CYCLES_BY_CODE[code]

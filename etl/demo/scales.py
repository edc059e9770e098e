"""The generator's constants: default seed, its notion of "now", and the archive sizes it can build."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

DEFAULT_SEED: Final = 2017

# The generator never reads the wall clock: "now" is this date (naive UTC), so a seed always gives the
# same rows. Observations stop here, processing and releases are judged against it.
DEMO_AS_OF: Final = datetime(2026, 11, 1)

# The MOUS the demo job restores: the seed document's example restore PPR (2017.1.00895.S, 16 EBs in
# 15 sessions).
SEED_MOUS: Final = "uid://A001/X129e/Xb6"


@dataclass(frozen=True)
class ScaleSpec:
    """How big a demo archive is: the number of member OUSes, fixed cases included."""

    name: str
    mous_count: int
    description: str


SCALES: Final[dict[str, ScaleSpec]] = {
    "small": ScaleSpec("small", 58, "the fixed cases plus a handful of random MOUSes (seconds)"),
    "medium": ScaleSpec("medium", 2_000, "≈2,000 MOUSes: every proportion shows (tens of seconds)"),
    "alma": ScaleSpec(
        "alma", 50_000, "ALMA's real size: ≈50,000 MOUSes, ≈150,000 EBs, ≈1.5 million files (minutes)"
    ),
}

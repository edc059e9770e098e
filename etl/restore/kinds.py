"""The restore kinds of ``mous_restore`` (revision 0010), in the order the reports list them, and the
product kinds a restore fetches: each spelled once, here."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class RestoreKind(StrEnum):
    """How a MOUS restores (``mous_restore.restore_kind``); a member equals its text in the mirror."""

    PIPELINE_PPR = "pipeline_ppr"
    PIPELINE_SCRIPT = "pipeline_script"
    SCRIPTFORPI = "scriptforpi"
    NONE = "none"


PIPELINE_PPR: Final = RestoreKind.PIPELINE_PPR
PIPELINE_SCRIPT: Final = RestoreKind.PIPELINE_SCRIPT
SCRIPTFORPI: Final = RestoreKind.SCRIPTFORPI
NONE: Final = RestoreKind.NONE
RESTORE_KINDS: Final[tuple[RestoreKind, ...]] = tuple(RestoreKind)
# The kinds a request directory is written for: a PPR layout, or a delivery tree (scriptforpi).
BUILT_KINDS: Final[tuple[RestoreKind, ...]] = (PIPELINE_PPR, PIPELINE_SCRIPT, SCRIPTFORPI)
# The kinds the pipeline restores (with its restore task or its archived restore script).
PIPELINE_KINDS: Final = frozenset({PIPELINE_PPR, PIPELINE_SCRIPT})
# What each kind runs, for a person reading a report or restore.json.
HOW: Final[dict[str, str]] = {
    PIPELINE_PPR: "the pipeline's restore task from a restore PPR",
    PIPELINE_SCRIPT: "the archived restore script (it has steps a PPR cannot carry)",
    SCRIPTFORPI: "the delivery's scriptForPI.py (hand-run calibration scripts)",
    NONE: "cannot be restored",
}

# What the pipeline restore opens in products/ under the manifest's names: one per session or per EB.
CALIBRATION_PRODUCT_KINDS: Final = ("caltables", "calapply", "flagversions")
# The kinds a restore fetches into products/: those and the manifest naming them (auxcaltables are
# never used by a restore). Values of ``product_file.kind``.
RESTORE_PRODUCT_KINDS: Final = (*CALIBRATION_PRODUCT_KINDS, "manifest")

"""The restore kinds of ``mous_restore`` (revision 0010), in the order the reports list them."""

from __future__ import annotations

from typing import Final, Literal

RestoreKind = Literal["pipeline_ppr", "pipeline_script", "scriptforpi", "none"]
PIPELINE_PPR: Final = "pipeline_ppr"
PIPELINE_SCRIPT: Final = "pipeline_script"
SCRIPTFORPI: Final = "scriptforpi"
NONE: Final = "none"
RESTORE_KINDS: Final[tuple[RestoreKind, ...]] = ("pipeline_ppr", "pipeline_script", "scriptforpi", "none")
# What each kind runs, for a person reading a report or restore.json.
HOW: Final[dict[str, str]] = {
    "pipeline_ppr": "the pipeline's restore task from a restore PPR",
    "pipeline_script": "the archived restore script (it has steps a PPR cannot carry)",
    "scriptforpi": "the delivery's scriptForPI.py (hand-run calibration scripts)",
    "none": "cannot be restored",
}

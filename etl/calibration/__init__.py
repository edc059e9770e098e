"""The archive's own record of a pipeline calibration: its manifest, restore script and archived PPR.

Parsers only: bytes or text in, plain immutable values out. They import nothing of the mirror, the
source or the loader, so that the sync (which stores what they find) and the PPR generator (which
reads an archived PPR the user gives it) share one reading of each document. See
``shared/archive/CALIBRATION-RECORD.md`` for the formats.
"""

from __future__ import annotations

from etl.calibration.errors import MalformedDocument
from etl.calibration.names import MANIFEST, REQUEST, RESTORE_SCRIPT, calibration_stem, document_kind

__all__ = [
    "MANIFEST",
    "REQUEST",
    "RESTORE_SCRIPT",
    "MalformedDocument",
    "calibration_stem",
    "document_kind",
]

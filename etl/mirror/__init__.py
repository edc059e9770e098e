"""The mirror's schema: mirrored archive tables, derived tables and sync bookkeeping.

Importing a name from this package registers every table on ``Base.metadata`` (Alembic's autogenerate
target). The model modules load on the first such import (PEP 562), so a reader of the views alone
(``etl.mirror.views``: every report) does not pay for mapping all the ORM classes.
The PPR generator and the reports may import it: it holds no loading code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from etl.mirror.archive import (
        MIRRORED_MODELS,
        AsaDataset,
        Delivery,
        ExecutionBlock,
        ObservingSession,
        Ous,
        OusQa2,
        ProductFile,
        Project,
        ProjectStatus,
        Proposal,
        SbStatus,
        SchedulingBlock,
        ShiftlogEntry,
    )
    from etl.mirror.base import Base, table_of
    from etl.mirror.bookkeeping import (
        ChangeEvent,
        DataQualityIssue,
        MousLastChange,
        SourceBuckets,
        SyncLock,
        SyncRun,
        SyncRunTable,
    )
    from etl.mirror.calibration import (
        CalibrationDocument,
        CalibrationRecord,
        CalibrationRecordProduct,
        CalibrationRecordSession,
    )
    from etl.mirror.derived import (
        MousStatus,
        OusStatusDocument,
        OusStatusSession,
        SessionAssignment,
    )

    metadata = Base.metadata

_MODEL_MODULES = ("archive", "base", "bookkeeping", "calibration", "derived")


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    modules = [importlib.import_module(f"{__name__}.{module}") for module in _MODEL_MODULES]
    if name == "metadata":
        return modules[1].Base.metadata
    for module in modules:
        if hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")  # pragma: no cover


__all__ = [
    "MIRRORED_MODELS",
    "AsaDataset",
    "Base",
    "CalibrationDocument",
    "CalibrationRecord",
    "CalibrationRecordProduct",
    "CalibrationRecordSession",
    "ChangeEvent",
    "DataQualityIssue",
    "Delivery",
    "ExecutionBlock",
    "MousLastChange",
    "MousStatus",
    "ObservingSession",
    "Ous",
    "OusQa2",
    "OusStatusDocument",
    "OusStatusSession",
    "ProductFile",
    "Project",
    "ProjectStatus",
    "Proposal",
    "SbStatus",
    "SchedulingBlock",
    "SessionAssignment",
    "ShiftlogEntry",
    "SourceBuckets",
    "SyncLock",
    "SyncRun",
    "SyncRunTable",
    "metadata",
    "table_of",
]

"""The mirror's schema: mirrored archive tables, derived tables and sync bookkeeping.

Importing this package registers every table on ``Base.metadata`` (Alembic's autogenerate target).
The PPR generator and the reports may import it: it holds no loading code.
"""

from __future__ import annotations

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

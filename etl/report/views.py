"""The mirror's views as Core tables; they are defined in ``etl.mirror.views``, beside the schema."""

from __future__ import annotations

from etl.mirror.views import (
    VIEWS,
    column_names,
    data_quality,
    mous_restore,
    mous_sessions,
    newly_restorable,
    recent_changes,
    restorable_mous,
)

__all__ = [
    "VIEWS",
    "column_names",
    "data_quality",
    "mous_restore",
    "mous_sessions",
    "newly_restorable",
    "recent_changes",
    "restorable_mous",
]

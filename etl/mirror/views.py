"""The mirror's views as Core tables, for queries with bound parameters.

Each view's SQL is the newest file of its folder in alembic/views/ (one file per version, named after
the revision that wrote it).

The reports and the PPR generator both read them: ``restorable_mous`` holds the verdict, the PI and
the proprietary flag, ``mous_sessions`` the restore sessions, each decided once in SQL.

They live on their own MetaData, not the mirror's: Alembic compares the mirror's MetaData with the
database and must not mistake a view for a missing table. Column names and order match the views; a
test compares them with the database.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ARRAY, BigInteger, Boolean, Column, DateTime, Integer, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

VIEWS = MetaData()


def _time(name: str) -> Column[datetime]:
    return Column(name, DateTime(timezone=True))


restorable_mous = Table(
    "restorable_mous", VIEWS,
    Column("mous_uid", Text),
    Column("project_code", Text),
    Column("cycle", Text),
    Column("pi", Text),
    Column("array_family", Text),
    Column("band", Text),
    Column("eb_count", Integer),
    Column("pass_eb_count", Integer),
    Column("session_count", Integer),
    Column("empty_session_count", Integer),
    Column("calibration_kind", Text),
    Column("caltables_sessions", ARRAY(Integer)),
    Column("restorable", Boolean),
    Column("reason_code", Text),
    Column("reason", Text),
    _time("restorable_since"),
    _time("release_date"),
    Column("proprietary", Boolean),
    _time("last_change_at"),
    Column("calibration_record", Text),
    Column("casa_version", Text),
    Column("pipeline_version", Text),
    Column("mpi_servers", Integer),
)

mous_sessions = Table(
    "mous_sessions", VIEWS,
    Column("mous_uid", Text),
    Column("session_number", Integer),
    Column("session_id", BigInteger),
    Column("pass_eb_uids", ARRAY(Text)),
    Column("eb_count", Integer),
    Column("pass_eb_count", Integer),
    Column("is_empty", Boolean),
    Column("caltables_file", Text),
    Column("session_value", Text),
)

recent_changes = Table(
    "recent_changes", VIEWS,
    Column("event_id", BigInteger),
    Column("run_id", BigInteger),
    _time("changed_at"),
    Column("table_name", Text),
    Column("row_key", Text),
    Column("kind", Text),
    Column("mous_uid", Text),
    Column("project_code", Text),
    Column("changed_columns", ARRAY(Text)),
    Column("old_values", JSONB),
    Column("new_values", JSONB),
)

newly_restorable = Table(
    "newly_restorable", VIEWS,
    Column("mous_uid", Text),
    Column("project_code", Text),
    Column("array_family", Text),
    Column("band", Text),
    _time("restorable_since"),
    _time("release_date"),
    Column("proprietary", Boolean),
    Column("restore_kind", Text),  # revision 0013: restorable by any kind, and how
)

data_quality = Table(
    "data_quality", VIEWS,
    Column("issue_id", BigInteger),
    Column("kind", Text),
    Column("mous_uid", Text),
    Column("project_code", Text),
    Column("subject", Text),
    Column("detail", Text),
    _time("first_seen_at"),
    _time("last_seen_at"),
)


# Revision 0010: how each member OUS restores (pipeline_ppr, pipeline_script, scriptforpi or none).
mous_restore = Table(
    "mous_restore", VIEWS,
    Column("mous_uid", Text),
    Column("project_code", Text),
    Column("restore_kind", Text),
    Column("restore_reason", Text),
    Column("reason_code", Text),
    Column("calibration_kind", Text),
    Column("array_family", Text),
    Column("casa_version", Text),
    Column("pipeline_version", Text),
    Column("mpi_servers", Integer),
    Column("restore_task", Text),
    Column("hm_rasterscan", Text),
    Column("restore_script_file", Text),
    Column("scriptforpi_file", Text),
    Column("script_casa_versions", ARRAY(Text)),
    Column("reason_codes", ARRAY(Text)),
)


def column_names(view: Table) -> tuple[str, ...]:
    return tuple(column.name for column in view.columns)

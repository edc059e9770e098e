"""Mirror schema: mirrored ALMA tables, derived restore tables, sync bookkeeping.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 02:00:00+00:00

Written by hand from an autogenerate draft. Generated-column expressions are copied here as literals:
a migration must keep meaning what it meant when written, whatever the models later say.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PRODUCT_KIND_SQL = r"""CASE
  WHEN file_name LIKE '%caltables.tgz' OR file_name LIKE '%caltables.tar.gz' THEN
    CASE
      WHEN file_name ~ '\.session_[0-9]{1,6}\.caltables\.(tgz|tar\.gz)$' THEN 'caltables'
      WHEN file_name ~ '\.session_[0-9]{1,6}\.auxcaltables\.(tgz|tar\.gz)$' THEN 'auxcaltables'
      ELSE 'unparsed'
    END
  WHEN file_name LIKE '%.ms.calapply.txt' THEN 'calapply'
  WHEN file_name LIKE '%.ms.flagversions.tgz' OR file_name LIKE '%.ms.flagversions.tar.gz' THEN 'flagversions'
  WHEN file_name LIKE '%pipeline\_manifest.xml' THEN 'manifest'
  WHEN file_name LIKE '%pprequest.xml' OR file_name LIKE 'PPR\_uid\_\_\_%.xml' THEN 'pprequest'
  WHEN file_name LIKE '%scriptForCalibration.py' THEN 'calibration_script'
  ELSE 'other'
END"""
PRODUCT_SESSION_SQL = r"""CASE
  WHEN (file_name LIKE '%caltables.tgz' OR file_name LIKE '%caltables.tar.gz')
   AND file_name ~ '\.session_[0-9]{1,6}\.(aux)?caltables\.(tgz|tar\.gz)$'
  THEN CAST(split_part(split_part(file_name, '.session_', -1), '.', 1) AS integer)
END"""
ARRAY_FAMILY_SQL = """CASE upper(requested_array)
  WHEN 'TWELVE-M' THEN '12m'
  WHEN 'SEVEN-M' THEN '7m'
  WHEN 'ACA' THEN '7m'
  WHEN 'TP-ARRAY' THEN 'TP'
  WHEN 'TP' THEN 'TP'
END"""
DELIVERY_MOUS_SQL = (
    "'uid://' || replace(substring(delivery_name FROM "
    "'uid___([A-Za-z][0-9]+_X[0-9A-Za-z]+_X[0-9A-Za-z]+)$'), '_', '/')"
)


def _text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _time(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(), nullable=True)


def _ous_fk(column: str, table: str) -> sa.ForeignKeyConstraint:
    # Checked at commit, never cascading: the sync deletes derived rows itself, recording each deletion.
    return sa.ForeignKeyConstraint(
        [column], ["ous.ous_uid"], name=op.f(f"fk_{table}_{column}_ous"),
        deferrable=True, initially="DEFERRED",
    )


def _run_fk(column: str, table: str, cascade: bool = True) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["sync_run.run_id"], name=op.f(f"fk_{table}_{column}_sync_run"),
        ondelete="CASCADE" if cascade else None,
    )


def _index(table: str, *columns: str) -> None:
    op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns))


def upgrade() -> None:
    _create_mirrored_tables()
    _create_bookkeeping_tables()
    _create_derived_tables()


def _create_mirrored_tables() -> None:
    op.create_table(
        "project",
        _text("project_uid", nullable=False), _text("code"), _text("title"), _text("pi_account"),
        _text("letter_grade"), sa.Column("deleted", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("project_uid", name=op.f("pk_project")),
    )
    _index("project", "code")
    op.create_table(
        "proposal",
        _text("proposal_uid", nullable=False), _text("project_uid"), _text("cycle"), _text("pi_name"),
        _text("associated_exec"),
        sa.PrimaryKeyConstraint("proposal_uid", name=op.f("pk_proposal")),
    )
    _index("proposal", "project_uid")
    op.create_table(
        "project_status",
        _text("project_status_uid", nullable=False), _text("project_uid"), _text("state"),
        sa.PrimaryKeyConstraint("project_status_uid", name=op.f("pk_project_status")),
    )
    op.create_table(
        "ous",
        _text("ous_uid", nullable=False), _text("part_id"), _text("state"), _text("parent_ous_uid"),
        _text("project_status_uid"), _text("project_uid"), _text("recipe"), _text("status_xml"),
        sa.PrimaryKeyConstraint("ous_uid", name=op.f("pk_ous")),
    )
    _index("ous", "parent_ous_uid")
    _index("ous", "project_uid")
    op.create_table(
        "ous_qa2",
        _text("mous_uid", nullable=False), _text("project_uid"), _text("part_id"), _text("qa2_status"),
        sa.PrimaryKeyConstraint("mous_uid", name=op.f("pk_ous_qa2")),
    )
    op.create_table(
        "scheduling_block",
        _text("sb_uid", nullable=False), _text("project_uid"), _text("mous_uid"), _text("sb_status_uid"),
        _text("name"), _text("status"), _text("requested_array"), _text("receiver_band"),
        sa.Column("execution_count", sa.Integer(), nullable=True),
        sa.Column("array_family", sa.Text(), sa.Computed(ARRAY_FAMILY_SQL, persisted=True), nullable=True),
        sa.PrimaryKeyConstraint("sb_uid", name=op.f("pk_scheduling_block")),
    )
    _index("scheduling_block", "mous_uid")
    op.create_table(
        "sb_status",
        _text("sb_status_uid", nullable=False), _text("sb_uid"), _text("state"), _text("mous_uid"),
        _text("project_uid"),
        sa.PrimaryKeyConstraint("sb_status_uid", name=op.f("pk_sb_status")),
    )
    _index("sb_status", "mous_uid")
    op.create_table(
        "execution_block",
        _text("eb_uid", nullable=False), _text("sb_uid"), _text("project_code"), _text("qa0_status"),
        _time("start_time"), _time("end_time"),
        sa.Column("exec_fraction", sa.Numeric(), nullable=True),
        sa.Column("session_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("eb_uid", name=op.f("pk_execution_block")),
    )
    _index("execution_block", "sb_uid")
    _index("execution_block", "session_id")
    op.create_table(
        "observing_session",
        sa.Column("session_id", sa.BigInteger(), autoincrement=False, nullable=False),
        _time("start_time"), _time("end_time"),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_observing_session")),
    )
    op.create_table(
        "shiftlog_entry",
        sa.Column("entry_id", sa.BigInteger(), autoincrement=False, nullable=False),
        _text("entry_type"), _time("logged_at"), _time("started_at"), _text("project_code"),
        _text("sb_uid"), _text("eb_uid"), _text("location"), _text("status"), _text("qa0_flag"),
        _text("array_family_label"), _text("correlator"),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_shiftlog_entry")),
    )
    _index("shiftlog_entry", "eb_uid")
    _index("shiftlog_entry", "sb_uid")
    op.create_table(
        "asa_dataset",
        _text("dataset_id", nullable=False), _text("eb_uid"), _text("asa_ous_uid"), _text("mous_uid"),
        _text("gous_uid"), _text("sous_uid"), _text("project_code"), _text("sb_uid"), _text("sb_name"),
        _time("start_date"), _time("end_date"), _time("last_updated"),
        sa.PrimaryKeyConstraint("dataset_id", name=op.f("pk_asa_dataset")),
    )
    _index("asa_dataset", "eb_uid")
    _index("asa_dataset", "mous_uid")
    op.create_table(
        "product_file",
        _text("mous_uid", nullable=False), _text("file_name", nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True), _text("file_class"),
        sa.Column("kind", sa.Text(), sa.Computed(PRODUCT_KIND_SQL, persisted=True), nullable=False),
        sa.Column(
            "session_number", sa.Integer(), sa.Computed(PRODUCT_SESSION_SQL, persisted=True),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("mous_uid", "file_name", name=op.f("pk_product_file")),
    )
    _index("product_file", "kind")
    op.create_table(
        "delivery",
        sa.Column("delivery_id", sa.BigInteger(), autoincrement=False, nullable=False),
        _text("delivery_name"), _text("qa2_passed"), _time("release_date"), _text("release_date_comment"),
        sa.Column("mous_uid", sa.Text(), sa.Computed(DELIVERY_MOUS_SQL, persisted=True), nullable=True),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_delivery")),
    )
    _index("delivery", "mous_uid")


def _create_bookkeeping_tables() -> None:
    op.create_table(
        "sync_run",
        sa.Column("run_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        _text("status", nullable=False), _text("error"),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("baseline", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        _text("host", nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        _text("source", nullable=False),
        sa.Column("mous_derived", sa.Integer(), nullable=True),
        sa.Column("newly_restorable", sa.Integer(), nullable=True),
        sa.Column("quality_opened", sa.Integer(), nullable=True),
        sa.Column("quality_resolved", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed')", name=op.f("ck_sync_run_status_known")
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_sync_run")),
    )
    _index("sync_run", "status")
    op.create_table(
        "sync_run_table",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        _text("table_name", nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False)
          for name in ("rows_read", "inserted", "updated", "deleted")),
        sa.Column("seconds", sa.Float(), nullable=False),
        _run_fk("run_id", "sync_run_table"),
        sa.PrimaryKeyConstraint("run_id", "table_name", name=op.f("pk_sync_run_table")),
    )
    op.create_table(
        "change_event",
        sa.Column("event_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        _text("table_name", nullable=False), _text("row_key", nullable=False), _text("mous_uid"),
        _text("kind", nullable=False),
        sa.Column("changed_columns", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("old_values", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("new_values", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "kind IN ('insert', 'update', 'delete')", name=op.f("ck_change_event_kind_known")
        ),
        _run_fk("run_id", "change_event"),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_change_event")),
    )
    _index("change_event", "run_id")
    _index("change_event", "mous_uid", "run_id")
    _index("change_event", "table_name", "row_key")
    op.create_table(
        "data_quality_issue",
        sa.Column("issue_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        _text("kind", nullable=False), _text("mous_uid"), _text("subject", nullable=False),
        _text("detail", nullable=False),
        sa.Column("first_seen_run_id", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_run_id", sa.BigInteger(), nullable=False),
        sa.Column("resolved_run_id", sa.BigInteger(), nullable=True),
        _run_fk("first_seen_run_id", "data_quality_issue"),
        _run_fk("last_seen_run_id", "data_quality_issue"),
        _run_fk("resolved_run_id", "data_quality_issue"),
        sa.PrimaryKeyConstraint("issue_id", name=op.f("pk_data_quality_issue")),
    )
    # One open issue per finding; NULLS NOT DISTINCT (PostgreSQL 15+) so findings without a MOUS are too.
    op.create_index(
        op.f("ix_data_quality_issue_kind_mous_uid_subject"), "data_quality_issue",
        ["kind", "mous_uid", "subject"], unique=True,
        postgresql_where=sa.text("resolved_run_id IS NULL"), postgresql_nulls_not_distinct=True,
    )
    _index("data_quality_issue", "mous_uid")


def _create_derived_tables() -> None:
    op.create_table(
        "ous_status_document",
        _text("ous_uid", nullable=False), _text("state", nullable=False), _text("problem"),
        sa.Column("session_count", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('parsed', 'missing', 'malformed')", name=op.f("ck_ous_status_document_state_known")
        ),
        _ous_fk("ous_uid", "ous_status_document"),
        sa.PrimaryKeyConstraint("ous_uid", name=op.f("pk_ous_status_document")),
    )
    op.create_table(
        "ous_status_session",
        _text("mous_uid", nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _text("part_id"), _text("sb_status_uid"), _time("start_time"), _time("end_time"),
        sa.Column("eb_uids", postgresql.ARRAY(sa.Text()), nullable=False),
        _ous_fk("mous_uid", "ous_status_session"),
        sa.PrimaryKeyConstraint("mous_uid", "position", name=op.f("pk_ous_status_session")),
    )
    op.create_table(
        "session_assignment",
        _text("mous_uid", nullable=False), _text("eb_uid", nullable=False),
        sa.Column("session_number", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        _text("qa0_status"), _time("eb_start_time"),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "session_number >= 1", name=op.f("ck_session_assignment_session_number_positive")
        ),
        _ous_fk("mous_uid", "session_assignment"),
        sa.PrimaryKeyConstraint("mous_uid", "eb_uid", name=op.f("pk_session_assignment")),
    )
    _index("session_assignment", "eb_uid")
    op.create_table(
        "mous_status",
        _text("mous_uid", nullable=False), _text("project_uid"), _text("sous_uid"), _text("gous_uid"),
        _text("state"),
        sa.Column("sb_count", sa.Integer(), nullable=False),
        _text("sb_uid"), _text("array_family"), _text("receiver_band"),
        *(sa.Column(name, sa.Integer(), nullable=False)
          for name in ("eb_count", "pass_eb_count", "session_count", "empty_session_count")),
        _text("calibration_kind", nullable=False),
        sa.Column("caltables_sessions", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("sessions_match_caltables", sa.Boolean(), nullable=False),
        sa.Column("status_xml_session_count", sa.Integer(), nullable=True),
        sa.Column("sessions_match_status_xml", sa.Boolean(), nullable=True),
        _time("release_date"),
        sa.Column("restorable", sa.Boolean(), nullable=False),
        _text("reason_code"), _text("reason"),
        sa.Column("restorable_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restorable_since_run_id", sa.BigInteger(), nullable=True),
        sa.Column("derived_run_id", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "calibration_kind IN ('pipeline', 'manual', 'none')",
            name=op.f("ck_mous_status_calibration_kind_known"),
        ),
        sa.CheckConstraint(
            "restorable = (reason_code IS NULL)", name=op.f("ck_mous_status_reason_iff_not_restorable")
        ),
        sa.CheckConstraint(
            "restorable OR restorable_since IS NULL",
            name=op.f("ck_mous_status_since_only_when_restorable"),
        ),
        _ous_fk("mous_uid", "mous_status"),
        _run_fk("restorable_since_run_id", "mous_status", cascade=False),
        _run_fk("derived_run_id", "mous_status", cascade=False),
        sa.PrimaryKeyConstraint("mous_uid", name=op.f("pk_mous_status")),
    )
    _index("mous_status", "project_uid")
    _index("mous_status", "restorable_since_run_id")


def downgrade() -> None:
    # Dependents first: derived tables reference ous and sync_run; bookkeeping references sync_run.
    for table in (
        "mous_status", "session_assignment", "ous_status_session", "ous_status_document",
        "data_quality_issue", "change_event", "sync_run_table", "sync_run",
        "delivery", "product_file", "asa_dataset", "shiftlog_entry", "observing_session",
        "execution_block", "sb_status", "scheduling_block", "ous_qa2", "ous", "project_status",
        "proposal", "project",
    ):
        op.drop_table(table)  # drops the table's indexes and constraints with it

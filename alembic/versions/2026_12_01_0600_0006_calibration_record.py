"""The archive's record of each pipeline calibration: documents, parsed record, verdict columns.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 06:00:00+00:00

Written by hand. ``calibration_document`` caches the pipeline manifests, restore scripts and archived
PPRs fetched from NGAS (filled outside the sync's transaction, before it takes the sync lock, so a
row's ``updated_run_id`` is NULL until the run that commits claims it); ``calibration_record``,
``calibration_record_session`` and ``calibration_record_product`` are derived per MOUS from it;
``mous_status`` and the view ``restorable_mous`` gain ``calibration_record``, ``casa_version``,
``pipeline_version`` and ``mpi_servers`` (appended, so ``CREATE OR REPLACE VIEW`` keeps the view's
dependants). The downgrade restores revision 0004's text of ``restorable_mous`` and revision 0002's
of ``newly_restorable`` exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op
from etl.mirror.view_queries import create_view, replace_view

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _run_fk(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["sync_run.run_id"], name=op.f(f"fk_{table}_{column}_sync_run")
    )


def _ous_fk(table: str) -> sa.ForeignKeyConstraint:
    # Checked at commit, never cascading, as every derived table's.
    return sa.ForeignKeyConstraint(
        ["mous_uid"], ["ous.ous_uid"], name=op.f(f"fk_{table}_mous_uid_ous"),
        deferrable=True, initially="DEFERRED",
    )


def upgrade() -> None:
    op.create_table(
        "calibration_document",
        _text("file_id", nullable=False), _text("kind", nullable=False), _text("state", nullable=False),
        sa.Column("mous_uids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("file_version", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        _text("checksum"), _text("checksum_plugin"),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        _text("content"),
        sa.Column("parsed", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("parser_version", sa.SmallInteger(), nullable=True),
        _text("parse_problem"), _text("problem"),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fetched_run_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_run_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "state IN ('fetched', 'missing', 'unavailable')", name=op.f("ck_calibration_document_state_known")
        ),
        sa.CheckConstraint(
            "kind IN ('manifest', 'restore_script', 'request')",
            name=op.f("ck_calibration_document_kind_known"),
        ),
        sa.CheckConstraint(
            "(state = 'fetched') = (content IS NOT NULL)",
            name=op.f("ck_calibration_document_content_iff_fetched"),
        ),
        _run_fk("fetched_run_id", "calibration_document"),
        _run_fk("updated_run_id", "calibration_document"),
        sa.PrimaryKeyConstraint("file_id", name=op.f("pk_calibration_document")),
    )
    op.create_index(
        op.f("ix_calibration_document_updated_run_id"), "calibration_document", ["updated_run_id"]
    )
    op.create_table(
        "calibration_record",
        _text("mous_uid", nullable=False), _text("state", nullable=False),
        sa.Column("calibrations", sa.Integer(), nullable=False),
        _text("manifest_file"), _text("restore_script_file"), _text("request_file"),
        _text("casa_version"), _text("pipeline_version"),
        sa.Column("mpi_servers", sa.Integer(), nullable=True),
        _text("procedure"), _text("restore_task"),
        sa.Column("legacy_restore_task", sa.Boolean(), nullable=True),
        _text("ocorr_mode"), _text("hm_rasterscan"),
        sa.Column("restore_arguments", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("extra_steps", postgresql.ARRAY(sa.Text()), nullable=False),
        _text("disagreement"),
        sa.Column("problems", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("derived_run_id", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "state IN ('agrees', 'disagrees', 'unavailable', 'malformed')",
            name=op.f("ck_calibration_record_state_known"),
        ),
        _ous_fk("calibration_record"),
        _run_fk("derived_run_id", "calibration_record"),
        sa.PrimaryKeyConstraint("mous_uid", name=op.f("pk_calibration_record")),
    )
    op.create_table(
        "calibration_record_session",
        _text("mous_uid", nullable=False), _text("document", nullable=False),
        sa.Column("session_number", sa.Integer(), nullable=False),
        sa.Column("eb_uids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.CheckConstraint(
            "document IN ('manifest', 'restore_script', 'request')",
            name=op.f("ck_calibration_record_session_document_known"),
        ),
        _ous_fk("calibration_record_session"),
        sa.PrimaryKeyConstraint(
            "mous_uid", "document", "session_number", name=op.f("pk_calibration_record_session")
        ),
    )
    op.create_table(
        "calibration_record_product",
        _text("mous_uid", nullable=False), _text("file_name", nullable=False),
        _text("restore_name", nullable=False),
        _ous_fk("calibration_record_product"),
        sa.PrimaryKeyConstraint("mous_uid", "file_name", name=op.f("pk_calibration_record_product")),
    )
    op.add_column(
        "mous_status",
        sa.Column("calibration_record", sa.Text(), server_default=sa.text("'absent'"), nullable=False),
    )
    op.add_column("mous_status", _text("casa_version"))
    op.add_column("mous_status", _text("pipeline_version"))
    op.add_column("mous_status", sa.Column("mpi_servers", sa.Integer(), nullable=True))
    op.create_check_constraint(
        op.f("ck_mous_status_calibration_record_known"), "mous_status",
        "calibration_record IN ('agrees', 'disagrees', 'absent', 'unavailable', 'malformed')",
    )
    op.execute(replace_view("restorable_mous", "0006"))


def downgrade() -> None:
    # CREATE OR REPLACE cannot drop the view's last columns: restorable_mous and newly_restorable
    # (revision 0002's, which depends on it) are dropped and made again.
    op.execute("DROP VIEW newly_restorable")
    op.execute("DROP VIEW restorable_mous")
    op.execute(create_view("restorable_mous", "0004"))
    op.execute(create_view("newly_restorable", "0002"))
    op.drop_constraint(op.f("ck_mous_status_calibration_record_known"), "mous_status", type_="check")
    for column in ("mpi_servers", "pipeline_version", "casa_version", "calibration_record"):
        op.drop_column("mous_status", column)
    op.drop_table("calibration_record_product")
    op.drop_table("calibration_record_session")
    op.drop_table("calibration_record")
    op.drop_index(op.f("ix_calibration_document_updated_run_id"), table_name="calibration_document")
    op.drop_table("calibration_document")

"""The verdict held to what the pipeline does: a manifest written by almamirror, manual post-steps.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 23:00:00+00:00

Written by hand. ``calibration_record.manifest_state`` says whether the record's pipeline manifest
parsed (``parsed``), does not (``malformed``) or could not be fetched (``unavailable``); NULL when
none is archived. ``mous_status.manifest_source`` says whose manifest a restore request carries: the
archive's, or one almamirror writes from the mirror (``almamirror``) when the archive has no usable
one (every pipeline since 2021 needs one). ``calibration_kind`` gains ``pipeline_then_manual``: a
pipeline calibration followed by hand-run scriptFor*Calibration.py steps, which a PPR cannot repeat.
``calibration_record.request_sb_uid``/``request_sb_status_uid`` keep the archived PPR's SchedBlockRef
and SBStatusRef: a MOUS of two SBs with an agreeing record is restorable, its PPR naming that SB.
``calibration_document.checked_at``: when NGAS last confirmed a held document's version and checksum
(a document re-archived with the same size is fetched again).
A record state ``follows_archive``: manifest, restore script and archived PPR agree with each other and
with the caltables but not with the session rule over AQUA's tables; the PPR follows the archive.
The new columns are NULL until the next sync re-derives every MOUS (the rules version is raised).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECORDS_BEFORE = "state IN ('agrees', 'disagrees', 'unavailable', 'malformed')"
RECORDS_AFTER = "state IN ('agrees', 'follows_archive', 'disagrees', 'unavailable', 'malformed')"
STATUS_RECORDS_BEFORE = "calibration_record IN ('agrees', 'disagrees', 'absent', 'unavailable', 'malformed')"
STATUS_RECORDS_AFTER = (
    "calibration_record IN ('agrees', 'follows_archive', 'disagrees', 'absent', 'unavailable', 'malformed')"
)
KINDS_BEFORE = "calibration_kind IN ('pipeline', 'manual', 'none')"
KINDS_AFTER = "calibration_kind IN ('pipeline', 'pipeline_then_manual', 'manual', 'none')"


def upgrade() -> None:
    op.add_column("calibration_document", sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("calibration_record", sa.Column("manifest_state", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_calibration_record_manifest_state_known"), "calibration_record",
        "manifest_state IN ('parsed', 'malformed', 'unavailable')",
    )
    op.add_column("calibration_record", sa.Column("request_sb_uid", sa.Text(), nullable=True))
    op.add_column("calibration_record", sa.Column("request_sb_status_uid", sa.Text(), nullable=True))
    op.add_column("mous_status", sa.Column("manifest_source", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_mous_status_manifest_source_known"), "mous_status",
        "manifest_source IN ('archive', 'almamirror')",
    )
    op.drop_constraint(op.f("ck_mous_status_calibration_kind_known"), "mous_status", type_="check")
    op.create_check_constraint(op.f("ck_mous_status_calibration_kind_known"), "mous_status", KINDS_AFTER)
    _replace_check("ck_calibration_record_state_known", "calibration_record", RECORDS_AFTER)
    _replace_check("ck_mous_status_calibration_record_known", "mous_status", STATUS_RECORDS_AFTER)


def _replace_check(name: str, table: str, condition: str) -> None:
    op.drop_constraint(op.f(name), table, type_="check")
    op.create_check_constraint(op.f(name), table, condition)


def downgrade() -> None:
    op.execute("UPDATE mous_status SET calibration_record = 'disagrees' WHERE calibration_record = 'follows_archive'")
    op.execute("UPDATE calibration_record SET state = 'disagrees' WHERE state = 'follows_archive'")
    _replace_check("ck_mous_status_calibration_record_known", "mous_status", STATUS_RECORDS_BEFORE)
    _replace_check("ck_calibration_record_state_known", "calibration_record", RECORDS_BEFORE)
    op.execute(
        "UPDATE mous_status SET calibration_kind = 'manual' "
        "WHERE calibration_kind = 'pipeline_then_manual'"
    )
    op.drop_constraint(op.f("ck_mous_status_calibration_kind_known"), "mous_status", type_="check")
    op.create_check_constraint(op.f("ck_mous_status_calibration_kind_known"), "mous_status", KINDS_BEFORE)
    op.drop_constraint(op.f("ck_mous_status_manifest_source_known"), "mous_status", type_="check")
    op.drop_column("mous_status", "manifest_source")
    op.drop_column("calibration_record", "request_sb_status_uid")
    op.drop_column("calibration_record", "request_sb_uid")
    op.drop_constraint(op.f("ck_calibration_record_manifest_state_known"), "calibration_record", type_="check")
    op.drop_column("calibration_record", "manifest_state")
    op.drop_column("calibration_document", "checked_at")

"""One meaning of "restorable": the PPR's references in mous_status, the rules' version, one PI rule.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 02:00:00+00:00

Written by hand. mous_status gains the references a restore PPR carries, as the derivation checked
them (ppr reads them from there), and the version of the restorability rules each row was derived
by: rows from before this revision are version 1, so the first sync after the upgrade re-derives
every MOUS under the new rules. restorable_mous takes the PI of a proposal that has one (the earliest
proposal of a resubmitted project may have none); its columns are unchanged, so CREATE OR REPLACE
keeps the views that depend on it, and the downgrade restores revision 0002's text exactly
(alembic/views/restorable_mous/).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from etl.mirror.view_queries import replace_view

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFERENCE_COLUMNS = ("obs_project_uid", "ous_part_id", "project_status_uid", "sb_status_uid")
# Rows derived before the rules had a version; etl/derive/restorability.py RULES_VERSION is newer.
FIRST_RULES_VERSION = "1"


def upgrade() -> None:
    for name in REFERENCE_COLUMNS:
        op.add_column("mous_status", sa.Column(name, sa.Text(), nullable=True))
    op.add_column(
        "mous_status",
        sa.Column("rules_version", sa.Integer(), nullable=False, server_default=FIRST_RULES_VERSION),
    )
    # The default only fills the existing rows; the derivation always writes the version.
    op.alter_column("mous_status", "rules_version", server_default=None)
    op.execute(replace_view("restorable_mous", "0004"))


def downgrade() -> None:
    op.execute(replace_view("restorable_mous", "0002"))
    op.drop_column("mous_status", "rules_version")
    for name in reversed(REFERENCE_COLUMNS):
        op.drop_column("mous_status", name)

"""The restore kind read from every reason of a MOUS, not only the first.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 02:00:00+00:00

Written by hand. ``mous_status.reason_codes`` holds every reason code that applies to a MOUS, in the
order of REASON_CODES (``reason_code`` stays the first). ``mous_restore`` chooses ``pipeline_script``
from all of them: when the archived restore script's extra steps are in the way and nothing else is,
whichever reason is first; a MOUS whose script has extra steps but whose products clash, say, is
``none``. ``session_mismatch`` does not stand in that way: the script restores with the EB-to-session
key of the calibration itself. Existing rows get their first reason until the next sync re-derives
every MOUS (the rules version is raised).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from etl.mirror.view_queries import create_view, replace_view

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "mous_status",
        sa.Column("reason_codes", sa.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    )
    op.execute("UPDATE mous_status SET reason_codes = ARRAY[reason_code] WHERE reason_code IS NOT NULL")
    op.execute(replace_view("mous_restore", "0011"))


def downgrade() -> None:
    # CREATE OR REPLACE cannot drop the view's last column: the view of revision 0010 is made anew.
    op.execute("DROP VIEW mous_restore")
    op.execute(create_view("mous_restore", "0010"))
    op.drop_column("mous_status", "reason_codes")

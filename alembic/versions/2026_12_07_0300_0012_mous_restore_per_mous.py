"""``mous_restore`` read for one MOUS without aggregating every product file.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 03:00:00+00:00

Written by hand. The view of revisions 0010 and 0011 joined its ``delivery_drivers`` CTE twice (in
``kinds`` and in the final select), so PostgreSQL materialised it: every read of the view, even for
one MOUS, grouped all of ``product_file`` (a parallel scan of 1.5 M rows, about 0.4 s at ALMA scale,
in every single ``ppr``). Here the scriptForPI.py lookup is one grouped subquery joined once and the restore kind an
expression over it (a ``LATERAL`` select without a FROM, which the planner flattens): a condition on
``mous_uid`` reaches the product files of that MOUS by index, and a read of every MOUS still groups
the table once. The columns, their order and every value are revision 0011's; the downgrade restores
its text exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from etl.mirror.view_queries import replace_view

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(replace_view("mous_restore", "0012"))


def downgrade() -> None:
    # The same columns: CREATE OR REPLACE.
    op.execute(replace_view("mous_restore", "0011"))

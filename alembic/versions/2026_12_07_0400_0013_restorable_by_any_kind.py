"""Restorable since: by any restore kind, not only by a restore PPR.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 04:00:00+00:00

Written by hand. The sync now derives each MOUS's restore kind itself (``mous_status.restore_kind``,
etl/derive/restorability.py) and records its changes, so ``restorable_since``, the newly restorable,
the no longer restorable and the nightly spool follow "a kind other than none" (``restorable`` stays
the restore PPR's verdict). ``mous_restore`` reads the kind from the row; ``newly_restorable`` selects
on it and shows it (the scriptForPI.py lookup stays one grouped subquery joined once, as in
revision 0012). Existing rows get the kind the view of revision 0012 gives them; the rules
version is raised, so the next sync re-derives every MOUS and dates those restorable by a kind other
than pipeline_ppr (which have no ``restorable_since`` yet): they are newly restorable that night, and
the spool builds them once.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from etl.mirror.view_queries import create_view, replace_view

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SINCE_BEFORE = "restorable OR restorable_since IS NULL"
SINCE_AFTER = "restore_kind <> 'none' OR restorable_since IS NULL"
KINDS = "restore_kind IN ('pipeline_ppr', 'pipeline_script', 'scriptforpi', 'none')"


def upgrade() -> None:
    op.add_column(
        "mous_status", sa.Column("restore_kind", sa.Text(), server_default=sa.text("'none'"), nullable=False)
    )
    op.execute(
        "UPDATE mous_status AS status SET restore_kind = view.restore_kind "
        "FROM mous_restore AS view WHERE view.mous_uid = status.mous_uid"
    )
    # Updates (this one, or an earlier revision's in the same transaction) queue deferred foreign-key
    # checks; an ALTER TABLE is refused while they are pending.
    op.execute("SET CONSTRAINTS ALL IMMEDIATE")
    op.create_check_constraint(op.f("ck_mous_status_restore_kind_known"), "mous_status", KINDS)
    op.drop_constraint(op.f("ck_mous_status_since_only_when_restorable"), "mous_status", type_="check")
    op.create_check_constraint(op.f("ck_mous_status_since_only_when_restorable"), "mous_status", SINCE_AFTER)
    # The view's columns stay as they were: only where the kind comes from changes.
    op.execute("DROP VIEW mous_restore")
    op.execute(create_view("mous_restore", "0013"))
    op.execute(replace_view("newly_restorable", "0013"))


def downgrade() -> None:
    op.execute("DROP VIEW newly_restorable")
    op.execute(create_view("newly_restorable", "0002"))
    op.execute("DROP VIEW mous_restore")
    op.execute(create_view("mous_restore", "0012"))
    # Dates of MOUSes restorable by a kind other than pipeline_ppr had no place before.
    op.execute(
        "UPDATE mous_status SET restorable_since = NULL, restorable_since_run_id = NULL WHERE NOT restorable"
    )
    op.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as in upgrade()
    op.drop_constraint(op.f("ck_mous_status_since_only_when_restorable"), "mous_status", type_="check")
    op.create_check_constraint(op.f("ck_mous_status_since_only_when_restorable"), "mous_status", SINCE_BEFORE)
    op.drop_constraint(op.f("ck_mous_status_restore_kind_known"), "mous_status", type_="check")
    op.drop_column("mous_status", "restore_kind")

"""How each MOUS restores: the view ``mous_restore``, and manual calibration scripts as documents.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 00:00:00+00:00

Written by hand. ``mous_restore`` turns the verdict of ``mous_status`` into one restore kind per
member OUS: ``pipeline_ppr`` (restorable by a restore PPR), ``pipeline_script`` (a pipeline
calibration whose archived restore script has steps a PPR cannot carry: that script is run
instead), ``scriptforpi`` (a manual calibration, or a pipeline calibration followed by hand-run
scripts: its scriptForPI.py is run in an ALMA delivery tree) or ``none``, with the reason. It adds
the CASA the calibration used and, for manual scripts, the CASA version the scripts demand (parsed
by the sync from ``calibration_document`` rows of the new kind ``calibration_script``).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from etl.mirror.view_queries import create_view

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOCUMENT_KINDS_BEFORE = "kind IN ('manifest', 'restore_script', 'request')"
DOCUMENT_KINDS_AFTER = "kind IN ('manifest', 'restore_script', 'request', 'calibration_script')"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_calibration_document_kind_known"), "calibration_document", type_="check")
    op.create_check_constraint(
        op.f("ck_calibration_document_kind_known"), "calibration_document", DOCUMENT_KINDS_AFTER
    )
    op.execute(create_view("mous_restore", "0010"))


def downgrade() -> None:
    op.execute("DROP VIEW mous_restore")
    op.execute("DELETE FROM calibration_document WHERE kind = 'calibration_script'")
    op.drop_constraint(op.f("ck_calibration_document_kind_known"), "calibration_document", type_="check")
    op.create_check_constraint(
        op.f("ck_calibration_document_kind_known"), "calibration_document", DOCUMENT_KINDS_BEFORE
    )

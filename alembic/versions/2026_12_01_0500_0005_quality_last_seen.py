"""data_quality.last_seen_at: the latest successful sync, which still found every open issue.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 05:00:00+00:00

Written by hand. A sync re-checks the findings of the MOUSes its changes touched; an open issue of a
MOUS it did not touch still holds, because nothing it is computed from changed. Stamping every open
issue in every run would make a sync with no source changes write rows; the view says it instead.
``data_quality_issue.last_seen_run_id`` keeps meaning the latest run that re-checked the issue.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from etl.mirror.view_queries import replace_view

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(replace_view("data_quality", "0005"))


def downgrade() -> None:
    op.execute(replace_view("data_quality", "0002"))

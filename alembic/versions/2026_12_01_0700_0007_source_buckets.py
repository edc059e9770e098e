"""source_buckets: the source's checksums of each mirrored table's key-ordered buckets.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 07:00:00+00:00

Written by hand. A sync asks the source for a row count and a checksum of each bucket of each table's
keys and reads only the buckets whose figures moved (etl/load/buckets.py); ``source_buckets`` keeps,
per table, the bounds and the figures of the last run. Empty after the upgrade, so the next sync reads
every table whole once, as the first sync does. ``sync_run_table.rows_pulled`` says how many rows a
run really read from the source; ``rows_read`` keeps counting the source table's rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source_buckets",
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("bounds", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("row_counts", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("checksums", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("full_read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("full_read_run_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("table_name", name=op.f("pk_source_buckets")),
    )
    op.add_column("sync_run_table", sa.Column("rows_pulled", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("sync_run_table", "rows_pulled")
    op.drop_table("source_buckets")

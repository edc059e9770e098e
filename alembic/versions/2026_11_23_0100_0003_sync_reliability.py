"""Sync reliability: the sync lock as a row lock, the interrupted run state, quarantined rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 01:00:00+00:00

Written by hand.

- ``sync_lock``: one row, locked ``FOR UPDATE`` by the transaction that writes the mirror. A row lock
  needs UPDATE privilege, so almamirror_reader (SELECT only, from revision 0002's default privileges)
  can read the table but never take the lock.
- ``sync_run.status`` gains ``interrupted`` (a signal, or a process that died); runs that were
  recorded as ``failed`` with an "interrupted: …" error become ``interrupted``.
- ``sync_run_table.quarantined``: source rows a run left out (a duplicated or missing key, a value the
  mirror cannot store).
- ``sync_run.source`` is masked again with the rules of today's URL masking: older versions left a
  ``password=`` query parameter, and the part of a password after an unencoded ``@``, readable by
  almamirror_reader. The downgrade cannot, and must not, bring them back.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES_BEFORE = "status IN ('running', 'succeeded', 'failed')"
STATES_AFTER = "status IN ('running', 'succeeded', 'failed', 'interrupted')"

# Everything between "scheme://user:" and the last "@" is the password (an unencoded "@" in it
# included); then every query parameter whose name says it holds a secret.
MASK_STORED_SOURCES = r"""
UPDATE sync_run
SET source = regexp_replace(
    regexp_replace(source, '^([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@]*:).*@', '\1***@'),
    '([?&;][^=&#]*(password|passwd|pwd|secret|token)[^=&#]*=)[^&#]*', '\1***', 'gi'
)
WHERE source ~ '@' OR source ~* '(password|passwd|pwd|secret|token)[^=&#]*='
"""


def upgrade() -> None:
    op.create_table(
        "sync_lock",
        sa.Column("lock_id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.CheckConstraint("lock_id = 1", name=op.f("ck_sync_lock_one_row")),
        sa.PrimaryKeyConstraint("lock_id", name=op.f("pk_sync_lock")),
    )
    op.execute("INSERT INTO sync_lock (lock_id) VALUES (1)")
    op.drop_constraint(op.f("ck_sync_run_status_known"), "sync_run", type_="check")
    op.create_check_constraint(op.f("ck_sync_run_status_known"), "sync_run", STATES_AFTER)
    op.execute(
        "UPDATE sync_run SET status = 'interrupted' WHERE status = 'failed' AND error LIKE 'interrupted%'"
    )
    op.add_column(
        "sync_run_table",
        sa.Column("quarantined", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.execute(MASK_STORED_SOURCES)


def downgrade() -> None:
    op.drop_column("sync_run_table", "quarantined")
    op.execute(
        "UPDATE sync_run SET status = 'failed', "
        "error = coalesce(error, 'interrupted: the process ended before the sync finished') "
        "WHERE status = 'interrupted'"
    )
    op.drop_constraint(op.f("ck_sync_run_status_known"), "sync_run", type_="check")
    op.create_check_constraint(op.f("ck_sync_run_status_known"), "sync_run", STATES_BEFORE)
    op.drop_table("sync_lock")

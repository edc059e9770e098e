"""Each MOUS's latest changing run, kept beside its change events, so ``last_change_at`` is a join.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 14:00:00+00:00

Written by hand. ``restorable_mous.last_change_at`` looked up the latest change event of every MOUS
it listed: one probe of ``ix_change_event_mous_uid_run_id`` per row, about half a second for every
MOUS at ALMA scale and growing with the history. ``mous_last_change`` holds ``max(run_id)`` of each
MOUS's events, kept by statement-level triggers on ``change_event`` (transition tables: one aggregate
per statement, in the transaction that writes the events), so it cannot drift from the events and
the sync's code does not change. The view joins it and ``sync_run``; its columns and values are the
same. The downgrade restores revision 0006's text of the view (unchanged by 0007) exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from etl.mirror.view_queries import replace_view

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Inserted events can only raise a MOUS's latest run.
AFTER_INSERT = r"""
CREATE FUNCTION mous_last_change_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mous_last_change AS latest (mous_uid, run_id)
    SELECT mous_uid, max(run_id) FROM inserted_events WHERE mous_uid IS NOT NULL GROUP BY mous_uid
    ON CONFLICT (mous_uid) DO UPDATE SET run_id = excluded.run_id WHERE latest.run_id < excluded.run_id;
    RETURN NULL;
END
$$
"""

# An update (the sync names the MOUS of an event after its merge) or a delete (a run removed with its
# events) can move a MOUS's latest run either way: the MOUSes of those events are read again.
RECOUNT = r"""
    INSERT INTO mous_last_change AS latest (mous_uid, run_id)
    SELECT event.mous_uid, max(event.run_id) FROM change_event AS event
    WHERE event.mous_uid IN ({touched})
    GROUP BY event.mous_uid
    ON CONFLICT (mous_uid) DO UPDATE SET run_id = excluded.run_id WHERE latest.run_id <> excluded.run_id;
    DELETE FROM mous_last_change AS latest
    WHERE latest.mous_uid IN (SELECT mous_uid FROM old_events)
      AND NOT EXISTS (SELECT FROM change_event AS event WHERE event.mous_uid = latest.mous_uid);
"""
AFTER_UPDATE = r"""
CREATE FUNCTION mous_last_change_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN""" + RECOUNT.format(touched="SELECT mous_uid FROM old_events UNION SELECT mous_uid FROM new_events") + r"""    RETURN NULL;
END
$$
"""
AFTER_DELETE = r"""
CREATE FUNCTION mous_last_change_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN""" + RECOUNT.format(touched="SELECT mous_uid FROM old_events") + r"""    RETURN NULL;
END
$$
"""
AFTER_TRUNCATE = r"""
CREATE FUNCTION mous_last_change_after_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mous_last_change;
    RETURN NULL;
END
$$
"""
TRIGGERS = (
    "CREATE TRIGGER mous_last_change_insert AFTER INSERT ON change_event "
    "REFERENCING NEW TABLE AS inserted_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION mous_last_change_after_insert()",
    "CREATE TRIGGER mous_last_change_update AFTER UPDATE ON change_event "
    "REFERENCING OLD TABLE AS old_events NEW TABLE AS new_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION mous_last_change_after_update()",
    "CREATE TRIGGER mous_last_change_delete AFTER DELETE ON change_event "
    "REFERENCING OLD TABLE AS old_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION mous_last_change_after_delete()",
    "CREATE TRIGGER mous_last_change_truncate AFTER TRUNCATE ON change_event "
    "FOR EACH STATEMENT EXECUTE FUNCTION mous_last_change_after_truncate()",
)
DROPS = (
    "DROP TRIGGER mous_last_change_truncate ON change_event",
    "DROP FUNCTION mous_last_change_after_truncate()",
    "DROP TRIGGER mous_last_change_delete ON change_event",
    "DROP FUNCTION mous_last_change_after_delete()",
    "DROP TRIGGER mous_last_change_update ON change_event",
    "DROP FUNCTION mous_last_change_after_update()",
    "DROP TRIGGER mous_last_change_insert ON change_event",
    "DROP FUNCTION mous_last_change_after_insert()",
)
BACKFILL = r"""
INSERT INTO mous_last_change (mous_uid, run_id)
SELECT mous_uid, max(run_id) FROM change_event WHERE mous_uid IS NOT NULL GROUP BY mous_uid
"""


def upgrade() -> None:
    op.create_table(
        "mous_last_change",
        sa.Column("mous_uid", sa.Text(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("mous_uid", name=op.f("pk_mous_last_change")),
    )
    for function in (AFTER_INSERT, AFTER_UPDATE, AFTER_DELETE, AFTER_TRUNCATE):
        op.execute(function)
    for trigger in TRIGGERS:
        op.execute(trigger)
    op.execute(BACKFILL)
    op.execute(replace_view("restorable_mous", "0008"))


def downgrade() -> None:
    # The same columns: CREATE OR REPLACE keeps newly_restorable, which depends on the view.
    op.execute(replace_view("restorable_mous", "0006"))
    for statement in DROPS:
        op.execute(statement)
    op.drop_table("mous_last_change")

"""One meaning of "restorable": the PPR's references in mous_status, the rules' version, one PI rule.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 02:00:00+00:00

Written by hand. mous_status gains the references a restore PPR carries, as the derivation checked
them (ppr reads them from there), and the version of the restorability rules each row was derived
by: rows from before this revision are version 1, so the first sync after the upgrade re-derives
every MOUS under the new rules. restorable_mous takes the PI of a proposal that has one (the earliest
proposal of a resubmitted project may have none); its columns are unchanged, so CREATE OR REPLACE
keeps the views that depend on it, and the downgrade restores revision 0002's text exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFERENCE_COLUMNS = ("obs_project_uid", "ous_part_id", "project_status_uid", "sb_status_uid")
# Rows derived before the rules had a version; etl/derive/restorability.py RULES_VERSION is newer.
FIRST_RULES_VERSION = "1"

RESTORABLE_MOUS = r"""
CREATE OR REPLACE VIEW restorable_mous AS
SELECT
    status.mous_uid,
    project.code AS project_code,
    proposal.cycle,
    proposal.pi_name AS pi,
    status.array_family,
    status.receiver_band AS band,
    status.eb_count,
    status.pass_eb_count,
    status.session_count,
    status.empty_session_count,
    status.calibration_kind,
    status.caltables_sessions,
    status.restorable,
    status.reason_code,
    CASE WHEN NOT status.restorable THEN status.reason END AS reason,
    status.restorable_since,
    -- The mirror keeps ALMA's naive UTC release dates; as timestamptz they compare correctly with
    -- now() whatever the session's TimeZone.
    status.release_date AT TIME ZONE 'UTC' AS release_date,
    (status.release_date IS NULL OR status.release_date AT TIME ZONE 'UTC' > now()) AS proprietary,
    (
        SELECT run.finished_at
        FROM sync_run AS run
        WHERE run.run_id = COALESCE(
            (SELECT max(event.run_id) FROM change_event AS event WHERE event.mous_uid = status.mous_uid),
            status.derived_run_id
        )
    ) AS last_change_at
FROM mous_status AS status
LEFT JOIN project ON project.project_uid = status.project_uid
-- A project can have several proposal rows (a resubmission adds one, sometimes without a PI). The
-- cycle is the earliest of them (the one its code is numbered in); the PI is that of a proposal that
-- has one, earliest cycle first, then the smallest proposal UID, so the choice never changes between
-- queries. The PPR's PIName is this column: ppr reads it from here.
LEFT JOIN (
    SELECT DISTINCT ON (candidate.project_uid)
        candidate.project_uid,
        min(candidate.cycle) OVER (PARTITION BY candidate.project_uid) AS cycle,
        candidate.pi_name
    FROM proposal AS candidate
    ORDER BY candidate.project_uid, candidate.pi_name IS NULL, candidate.cycle IS NULL, candidate.cycle,
             candidate.proposal_uid
) AS proposal ON proposal.project_uid = status.project_uid
"""

# Revision 0002's text, restored by the downgrade.
PREVIOUS_RESTORABLE_MOUS = r"""
CREATE OR REPLACE VIEW restorable_mous AS
SELECT
    status.mous_uid,
    project.code AS project_code,
    proposal.cycle,
    proposal.pi_name AS pi,
    status.array_family,
    status.receiver_band AS band,
    status.eb_count,
    status.pass_eb_count,
    status.session_count,
    status.empty_session_count,
    status.calibration_kind,
    status.caltables_sessions,
    status.restorable,
    status.reason_code,
    CASE WHEN NOT status.restorable THEN status.reason END AS reason,
    status.restorable_since,
    -- The mirror keeps ALMA's naive UTC release dates; as timestamptz they compare correctly with
    -- now() whatever the session's TimeZone.
    status.release_date AT TIME ZONE 'UTC' AS release_date,
    (status.release_date IS NULL OR status.release_date AT TIME ZONE 'UTC' > now()) AS proprietary,
    (
        SELECT run.finished_at
        FROM sync_run AS run
        WHERE run.run_id = COALESCE(
            (SELECT max(event.run_id) FROM change_event AS event WHERE event.mous_uid = status.mous_uid),
            status.derived_run_id
        )
    ) AS last_change_at
FROM mous_status AS status
LEFT JOIN project ON project.project_uid = status.project_uid
-- A project can have several proposal rows: take the earliest cycle (the one its code is numbered
-- in), then the smallest proposal UID, so the choice never changes between queries.
LEFT JOIN (
    SELECT DISTINCT ON (candidate.project_uid) candidate.project_uid, candidate.cycle, candidate.pi_name
    FROM proposal AS candidate
    ORDER BY candidate.project_uid, candidate.cycle IS NULL, candidate.cycle, candidate.proposal_uid
) AS proposal ON proposal.project_uid = status.project_uid
"""


def upgrade() -> None:
    for name in REFERENCE_COLUMNS:
        op.add_column("mous_status", sa.Column(name, sa.Text(), nullable=True))
    op.add_column(
        "mous_status",
        sa.Column("rules_version", sa.Integer(), nullable=False, server_default=FIRST_RULES_VERSION),
    )
    # The default only fills the existing rows; the derivation always writes the version.
    op.alter_column("mous_status", "rules_version", server_default=None)
    op.execute(RESTORABLE_MOUS)


def downgrade() -> None:
    op.execute(PREVIOUS_RESTORABLE_MOUS)
    op.drop_column("mous_status", "rules_version")
    for name in reversed(REFERENCE_COLUMNS):
        op.drop_column("mous_status", name)

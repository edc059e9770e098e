"""Reporting views on the mirror, and the read-only role almamirror_reader.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:00:00+00:00

Written by hand. The views are plain SQL so that psql users, the reports and this file read the same
text; docs/reporting.md describes every column. No index is added: the measured plans (see
docs/reporting.md, "Performance") use only indexes revision 0001 created.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One row per member OUS. The last change is a correlated scalar subquery, not a join: PostgreSQL
# evaluates it only when a query returns that column, so "which MOUSes are restorable" never touches the
# millions of change_event rows, and when it does run it is one probe of ix_change_event_mous_uid_run_id.
# The proposal is a DISTINCT ON join, which the planner drops when no proposal column is asked for and
# otherwise hash-joins in one pass (a probe per MOUS costs more when every MOUS is listed).
RESTORABLE_MOUS = r"""
CREATE VIEW restorable_mous AS
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

MOUS_SESSIONS = r"""
CREATE VIEW mous_sessions AS
SELECT
    session.mous_uid,
    session.session_number,
    session.session_id,
    session.pass_eb_uids,
    session.eb_count,
    session.pass_eb_count,
    session.pass_eb_count = 0 AS is_empty,
    (
        SELECT min(file.file_name)
        FROM product_file AS file
        WHERE file.mous_uid = session.mous_uid
          AND file.kind = 'caltables'
          AND file.session_number = session.session_number
    ) AS caltables_file,
    -- The PPR's value: the Pass EBs in observation order joined by exactly ' | '; '' for an empty
    -- session, which keeps its number (the archived caltables are named by it).
    array_to_string(session.pass_eb_uids, ' | ') AS session_value
FROM (
    SELECT
        assignment.mous_uid,
        assignment.session_number,
        -- One AQUA session per session number by construction; min() keeps one row per number even
        -- if that were ever broken.
        min(assignment.session_id) AS session_id,
        COALESCE(
            array_agg(assignment.eb_uid ORDER BY assignment.position)
                FILTER (WHERE assignment.qa0_status = 'Pass'),
            '{}'::text[]
        ) AS pass_eb_uids,
        count(*)::integer AS eb_count,
        (count(*) FILTER (WHERE assignment.qa0_status = 'Pass'))::integer AS pass_eb_count
    FROM session_assignment AS assignment
    GROUP BY assignment.mous_uid, assignment.session_number
) AS session
"""

# Newest first: event ids grow with time and syncs never overlap (the sync lock), so event_id order is
# run order, and unlike changed_at it can be read backwards from the primary key.
RECENT_CHANGES = r"""
CREATE VIEW recent_changes AS
SELECT
    event.event_id,
    event.run_id,
    run.finished_at AS changed_at,
    event.table_name,
    event.row_key,
    event.kind,
    event.mous_uid,
    project.code AS project_code,
    event.changed_columns,
    event.old_values,
    event.new_values
FROM change_event AS event
JOIN sync_run AS run ON run.run_id = event.run_id
LEFT JOIN ous ON ous.ous_uid = event.mous_uid
LEFT JOIN project ON project.project_uid = ous.project_uid
ORDER BY event.event_id DESC
"""

NEWLY_RESTORABLE = r"""
CREATE VIEW newly_restorable AS
SELECT
    restorable.mous_uid,
    restorable.project_code,
    restorable.array_family,
    restorable.band,
    restorable.restorable_since,
    restorable.release_date,
    restorable.proprietary
FROM restorable_mous AS restorable
JOIN mous_status AS status ON status.mous_uid = restorable.mous_uid
WHERE restorable.restorable
  AND status.restorable_since_run_id = (
      SELECT max(run.run_id) FROM sync_run AS run WHERE run.status = 'succeeded'
  )
"""

DATA_QUALITY = r"""
CREATE VIEW data_quality AS
SELECT
    issue.issue_id,
    issue.kind,
    issue.mous_uid,
    project.code AS project_code,
    issue.subject,
    issue.detail,
    first_run.finished_at AS first_seen_at,
    last_run.finished_at AS last_seen_at
FROM data_quality_issue AS issue
JOIN sync_run AS first_run ON first_run.run_id = issue.first_seen_run_id
JOIN sync_run AS last_run ON last_run.run_id = issue.last_seen_run_id
LEFT JOIN ous ON ous.ous_uid = issue.mous_uid
LEFT JOIN project ON project.project_uid = ous.project_uid
WHERE issue.resolved_run_id IS NULL
"""

# Roles belong to the cluster, not the database: several mirrors (and every test database) on one
# server share it. Create it only when missing, so a site whose DBA made it needs no CREATEROLE, and
# treat losing a race with another migration as success (the loser sees unique_violation).
CREATE_READER = r"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'almamirror_reader') THEN
        CREATE ROLE almamirror_reader NOLOGIN;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$
"""

# The mirror lives in the migrating connection's current schema; format(%I) quotes its name.
# Default privileges cover tables and views that later migrations (run by the same user) create.
GRANT_READER = r"""
DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO almamirror_reader', current_schema());
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO almamirror_reader', current_schema());
    EXECUTE format(
        'ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO almamirror_reader',
        current_schema()
    );
END
$$
"""

REVOKE_READER = r"""
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'almamirror_reader') THEN
        EXECUTE format(
            'ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE SELECT ON TABLES FROM almamirror_reader',
            current_schema()
        );
        EXECUTE format('REVOKE SELECT ON ALL TABLES IN SCHEMA %I FROM almamirror_reader', current_schema());
        EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM almamirror_reader', current_schema());
    END IF;
END
$$
"""

# Other databases on the server may still grant the role something (dependent_objects_still_exist):
# they keep it. Login roles that are members keep it too: DROP ROLE would silently end their access.
DROP_READER = r"""
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'almamirror_reader')
       AND NOT EXISTS (
           SELECT FROM pg_catalog.pg_auth_members
           WHERE roleid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = 'almamirror_reader')
       )
    THEN
        DROP ROLE almamirror_reader;
    END IF;
EXCEPTION
    WHEN dependent_objects_still_exist THEN NULL;
END
$$
"""


def upgrade() -> None:
    op.execute(RESTORABLE_MOUS)
    op.execute(MOUS_SESSIONS)
    op.execute(RECENT_CHANGES)
    op.execute(NEWLY_RESTORABLE)
    op.execute(DATA_QUALITY)
    op.execute(CREATE_READER)
    op.execute(GRANT_READER)


def downgrade() -> None:
    op.execute(REVOKE_READER)
    op.execute(DROP_READER)
    op.execute("DROP VIEW data_quality")
    op.execute("DROP VIEW newly_restorable")
    op.execute("DROP VIEW recent_changes")
    op.execute("DROP VIEW mous_sessions")
    op.execute("DROP VIEW restorable_mous")

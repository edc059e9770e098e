"""Reporting views on the mirror, and the read-only role almamirror_reader.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:00:00+00:00

Written by hand. The views are plain SQL, each in its own file (alembic/views/<view>/0002.sql), so
that psql users, the reports and this revision read the same text; docs/reporting.md describes every
column. No index is added: the measured plans (see docs/reporting.md, "Performance") use only indexes
revision 0001 created.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from etl.mirror.view_queries import create_view

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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
    op.execute(create_view("restorable_mous", "0002"))
    op.execute(create_view("mous_sessions", "0002"))
    op.execute(create_view("recent_changes", "0002"))
    op.execute(create_view("newly_restorable", "0002"))  # selects from restorable_mous
    op.execute(create_view("data_quality", "0002"))
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

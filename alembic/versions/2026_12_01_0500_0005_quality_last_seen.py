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

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The latest succeeded run is one probe of pk_sync_run from the end, evaluated once per query.
DATA_QUALITY = r"""
CREATE OR REPLACE VIEW data_quality AS
SELECT
    issue.issue_id,
    issue.kind,
    issue.mous_uid,
    project.code AS project_code,
    issue.subject,
    issue.detail,
    first_run.finished_at AS first_seen_at,
    greatest(last_run.finished_at, latest_run.finished_at) AS last_seen_at
FROM data_quality_issue AS issue
JOIN sync_run AS first_run ON first_run.run_id = issue.first_seen_run_id
JOIN sync_run AS last_run ON last_run.run_id = issue.last_seen_run_id
LEFT JOIN (
    SELECT run.finished_at
    FROM sync_run AS run
    WHERE run.status = 'succeeded'
    ORDER BY run.run_id DESC
    LIMIT 1
) AS latest_run ON true
LEFT JOIN ous ON ous.ous_uid = issue.mous_uid
LEFT JOIN project ON project.project_uid = ous.project_uid
WHERE issue.resolved_run_id IS NULL
"""

# Revision 0002's text.
PREVIOUS_DATA_QUALITY = r"""
CREATE OR REPLACE VIEW data_quality AS
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


def upgrade() -> None:
    op.execute(DATA_QUALITY)


def downgrade() -> None:
    op.execute(PREVIOUS_DATA_QUALITY)

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

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SINCE_BEFORE = "restorable OR restorable_since IS NULL"
SINCE_AFTER = "restore_kind <> 'none' OR restorable_since IS NULL"
KINDS = "restore_kind IN ('pipeline_ppr', 'pipeline_script', 'scriptforpi', 'none')"

MOUS_RESTORE = r"""
CREATE VIEW mous_restore AS
-- The kind is the sync's (mous_status.restore_kind, etl/derive/restorability.py).
-- Each aggregate reads its table once (not once per MOUS): the view stays set-based at ALMA's scale.
WITH delivery_drivers AS (
    SELECT file.mous_uid, min(file.file_name) AS scriptforpi_file
    FROM product_file AS file
    WHERE file.file_name LIKE '%scriptForPI.py'
    GROUP BY file.mous_uid
),
script_versions AS (
    -- The CASA version every fetched hand-run calibration script demands, per MOUS that lists it.
    SELECT
        listed.mous_uid,
        array_agg(DISTINCT document.parsed ->> 'casa_version' ORDER BY document.parsed ->> 'casa_version')
            AS script_casa_versions
    FROM calibration_document AS document
    CROSS JOIN LATERAL unnest(document.mous_uids) AS listed (mous_uid)
    WHERE document.kind = 'calibration_script' AND document.state = 'fetched'
      AND document.parsed ->> 'casa_version' IS NOT NULL
    GROUP BY listed.mous_uid
)
SELECT
    status.mous_uid,
    project.code AS project_code,
    status.restore_kind,
    CASE
        WHEN status.restore_kind = 'pipeline_ppr' THEN NULL
        WHEN status.restore_kind <> 'none' THEN status.reason
        WHEN status.reason_code IN ('manual_calibration', 'manual_post_calibration')
             AND status.pass_eb_count = 0 THEN format('none of its %s EBs has QA0 Pass', status.eb_count)
        WHEN status.reason_code IN ('manual_calibration', 'manual_post_calibration')
             THEN 'hand-calibrated, but no scriptForPI.py is archived to restore it with'
        ELSE status.reason
    END AS restore_reason,
    status.reason_code,
    status.calibration_kind,
    status.array_family,
    status.casa_version,
    status.pipeline_version,
    status.mpi_servers,
    record.restore_task,
    record.hm_rasterscan,
    record.restore_script_file,
    drivers.scriptforpi_file,
    versions.script_casa_versions,
    status.reason_codes
FROM mous_status AS status
LEFT JOIN delivery_drivers AS drivers ON drivers.mous_uid = status.mous_uid
LEFT JOIN script_versions AS versions ON versions.mous_uid = status.mous_uid
LEFT JOIN calibration_record AS record ON record.mous_uid = status.mous_uid
LEFT JOIN project ON project.project_uid = status.project_uid
"""

MOUS_RESTORE_0012 = r"""
CREATE OR REPLACE VIEW mous_restore AS
-- Each table is read once for any number of MOUSes, and by index for a few (revision 0013).
WITH script_versions AS (
    -- The CASA version every fetched hand-run calibration script demands, per MOUS that lists it.
    SELECT
        listed.mous_uid,
        array_agg(DISTINCT document.parsed ->> 'casa_version' ORDER BY document.parsed ->> 'casa_version')
            AS script_casa_versions
    FROM calibration_document AS document
    CROSS JOIN LATERAL unnest(document.mous_uids) AS listed (mous_uid)
    WHERE document.kind = 'calibration_script' AND document.state = 'fetched'
      AND document.parsed ->> 'casa_version' IS NOT NULL
    GROUP BY listed.mous_uid
)
SELECT
    status.mous_uid,
    project.code AS project_code,
    kinds.restore_kind,
    CASE
        WHEN kinds.restore_kind = 'pipeline_ppr' THEN NULL
        WHEN kinds.restore_kind <> 'none' THEN status.reason
        WHEN status.reason_code IN ('manual_calibration', 'manual_post_calibration')
             AND status.pass_eb_count = 0 THEN format('none of its %s EBs has QA0 Pass', status.eb_count)
        WHEN status.reason_code IN ('manual_calibration', 'manual_post_calibration')
             THEN 'hand-calibrated, but no scriptForPI.py is archived to restore it with'
        ELSE status.reason
    END AS restore_reason,
    status.reason_code,
    status.calibration_kind,
    status.array_family,
    status.casa_version,
    status.pipeline_version,
    status.mpi_servers,
    record.restore_task,
    record.hm_rasterscan,
    record.restore_script_file,
    drivers.scriptforpi_file,
    versions.script_casa_versions,
    status.reason_codes
FROM mous_status AS status
LEFT JOIN (
    SELECT file.mous_uid, min(file.file_name) AS scriptforpi_file
    FROM product_file AS file
    WHERE file.file_name LIKE '%scriptForPI.py'
    GROUP BY file.mous_uid
) AS drivers ON drivers.mous_uid = status.mous_uid
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN status.restorable THEN 'pipeline_ppr'
        -- Run by its archived script when the script's extra steps are in the way and nothing
        -- else is but what the script does itself (it restores with its own EB-to-session key).
        WHEN 'restore_needs_extra_steps' = ANY(status.reason_codes)
             AND status.reason_codes <@ ARRAY['restore_needs_extra_steps', 'session_mismatch']::text[]
            THEN 'pipeline_script'
        WHEN status.reason_code IN ('manual_calibration', 'manual_post_calibration')
             AND status.pass_eb_count > 0 AND drivers.scriptforpi_file IS NOT NULL THEN 'scriptforpi'
        ELSE 'none'
    END AS restore_kind
) AS kinds
LEFT JOIN script_versions AS versions ON versions.mous_uid = status.mous_uid
LEFT JOIN calibration_record AS record ON record.mous_uid = status.mous_uid
LEFT JOIN project ON project.project_uid = status.project_uid
"""

NEWLY_RESTORABLE = r"""
CREATE OR REPLACE VIEW newly_restorable AS
SELECT
    restorable.mous_uid,
    restorable.project_code,
    restorable.array_family,
    restorable.band,
    restorable.restorable_since,
    restorable.release_date,
    restorable.proprietary,
    status.restore_kind
FROM restorable_mous AS restorable
JOIN mous_status AS status ON status.mous_uid = restorable.mous_uid
WHERE status.restore_kind <> 'none'
  AND status.restorable_since_run_id = (
      SELECT max(run.run_id) FROM sync_run AS run WHERE run.status = 'succeeded'
  )
"""

NEWLY_RESTORABLE_0012 = r"""
CREATE OR REPLACE VIEW newly_restorable AS
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
    op.execute(MOUS_RESTORE)
    op.execute(NEWLY_RESTORABLE)


def downgrade() -> None:
    op.execute("DROP VIEW newly_restorable")
    op.execute(NEWLY_RESTORABLE_0012.replace("CREATE OR REPLACE VIEW", "CREATE VIEW"))
    op.execute("DROP VIEW mous_restore")
    op.execute(MOUS_RESTORE_0012.replace("CREATE OR REPLACE VIEW", "CREATE VIEW"))
    # Dates of MOUSes restorable by a kind other than pipeline_ppr had no place before.
    op.execute(
        "UPDATE mous_status SET restorable_since = NULL, restorable_since_run_id = NULL WHERE NOT restorable"
    )
    op.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as in upgrade()
    op.drop_constraint(op.f("ck_mous_status_since_only_when_restorable"), "mous_status", type_="check")
    op.create_check_constraint(op.f("ck_mous_status_since_only_when_restorable"), "mous_status", SINCE_BEFORE)
    op.drop_constraint(op.f("ck_mous_status_restore_kind_known"), "mous_status", type_="check")
    op.drop_column("mous_status", "restore_kind")

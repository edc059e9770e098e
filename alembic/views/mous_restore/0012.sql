-- Each table is read once for any number of MOUSes, and by index for a few (revision 0012).
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

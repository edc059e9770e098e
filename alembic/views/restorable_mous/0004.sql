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

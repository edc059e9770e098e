-- The latest succeeded run is one probe of pk_sync_run from the end, evaluated once per query.
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

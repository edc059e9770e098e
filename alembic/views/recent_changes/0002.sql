-- Newest first: event ids grow with time and syncs never overlap (the sync lock), so event_id order is
-- run order, and unlike changed_at it can be read backwards from the primary key.
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

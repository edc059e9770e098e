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

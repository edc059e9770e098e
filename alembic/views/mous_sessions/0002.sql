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

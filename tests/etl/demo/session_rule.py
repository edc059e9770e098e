"""Test helpers: the session rule as one plain SQL query, and small readers of the stand-in.

The rule (CONTRACT.md): all EBs of a MOUS via AQUA_EXECBLOCK ⋈ AQUA_SESSION ⋈ SHIFTLOG_ENTRIES ⋈
BMMV_SCHEDBLOCK, one row per EB; each SESSIONID is a session numbered by STARTTIME (a NULL start takes
its earliest EB's start; ties by SESSIONID); non-Pass EBs dropped, empty sessions kept; a session's
value is its Pass EBs in observation order joined by ' | '.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from etl.source.contract import CONTRACT, TABLE_NAMES, contract_table, source_execution_options

SESSION_RULE = text(
    """
    WITH member_ebs AS (
        SELECT DISTINCT b.mous_status_uid AS mous_uid, e.execblockuid AS eb_uid, e.qa0status AS qa0,
               e.starttime AS eb_start, e.sessionid, s.starttime AS session_start
        FROM alma.aqua_execblock e
        JOIN alma.aqua_session s ON s.sessionid = e.sessionid
        JOIN alma.shiftlog_entries l ON l.se_eb_uid = e.execblockuid
        JOIN alma.bmmv_schedblock b ON b.archive_uid = l.se_sb_id
    ),
    sessions AS (
        SELECT mous_uid, sessionid, COALESCE(MIN(session_start), MIN(eb_start)) AS ordering_start
        FROM member_ebs
        GROUP BY mous_uid, sessionid
    ),
    numbered AS (
        SELECT mous_uid, sessionid,
               ROW_NUMBER() OVER (PARTITION BY mous_uid ORDER BY ordering_start, sessionid)
                   AS session_number,
               COUNT(*) OVER (PARTITION BY mous_uid) AS session_count
        FROM sessions
    )
    SELECT n.mous_uid, n.session_number, n.session_count,
           COALESCE(
               string_agg(m.eb_uid, ' | ' ORDER BY m.eb_start, m.eb_uid) FILTER (WHERE m.qa0 = 'Pass'),
               ''
           ) AS session_value
    FROM numbered n
    JOIN member_ebs m ON m.mous_uid = n.mous_uid AND m.sessionid = n.sessionid
    GROUP BY n.mous_uid, n.session_number, n.session_count
    ORDER BY n.mous_uid, n.session_number
    """
)


def derived_sessions(connection: Connection) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Per MOUS, SESSION_1..K as the rule derives them: the Pass EB UIDs of each (() when empty)."""
    sessions: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for mous_uid, number, _count, value in connection.execute(SESSION_RULE):
        assert number == len(sessions[mous_uid]) + 1
        sessions[mous_uid].append(tuple(value.split(" | ")) if value else ())
    return {mous_uid: tuple(values) for mous_uid, values in sessions.items()}


def table_rows(connection: Connection, name: str) -> list[tuple[Any, ...]]:
    """Every row of a contract table, ordered by its primary key."""
    table = contract_table(CONTRACT, name)
    translated = connection.execution_options(**source_execution_options("alma"))
    statement = select(table).order_by(*table.primary_key.columns)
    return [tuple(row) for row in translated.execute(statement)]


def table_hashes(engine: Engine) -> dict[str, str]:
    """A SHA-256 per contract table over its rows in primary-key order."""
    hashes = {}
    with engine.connect() as connection:
        for name in TABLE_NAMES:
            digest = hashlib.sha256()
            for row in table_rows(connection, name):
                digest.update(repr(row).encode())
            hashes[name] = digest.hexdigest()
    return hashes

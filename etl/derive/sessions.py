"""The session rule (CONTRACT.md), in SQL, materialised per MOUS into ``session_assignment``.

1. All EBs of the MOUS, QA0 Fail and SemiPass included: AQUA_EXECBLOCK ⋈ AQUA_SESSION ⋈ SHIFTLOG_ENTRIES
   ⋈ BMMV_SCHEDBLOCK, one row per EB however many shift-log rows name it.
2. Each AQUA session is a SESSION_n, numbered from 1 per MOUS by the session's start time; a session with
   no start time takes its earliest EB's (never "NULLs last"); equal times are ordered by SESSIONID.
3. Every EB keeps its session number whatever its QA0; the PPR later uses only the Pass ones, so a
   session of failed EBs stays in the mapping, empty, and no number ever shifts.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, FromClause, Select, Table, and_, func, insert, select

from etl.copy import analyze
from etl.derive.tree import eb_mous, member_ous
from etl.mirror import ExecutionBlock, ObservingSession, SessionAssignment, table_of
from etl.steps.figures import StepFigures, timed_step
from etl.steps.merge import MergeTarget, merge
from etl.steps.stage import create_stage, insert_count

log = logging.getLogger(__name__)

ASSIGNMENT_COLUMNS = (
    "mous_uid", "eb_uid", "session_number", "session_id", "qa0_status", "eb_start_time", "position",
)


def session_rule(scope: FromClause | None = None) -> Select[Any]:
    """Every EB of every member OUS (in ``scope``, when given) with its session number and position."""
    ebs = table_of(ExecutionBlock)
    sessions = table_of(ObservingSession)
    links = eb_mous(scope)
    members = member_ous()
    mous_eb = (
        select(
            links.c.mous_uid, ebs.c.eb_uid, ebs.c.session_id, ebs.c.qa0_status,
            ebs.c.start_time.label("eb_start"), sessions.c.start_time.label("session_start"),
        )
        .join_from(ebs, sessions, sessions.c.session_id == ebs.c.session_id)
        .join(links, links.c.eb_uid == ebs.c.eb_uid)
        .join(members, members.c.mous_uid == links.c.mous_uid)
        .cte("mous_eb")
    )
    session_order = (
        select(
            mous_eb.c.mous_uid,
            mous_eb.c.session_id,
            func.coalesce(func.min(mous_eb.c.session_start), func.min(mous_eb.c.eb_start)).label(
                "sort_time"
            ),
        )
        .group_by(mous_eb.c.mous_uid, mous_eb.c.session_id)
        .cte("session_order")
    )
    numbered = select(
        session_order.c.mous_uid,
        session_order.c.session_id,
        func.row_number()
        .over(
            partition_by=session_order.c.mous_uid,
            # Only a session with no start time and no EB start at all sorts last: nothing orders it.
            order_by=(session_order.c.sort_time.asc().nulls_last(), session_order.c.session_id),
        )
        .label("session_number"),
    ).cte("numbered")
    return select(
        mous_eb.c.mous_uid,
        mous_eb.c.eb_uid,
        numbered.c.session_number,
        mous_eb.c.session_id,
        mous_eb.c.qa0_status,
        mous_eb.c.eb_start.label("eb_start_time"),
        func.row_number()
        .over(
            partition_by=(mous_eb.c.mous_uid, numbered.c.session_number),
            order_by=(mous_eb.c.eb_start.asc().nulls_last(), mous_eb.c.eb_uid),
        )
        .label("position"),
    ).join_from(
        mous_eb,
        numbered,
        and_(numbered.c.mous_uid == mous_eb.c.mous_uid, numbered.c.session_id == mous_eb.c.session_id),
    )


def derive_session_assignment(
    connection: Connection, affected: Table, run_id: int, record_events: bool
) -> StepFigures:
    """Recompute the mapping of the affected MOUSes."""
    table = table_of(SessionAssignment)
    with timed_step(table.name, log, doing="applying the session rule", unit="MOUSes") as step:
        stage = create_stage(connection, table, ASSIGNMENT_COLUMNS, ("mous_uid", "eb_uid"), table.name)
        step.read = insert_count(
            connection, insert(stage).from_select(list(ASSIGNMENT_COLUMNS), session_rule(affected))
        )
        analyze(connection, stage)
        target = MergeTarget(
            table, ("mous_uid", "eb_uid"), ASSIGNMENT_COLUMNS,
            recorded=("session_number", "qa0_status", "mous_uid"), scope=affected,
        )
        step.changes = merge(connection, target, stage, run_id, record_events)
    return step.figures

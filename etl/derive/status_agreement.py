"""OUSStatus versus the session rule, session by session: the one definition of their agreement.

The derivation judges a MOUS with it (``mous_status.sessions_match_status_xml`` is every session
agreeing) and ``almamirror explain`` shows it per session. Both run this SQL, rather than the report
computing the rule again in Python, so the screen a person reads cannot disagree with the verdict it
explains. It reads the mirror's tables only (no loading code), so a report may import it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import FromClause, Subquery, and_, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from etl.mirror import OusStatusSession, SessionAssignment, table_of


def session_agreement(scope: FromClause) -> Subquery:
    """Per MOUS of ``scope`` (a ``mous_uid`` column) and session number on either side: ``agrees``.

    A session agrees when the OUSStatus document lists the same EBs as the rule put there, whatever
    their QA0, in any order; a session number on one side only disagrees.
    """
    assignment = table_of(SessionAssignment)
    documented = table_of(OusStatusSession)
    derived = (
        select(
            assignment.c.mous_uid,
            assignment.c.session_number.label("number"),
            _sorted_text(assignment.c.eb_uid).label("ebs"),
        )
        .join(scope, scope.c.mous_uid == assignment.c.mous_uid)
        .group_by(assignment.c.mous_uid, assignment.c.session_number)
        .subquery("derived")
    )
    eb = func.unnest(documented.c.eb_uids).table_valued("uid").render_derived(name="eb")
    sorted_ebs = select(_sorted_text(eb.c.uid)).select_from(eb).scalar_subquery()
    listed = (
        select(documented.c.mous_uid, documented.c.position.label("number"), sorted_ebs.label("ebs"))
        .join(scope, scope.c.mous_uid == documented.c.mous_uid)
        .subquery("listed")
    )
    both = derived.join(
        listed, and_(listed.c.mous_uid == derived.c.mous_uid, listed.c.number == derived.c.number),
        full=True,
    )
    return (
        select(
            func.coalesce(derived.c.mous_uid, listed.c.mous_uid).label("mous_uid"),
            func.coalesce(derived.c.number, listed.c.number).label("session_number"),
            func.coalesce(derived.c.ebs == listed.c.ebs, False).label("agrees"),
        )
        .select_from(both)
        .subquery("session_agreement")
    )


def status_xml_agreement(scope: FromClause) -> Subquery:
    """Per MOUS of ``scope``: do the OUSStatus sessions hold the same EBs, session by session, as the
    session rule? A MOUS with no session on either side has no row."""
    sessions = session_agreement(scope)
    return (
        select(sessions.c.mous_uid, func.bool_and(sessions.c.agrees).label("agrees"))
        .group_by(sessions.c.mous_uid)
        .subquery("status_xml_agreement")
    )


def _sorted_text(uid: Any) -> Any:
    """EB UIDs as one sorted, space-separated string: equal strings mean equal sets."""
    return func.string_agg(uid, aggregate_order_by(literal(" "), uid))

"""explain's OUSStatus-versus-rule column per session is the derivation's own verdict, never a second rule."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import URL

from etl.mirror import MousStatus, OusStatusSession, table_of
from etl.report.explain import explain_mous
from tests.helpers import connect

SEED = "uid://A001/X129e/Xb6"


def _compared(sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sessions either side has (a number known only from archived caltables is in neither)."""
    return [s for s in sessions if s["eb_count"] is not None or s["status_xml_eb_uids"] is not None]


def test_every_demo_mous_explains_the_verdict_its_status_holds(synced_mirror: URL) -> None:
    status = table_of(MousStatus)
    with connect(synced_mirror) as connection:
        verdicts = dict(connection.execute(
            select(status.c.mous_uid, status.c.sessions_match_status_xml)
            .where(status.c.sessions_match_status_xml.is_not(None))
        ).all())
        assert False in verdicts.values()  # the demo has a disagreeing OUSStatus document
        for mous_uid, verdict in verdicts.items():
            explanation = explain_mous(connection, mous_uid)
            assert explanation is not None
            shown = [s["status_xml_agrees"] for s in _compared(explanation.sessions)]
            assert all(agrees is True for agrees in shown) is verdict, (mous_uid, shown)


def test_a_session_agrees_by_its_set_of_ebs_and_disagrees_per_session(synced_mirror: URL) -> None:
    documented = table_of(OusStatusSession)
    with connect(synced_mirror) as connection:
        listed = dict(connection.execute(
            select(documented.c.position, documented.c.eb_uids).where(documented.c.mous_uid == SEED)
        ).all())
        thirteen = listed[13]
        assert len(thirteen) == 2
        moved = {13: list(reversed(thirteen)), 1: [*listed[1], thirteen[0]], 2: []}
        for position, eb_uids in moved.items():
            connection.execute(
                update(documented)
                .where(documented.c.mous_uid == SEED, documented.c.position == position)
                .values(eb_uids=eb_uids)
            )
        explanation = explain_mous(connection, SEED)
    assert explanation is not None
    agrees = {s["session_number"]: s["status_xml_agrees"] for s in explanation.sessions}
    # 13 in another order still agrees; 1 with an extra EB and 2 emptied do not; the rest are untouched.
    assert agrees == {number: number not in (1, 2) for number in range(1, 16)}

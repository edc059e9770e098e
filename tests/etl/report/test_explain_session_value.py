"""A session's PPR value is written once (etl.calibration.request.session_value): the PPR generator
writes it, explain shows it, and the mous_sessions view's session_value column is the same text."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import URL

from etl.calibration.request import session_value
from etl.demo.fixed_cases import FIXED_CASES
from etl.mirror.views import mous_sessions
from etl.report.explain import explain_mous
from ppr.query import restore_requests
from tests.helpers import connect

FOLLOWS_ARCHIVE = FIXED_CASES["record_disagrees"].mous_uid
SEED = "uid://A001/X129e/Xb6"


def test_the_views_session_value_is_the_ppr_value_of_its_pass_ebs(synced_mirror: URL) -> None:
    with connect(synced_mirror) as connection:
        rows = connection.execute(
            select(mous_sessions.c.pass_eb_uids, mous_sessions.c.session_value)
        ).all()
    assert any(not ebs for ebs, _ in rows)  # empty sessions are among them
    assert any(len(ebs) > 1 for ebs, _ in rows)
    assert [value for _, value in rows] == [session_value(ebs) for ebs, _ in rows]


def test_explain_shows_the_values_the_ppr_carries_even_where_it_follows_the_archive(
    synced_mirror: URL,
) -> None:
    with connect(synced_mirror) as connection:
        requests = restore_requests(connection, [SEED, FOLLOWS_ARCHIVE])
        shown = {}
        for mous_uid in (SEED, FOLLOWS_ARCHIVE):
            explanation = explain_mous(connection, mous_uid)
            assert explanation is not None
            shown[mous_uid] = explanation
    assert shown[FOLLOWS_ARCHIVE].status["calibration_record"] == "follows_archive"
    for mous_uid, explanation in shown.items():
        carried = {s.number: session_value(s.eb_uids) for s in requests[mous_uid].sessions}
        values = {s["session_number"]: s["session_value"] for s in explanation.sessions}
        assert {n: v for n, v in values.items() if v is not None} == carried, mous_uid
    # The archive's record places an EB otherwise than the rule: the PPR (and explain) follow it.
    rule = {s["session_number"]: s["pass_eb_uids"] for s in shown[FOLLOWS_ARCHIVE].sessions}
    followed = {s["session_number"]: s["session_value"] for s in shown[FOLLOWS_ARCHIVE].sessions}
    assert {n: session_value(ebs or ()) for n, ebs in rule.items()} != followed

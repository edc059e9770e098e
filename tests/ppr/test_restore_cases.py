"""Cases the real pipeline showed, through the session's real sync (against the stand-in NGAS) and
``ppr --build``: the PPR of a MOUS of two scheduling blocks."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select, text
from sqlalchemy.engine import URL

from etl.cli import main
from etl.demo.fixed_cases import FIXED_CASES
from etl.mirror import CalibrationRecord, MousStatus, table_of
from tests.conftest import cli_environment
from tests.helpers import connect, rows

status = table_of(MousStatus)
records = table_of(CalibrationRecord)


def source_blocks(source: URL, mous_uid: str) -> dict[str, int]:
    """SB UID → its QA0 Pass EBs, from the demo source."""
    with connect(source) as connection:
        return dict(connection.execute(text(
            "SELECT s.archive_uid, count(e.execblockuid) FILTER (WHERE e.qa0status = 'Pass') "
            "FROM alma.bmmv_schedblock s LEFT JOIN alma.aqua_execblock e ON e.schedblockuid = s.archive_uid "
            "WHERE s.mous_status_uid = :mous GROUP BY s.archive_uid"
        ), {"mous": mous_uid}).all())


def test_two_sbs_with_an_agreeing_record_give_one_ppr_with_every_eb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_source: URL, synced_mirror: URL, test_home: Path,
) -> None:
    case = FIXED_CASES["two_sbs_agreeing_record"]
    [record] = rows(synced_mirror, select(records).where(records.c.mous_uid == case.mous_uid))
    assert record["state"] == "agrees"
    blocks = source_blocks(demo_source, case.mous_uid)
    assert len(blocks) == 2
    named = record["request_sb_uid"]
    other = next(uid for uid in blocks if uid != named)
    assert blocks[named] < blocks[other]  # the archived PPR's SB wins over the one with most EBs
    cli_environment(monkeypatch, demo_source, synced_mirror, test_home)
    assert main(["-q", "ppr", case.mous_uid, "--build", str(tmp_path)]) == 0
    [ppr] = tmp_path.rglob("PPR_*.xml")
    root = etree.parse(str(ppr)).getroot()
    [identifier] = root.iterfind(".//SchedBlockSet/SchedBlockIdentifier")
    ebs = [e.text for e in identifier.iterfind("AsdmIdentifier/AsdmRef/ExecBlockId")]
    assert sorted(ebs) == sorted(uid for session in case.expected_sessions for uid in session)
    assert identifier.find("SchedBlockRef").get("entityId") == named  # type: ignore[union-attr]
    assert identifier.find("SBStatusRef").get("entityId") == record["request_sb_status_uid"]  # type: ignore[union-attr]


def test_two_sbs_without_a_record_are_refused_naming_both(
    demo_source: URL, synced_mirror: URL,
) -> None:
    case = FIXED_CASES["multiple_sbs"]
    [row] = rows(synced_mirror, select(status).where(status.c.mous_uid == case.mous_uid))
    assert row["reason_code"] == "multiple_sbs"
    for sb_uid in source_blocks(demo_source, case.mous_uid):
        assert sb_uid in row["reason"]


def test_an_archive_key_that_aqua_contradicts_is_what_the_ppr_follows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_source: URL, synced_mirror: URL, test_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = FIXED_CASES["record_disagrees"]
    first, moved = case.expected_sessions[0][0], case.expected_sessions[1][0]
    cli_environment(monkeypatch, demo_source, synced_mirror, test_home)
    assert main(["-q", "ppr", case.mous_uid, "--build", str(tmp_path)]) == 0
    [ppr] = tmp_path.rglob("PPR_*.xml")
    intents = {
        intent.findtext("Keyword"): intent.findtext("Value")
        for intent in etree.parse(str(ppr)).getroot().iterfind(".//ProcessingIntents/Intents")
    }
    # The calibration put SESSION_2's first EB in session_1: its caltables are that session's.
    assert intents["SESSION_1"] == f"{first} | {moved}"
    assert moved not in (intents["SESSION_2"] or "")
    capsys.readouterr()
    assert main(["explain", case.mous_uid]) == 0
    explained = capsys.readouterr().out
    assert "archive_key_differs" in explained
    assert "follows_archive" in explained

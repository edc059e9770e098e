"""A night that takes restorability away says so: in the sync summary, a report, and beside the spool.

The reports that go to a terminal run in a child on a pseudo-terminal (their width is the terminal's);
the others run in process.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import URL

from etl.demo.fixed_cases import FIXED_CASES
from etl.source.contract import CONTRACT, contract_table
from etl.sync.summary import summary_document, write_summary
from tests.etl.report.conftest import Almamirror, cli_runner
from tests.helpers import connect, sync
from tests.terminal import cli_env, run_in_terminal

execblocks = contract_table(CONTRACT, "aqua_execblock")


@pytest.fixture
def almamirror_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], test_home: Path
) -> Callable[[URL], Almamirror]:
    """``almamirror ARGS…`` in process against a given mirror."""
    monkeypatch.setenv("NO_COLOR", "1")
    return lambda mirror: cli_runner(mirror, monkeypatch, capsys, test_home)


def _fail_an_eb(source: URL) -> str:
    case = FIXED_CASES["seed_first"]
    with connect(source) as connection:
        connection.execute(
            update(execblocks).where(execblocks.c.execblockuid == case.expected_sessions[1][0])
            .values(qa0status="Fail")
        )
    return case.mous_uid


def test_the_sync_summary_and_the_report_name_what_was_lost_and_the_spool_request(
    source_copy: URL, synced_mirror: URL, test_home: Path, tmp_path: Path,
    almamirror_on: Callable[[URL], Almamirror],
) -> None:
    spool = tmp_path / "spool"
    env = cli_env(synced_mirror, test_home, source=source_copy, extra={"NO_COLOR": "1"})
    almamirror = almamirror_on(synced_mirror)
    built = almamirror("-q", "ppr", "--all-restorable", "--build", str(spool))
    assert built.status == 0, built.err
    mous_uid = _fail_an_eb(source_copy)

    summary = sync(source_copy, synced_mirror, test_home)
    assert [(lost.mous_uid, lost.reason_code) for lost in summary.no_longer_restorable] == [
        (mous_uid, "session_mismatch")
    ]
    text = io.StringIO()
    write_summary(summary, "table", text, with_tables=False)
    assert "no longer restorable after this run: 1" in text.getvalue()
    assert f"  {mous_uid}  session_mismatch: " in text.getvalue()
    assert summary_document(summary)["no_longer_restorable"][0]["mous_uid"] == mous_uid

    for columns in (80, 120):
        shown = run_in_terminal(
            ["report", "no-longer-restorable", "--spool", str(spool)], env, columns=columns
        )
        assert shown.status == 0, shown.stderr
        assert mous_uid in shown.terminal
        words = " ".join(shown.terminal.split())
        assert f"1 MOUS no longer restorable after run {summary.run_id}" in words
        # A long path may be wrapped anywhere (after a '-' too): compare it without white space.
        expected = f"1 of them with a request in {spool} (do not run it)"
        assert "".join(expected.split()) in "".join(words.split())
        assert all(len(line) <= columns for line in shown.terminal.splitlines()), shown.terminal
    as_json = almamirror("report", "newly-restorable", "--lost", "--spool", str(spool), "--format", "json")
    assert as_json.status == 0, as_json.err
    [row] = json.loads(as_json.out)
    assert row["mous_uid"] == mous_uid
    assert row["reason_code"] == "session_mismatch"
    assert row["spool_request"].startswith(str(spool))


def test_a_quiet_night_loses_nothing(
    source_copy: URL, synced_mirror: URL, test_home: Path, almamirror_on: Callable[[URL], Almamirror]
) -> None:
    summary = sync(source_copy, synced_mirror, test_home)
    assert summary.no_longer_restorable == []
    shown = almamirror_on(synced_mirror)("report", "no-longer-restorable", "--format", "csv")
    assert shown.status == 0, shown.err
    assert shown.out.splitlines() == [
        "mous_uid,project_code,run_id,lost_at,reason_code,reason,spool_request"
    ]


def test_the_status_page_lists_what_the_last_sync_took_away(
    source_copy: URL, synced_mirror: URL, test_home: Path, tmp_path: Path,
    almamirror_on: Callable[[URL], Almamirror],
) -> None:
    almamirror = almamirror_on(synced_mirror)
    before = almamirror("report", "html", str(tmp_path / "before"))
    assert before.status == 0, before.err
    assert "No MOUS lost restorability in the last sync." in (tmp_path / "before" / "index.html").read_text()
    mous_uid = _fail_an_eb(source_copy)
    sync(source_copy, synced_mirror, test_home)
    after = almamirror("report", "html", str(tmp_path / "after"))
    assert after.status == 0, after.err
    page = (tmp_path / "after" / "index.html").read_text()
    assert "1 MOUS no longer restorable after the last sync" in page
    assert f"<code>{mous_uid}</code>" in page
    assert "<code>session_mismatch</code>" in page

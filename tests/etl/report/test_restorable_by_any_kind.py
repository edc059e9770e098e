"""Restorable means a restore kind other than none: a hand-calibrated MOUS (kind scriptforpi) that a night
makes restorable is newly restorable, and the nightly spool builds its delivery tree; a night that takes it
away says so. ``--ppr-only`` keeps the view of a site that runs only restore PPRs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import URL

from etl.demo.fixed_cases import FIXED_CASES
from etl.demo.model import PASS
from etl.mirror import MousStatus, table_of
from etl.source.contract import CONTRACT, contract_table
from tests.etl.report.conftest import Almamirror, cli_runner
from tests.helpers import connect, rows, sync

execblocks = contract_table(CONTRACT, "aqua_execblock")
status = table_of(MousStatus)
MANUAL = FIXED_CASES["manual_calibration"]


def _set_qa0(source: URL, qa0: str) -> None:
    """Every Pass EB of the hand-calibrated MOUS to ``qa0``."""
    ebs = [uid for session in MANUAL.expected_sessions for uid in session]
    with connect(source) as connection:
        connection.execute(update(execblocks).where(execblocks.c.execblockuid.in_(ebs)).values(qa0status=qa0))


def _json(almamirror: Almamirror, *command: str) -> list[dict[str, object]]:
    shown = almamirror(*command, "--format", "json")
    assert shown.status == 0, shown.err
    parsed: list[dict[str, object]] = json.loads(shown.out)
    return parsed


def test_a_hand_calibrated_mous_is_gained_lost_and_spooled_by_its_restore_kind(
    source_copy: URL, synced_mirror: URL, test_home: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    # The reports run in process: what is checked is what they say, not how a terminal shows it.
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("PAGER", "cat")
    almamirror = cli_runner(synced_mirror, monkeypatch, capsys, test_home)
    [before] = rows(synced_mirror, select(status.c.restore_kind, status.c.restorable_since)
                    .where(status.c.mous_uid == MANUAL.mous_uid))
    assert before["restore_kind"] == "scriptforpi"
    assert before["restorable_since"] is not None

    # A night fails its EBs: it has no restore kind any more, and the reports say it was lost.
    _set_qa0(source_copy, "Fail")
    lost = sync(source_copy, synced_mirror, test_home)
    assert [entry.mous_uid for entry in lost.no_longer_restorable] == [MANUAL.mous_uid]
    assert "has QA0 Pass" in lost.no_longer_restorable[0].reason
    [row] = _json(almamirror, "report", "no-longer-restorable")
    assert (row["mous_uid"], row["reason_code"]) == (MANUAL.mous_uid, "manual_calibration")
    assert _json(almamirror, "report", "no-longer-restorable", "--ppr-only") == []
    [after] = rows(synced_mirror, select(status.c.restore_kind, status.c.restorable_since)
                   .where(status.c.mous_uid == MANUAL.mous_uid))
    assert (after["restore_kind"], after["restorable_since"]) == ("none", None)

    # The next night passes them again: newly restorable, by scriptForPI.py, not by a PPR.
    _set_qa0(source_copy, PASS)
    gained = sync(source_copy, synced_mirror, test_home)
    assert gained.newly_restorable == [MANUAL.mous_uid]
    assert gained.no_longer_restorable == []
    [row] = _json(almamirror, "report", "newly-restorable")
    assert (row["mous_uid"], row["restore_kind"]) == (MANUAL.mous_uid, "scriptforpi")
    assert _json(almamirror, "report", "newly-restorable", "--ppr-only") == []
    recent = _json(almamirror, "report", "newly-restorable", "--since", "1d")
    since = {row["mous_uid"]: row["restore_kind"] for row in recent}
    assert since[MANUAL.mous_uid] == "scriptforpi"
    by_ppr = _json(almamirror, "report", "newly-restorable", "--since", "1d", "--ppr-only")
    assert {row["restore_kind"] for row in by_ppr} == {"pipeline_ppr"}
    assert len(by_ppr) == sum(1 for kind in since.values() if kind == "pipeline_ppr")

    # The spool's selection: a PPR-only site builds nothing; otherwise its delivery tree.
    ppr_only = almamirror(
        "ppr", "--all-restorable", "--newly-restorable", "--ppr-only", "--build", str(tmp_path / "ppr"),
        "--format", "json",
    )
    assert ppr_only.status == 0, ppr_only.err
    assert json.loads(ppr_only.out)["written"] == []
    spool = tmp_path / "spool"
    built = almamirror(
        "ppr", "--all-restorable", "--newly-restorable", "--build", str(spool), "--format", "json"
    )
    assert built.status == 0, built.err
    [directory] = [Path(path) for path in json.loads(built.out)["written"]]
    assert json.loads((directory / "restore.json").read_text())["kind"] == "scriptforpi"
    assert {path.name for path in directory.iterdir() if path.is_dir()} >= {"raw", "script", "calibration"}

    # Lost again with its request in the spool: the report and the next spool run name the request.
    _set_qa0(source_copy, "Fail")
    sync(source_copy, synced_mirror, test_home)
    [row] = _json(almamirror, "report", "no-longer-restorable", "--spool", str(spool))
    assert row["spool_request"] == str(directory)
    again = almamirror("ppr", "--all-restorable", "--pending", "--build", str(spool), "--format", "json")
    assert again.status == 0, again.err
    assert json.loads(again.out)["no_longer_restorable"] == {MANUAL.mous_uid: str(directory)}

"""``almamirror explain MOUS_UID``: one MOUS on one screen, on the hand-built archive and the demo mirror."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.etl.report.archive import EXTRA_STEPS, MANUAL, MISMATCH, OK, OK_EBS, caltables_name
from tests.etl.report.conftest import Almamirror, ArchiveMirror, cli_runner
from tests.terminal import cli_env, run_in_terminal

SEED = "uid://A001/X129e/Xb6"
SESSION_MISMATCH = "uid://A001/X1b19/X27"
DUPLICATE_SHIFTLOG = "uid://A001/X1b05/X26"


@pytest.fixture
def archive(shared_archive: ArchiveMirror) -> ArchiveMirror:
    """The module's shared archive: explain only reads it."""
    return shared_archive


@pytest.fixture
def synced_mirror(shared_synced_mirror: URL) -> URL:
    """This module's tests only read the synced mirror (reports, explain): they share one copy."""
    return shared_synced_mirror


def explained(almamirror: Almamirror, uid: str) -> dict[str, Any]:
    outcome = almamirror("explain", uid, "--format", "json")
    assert outcome.status == 0, outcome.err
    document = outcome.json()
    assert isinstance(document, dict)
    return document


@pytest.fixture
def demo(
    synced_mirror: URL, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], test_home: Path
) -> Almamirror:
    return cli_runner(synced_mirror, monkeypatch, capsys, test_home)


def test_the_changes_findings_sessions_and_verdict_of_a_mous(almamirror: Almamirror) -> None:
    document = explained(almamirror, OK)
    status = document["status"]
    assert (status["mous_uid"], status["restorable"], status["reason"]) == (OK, True, None)
    assert status["restorable_since"] is not None
    assert status["restorable_since_run_id"] == 1
    # Newest first: the caltables of session 3 arrived after EB 2's QA0 turned Pass, both in run 2.
    assert [(c["table_name"], c["kind"]) for c in document["changes"]] == [
        ("product_file", "insert"), ("execution_block", "update"),
    ]
    assert [(f["kind"], f["subject"]) for f in document["findings"]] == [("eb_null_end_time", OK_EBS[2])]
    sessions = {s["session_number"]: s for s in document["sessions"]}
    assert sorted(sessions) == [1, 2, 3]
    assert sessions[1]["session_value"] == f"{OK_EBS[0]} | {OK_EBS[1]}"
    assert sessions[2]["is_empty"] is True
    assert sessions[2]["session_value"] == ""
    assert [s["caltables_file"] for s in document["sessions"]] == [
        caltables_name(OK, 1), None, caltables_name(OK, 3),
    ]
    assert [c["file_name"] for c in document["caltables"]] == [caltables_name(OK, 1), caltables_name(OK, 3)]

    text = almamirror("explain", OK)
    assert text.status == 0, text.err
    assert text.out.startswith(f"MOUS {OK} of 2017.1.00001.S (cycle 2017.1, PI Ada Lovelace): restorable\n")
    assert "  restorable since " in text.out
    assert "qa0_status Pending→Pass" in text.out
    assert "eb_null_end_time" in text.out
    assert "(empty)" in text.out  # session 2, whose one EB failed QA0
    assert "session_3.caltables.tgz" in text.out
    record = "  archive's record of the calibration: agrees; CASA 6.5.4-9, pipeline 2023.1.0.124, MPI CASA"
    assert f"{record} (8 servers)\n" in text.out
    assert (status["calibration_record"], status["mpi_servers"]) == ("agrees", 8)


def test_a_mous_without_a_record_says_it_was_not_verified(almamirror: Almamirror) -> None:
    text = almamirror("explain", MISMATCH)
    assert text.status == 0, text.err
    assert "  archive's record of the calibration: absent (not verified: " in text.out


def test_a_mous_that_cannot_be_restored_says_why(almamirror: Almamirror) -> None:
    text = almamirror("explain", MISMATCH)
    assert text.status == 0, text.err
    first, why = text.out.split("\n")[:2]
    assert first.endswith(": NOT restorable (session_mismatch)")
    assert why == "  why: because session_mismatch"
    assert "(no change since the baseline sync)" in text.out


def test_the_tree_timeline_and_sessions_of_the_seed_mous(demo: Almamirror) -> None:
    document = explained(demo, SEED)
    tree = document["tree"]
    assert [node["level"] for node in tree] == ["project", "SOUS", "GOUS", "MOUS"]
    assert [node["ous_uid"] for node in tree] == [
        "uid://A001/X129e/Xb3", "uid://A001/X129e/Xb4", "uid://A001/X129e/Xb5", SEED,
    ]
    assert document["project"]["code"] == "2017.1.00895.S"
    assert [sb["array_family"] for sb in document["scheduling_blocks"]] == ["12m"]
    ebs = document["execution_blocks"]
    assert len(ebs) == 16
    assert [eb["start_time"] for eb in ebs] == sorted(eb["start_time"] for eb in ebs)
    assert {eb["qa0_status"] for eb in ebs} == {"Pass"}
    # The session rule's numbers follow the timeline: session 13 holds two EBs.
    assert [eb["session_number"] for eb in ebs] == [*range(1, 14), 13, 14, 15]
    sessions = document["sessions"]
    assert [s["session_number"] for s in sessions] == list(range(1, 16))
    assert all(s["status_xml_agrees"] is True for s in sessions)
    assert all(
        s["caltables_file"].endswith(f".session_{s['session_number']}.caltables.tgz") for s in sessions
    )
    assert document["status_document"] == {"state": "parsed", "problem": None, "session_count": 15}


def test_sessions_beside_the_caltables_of_a_mismatch(demo: Almamirror) -> None:
    document = explained(demo, SESSION_MISMATCH)
    assert document["status"]["reason_code"] == "session_mismatch"
    by_number = {s["session_number"]: s for s in document["sessions"]}
    assert [by_number[n]["is_empty"] for n in (1, 2, 3)] == [True, False, False]
    assert [by_number[n]["caltables_file"] is not None for n in (1, 2, 3)] == [True, True, False]
    text = demo("explain", SESSION_MISMATCH).out
    assert "why: session mismatch: the session rule puts Pass EBs in sessions {2,3}" in text
    assert "do NOT match the sessions with Pass EBs" in text


def test_open_findings_of_a_demo_mous(demo: Almamirror) -> None:
    document = explained(demo, DUPLICATE_SHIFTLOG)
    assert "duplicate_shiftlog" in {finding["kind"] for finding in document["findings"]}


def test_the_disk_form_of_a_uid_is_accepted(demo: Almamirror) -> None:
    document = explained(demo, "member.uid___A001_X129e_Xb6")
    assert document["mous_uid"] == SEED


@pytest.mark.parametrize(
    ("uid", "status", "words"),
    [
        ("uid://A001/X129E/XB6", 2, "is not a MOUS UID; expected uid://A001/X129e/Xb6 or"),
        ("not-a-uid", 2, "is not a MOUS UID"),
        ("uid://A001/Xffff/X1", 1, "MOUS uid://A001/Xffff/X1 is not in the mirror"),
        ("uid://A001/X129e/Xb5", 1, "uid://A001/X129e/Xb5 is a group (GOUS) OUS"),
    ],
)
def test_a_bad_or_unknown_uid_is_one_line(demo: Almamirror, uid: str, status: int, words: str) -> None:
    outcome = demo("explain", uid)
    assert outcome.status == status
    assert outcome.out == ""
    assert outcome.err.count("\n") == 1
    assert words in outcome.err


def test_on_a_terminal_explain_fits_the_width(synced_mirror: URL, test_home: Path) -> None:
    env = cli_env(synced_mirror, test_home, extra={"NO_COLOR": "1", "PAGER": ""})
    outcome = run_in_terminal(["explain", SESSION_MISMATCH], env, columns=90, lines=200)
    assert outcome.status == 0, outcome.stderr
    lines = outcome.terminal.rstrip("\n").split("\n")
    assert max(len(line) for line in lines) <= 90
    assert re.search(r"why: session mismatch: the session rule puts Pass EBs in sessions", outcome.terminal)
    assert "eb_uid" in outcome.terminal


def test_explain_says_how_the_mous_restores_and_with_which_casa(
    almamirror: Almamirror, tmp_path: Path
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        '[restore.casa]\n"6.5.4.9" = { path = "/opt/casa-6.5.4-9", pipeline = true, mpi = true }\n'
    )
    text = almamirror("--config", str(site), "explain", EXTRA_STEPS).out
    assert text.splitlines()[0].endswith(
        ": restorable by pipeline_script, not by a restore PPR (restore_needs_extra_steps)"
    )
    assert (
        "restore: pipeline_script (the archived restore script (it has steps a PPR cannot carry)); "
        "CASA 5.6.1-8 or newer, with the pipeline: CASA 6.5.4.9 (newer)"
    ) in text
    ok = explained(almamirror, OK)["status"]
    assert (ok["restore_kind"], ok["casa_needed"], ok["casa_to_install"]) == (
        "pipeline_ppr", "6.5.4-9 or newer, with the pipeline", "6.5.4-9 with the pipeline"
    )
    manual = explained(almamirror, MANUAL)["status"]
    assert (manual["restore_kind"], manual["restore_reason"]) == (
        "none", "hand-calibrated, but no scriptForPI.py is archived to restore it with"
    )

"""``ppr --all-restorable --build DIR --submit TEMPLATE``: a real submit command, once per new request."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from etl.cli import main
from ppr.submit import check_template, job_id
from tests.conftest import cli_environment

# A stand-in for sbatch: answers as sbatch does, with a new job id per call, and notes its arguments.
FAKE_SBATCH = """#!{python}
import os, sys
calls = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sbatch-calls.txt")
with open(calls, "a") as handle:
    handle.write(" ".join(sys.argv[1:]) + "\\n")
with open(calls) as handle:
    number = len(handle.readlines())
print("Submitted batch job", 4000 + number)
"""


@pytest.fixture(scope="module")
def mirror(databases: Any, synced_template: str) -> URL:
    return databases.create("ppr_submit", template=synced_template)


@pytest.fixture
def cli(mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_environment(monkeypatch, None, mirror, test_home)


def fake_sbatch(directory: Path) -> Path:
    directory.mkdir()
    path = directory / "sbatch"
    path.write_text(FAKE_SBATCH.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_submit_runs_the_command_once_per_new_request_and_keeps_the_job_id(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sbatch = fake_sbatch(tmp_path / "bin")
    spool = tmp_path / "spool"
    template = f"{sbatch} --job-name=restore {{dir}}/run-restore.sh"
    arguments = ["ppr", "--all-restorable", "--build", str(spool), "--submit", template, "--format", "json"]
    assert main(arguments) == 0
    summary = json.loads(capsys.readouterr().out.split("\nppr --submit")[0])
    written = [Path(path) for path in summary["written"]]
    assert written
    calls = (tmp_path / "bin" / "sbatch-calls.txt").read_text().splitlines()
    assert sorted(calls) == sorted(f"--job-name=restore {path.absolute()}/run-restore.sh" for path in written)
    ids = set()
    for path in written:
        submitted = json.loads((path / "restore.json").read_text())["submitted"]
        assert submitted["exit_status"] == 0
        assert submitted["output"].startswith("Submitted batch job ")
        assert submitted["job_id"] == submitted["output"].split()[-1]
        ids.add(submitted["job_id"])
    assert len(ids) == len(written)
    # A second run builds nothing new, so submits nothing again.
    assert main(arguments) == 0
    assert len((tmp_path / "bin" / "sbatch-calls.txt").read_text().splitlines()) == len(written)


def test_a_failing_submit_command_is_exit_1_and_recorded(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "ppr", "--all-restorable", "--build", str(tmp_path), "--submit", "false {dir}"]) == 1
    (first, *_) = list(tmp_path.rglob("restore.json"))
    submitted = json.loads(first.read_text())["submitted"]
    assert (submitted["exit_status"], submitted["job_id"]) == (1, None)


def test_a_template_without_the_directory_is_a_usage_error(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ppr", "--all-restorable", "--build", str(tmp_path), "--submit", "sbatch run.sh"]) == 2
    assert "never names the request directory as {dir}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("output", "expected"), [
    ("Submitted batch job 4242", "4242"),
    ("Submitting job(s).\n1 job(s) submitted to cluster 4242.", "4242"),
    ("queued", None),
])
def test_job_id(output: str, expected: str | None) -> None:
    assert job_id(output) == expected


def test_check_template() -> None:
    check_template("condor_submit restore.sub -append 'initialdir = {dir}'")
    with pytest.raises(ValueError, match="does not split"):
        check_template("sbatch '{dir}")

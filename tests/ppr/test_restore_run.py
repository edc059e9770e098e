"""run-restore.sh run for real: a fake CASA records its arguments, working directory and environment."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from etl.restore.settings import CasaInstallation
from etl.settings import PprSettings
from ppr.build import build_ppr, default_relative_path, serialize_ppr
from ppr.layout import build_request_directory
from ppr.model import ArchivedRecord, RestoreRequest
from tests.ppr.examples import MOUS_DISK, seed_request
from tests.ppr.test_layout import CREATED

FAKE_CASA = """#!{python}
import json, os, sys
record = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls.jsonl")
with open(record, "a") as handle:
    handle.write(json.dumps({{
        "program": os.path.basename(sys.argv[0]), "argv": sys.argv[1:], "cwd": os.getcwd(),
        "scipipe_rootdir": os.environ.get("SCIPIPE_ROOTDIR"), "stdin_is_terminal": sys.stdin.isatty(),
    }}) + "\\n")
if os.path.basename(sys.argv[0]) == "mpicasa":
    os.execv(sys.argv[3], sys.argv[3:])
sys.exit(int(os.environ.get("FAKE_CASA_STATUS", "0")))
"""


def record(casa: str = "6.5.4-9", mpi: int = 0) -> ArchivedRecord:
    return ArchivedRecord(
        state="agrees", restore_task="hifa_restoredata", ocorr_mode="ca", hm_rasterscan=None,
        casa_version=casa, pipeline_version="2023.1.0.124", mpi_servers=mpi,
        manifest_file=f"member.{MOUS_DISK}.hifa_calimage.pipeline_manifest.xml", restore_script_file=None,
        request_file=None, manifest_state="parsed",
    )


def install_fake_casa(root: Path, version: str) -> Path:
    home = root / f"casa-{version}"
    (home / "bin").mkdir(parents=True)
    for program in ("casa", "mpicasa"):
        path = home / "bin" / program
        path.write_text(FAKE_CASA.format(python=sys.executable))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return home


def build(base: Path, site: PprSettings, request: RestoreRequest, casa: tuple[CasaInstallation, ...]) -> Path:
    relative_path = default_relative_path(request, CREATED)
    ppr = serialize_ppr(build_ppr(request, site, relative_path, CREATED))
    return build_request_directory(base, relative_path, ppr, request, casa=casa)


def run(directory: Path, cwd: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    """As a batch system runs it: another working directory, no terminal, a bare environment."""
    return subprocess.run(
        [str(directory / "run-restore.sh")], cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
        text=True, env={"PATH": "/usr/bin:/bin", **environment}, check=False, timeout=60,
    )


def calls(home: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (home / "bin" / "calls.jsonl").read_text().splitlines()]


def test_run_restore_runs_executeppr_in_working_with_the_chosen_casa(
    tmp_path: Path, site: PprSettings
) -> None:
    home = install_fake_casa(tmp_path, "6.5.4-9")
    casa = (CasaInstallation("6.5.4.9", home, pipeline=True),)
    base = tmp_path / "spool"
    directory = build(base, site, seed_request(record=record()), casa)
    assert os.access(directory / "run-restore.sh", os.X_OK)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    finished = run(directory, elsewhere)

    assert finished.returncode == 0, finished.stderr
    (call,) = calls(home)
    assert call["program"] == "casa"
    assert call["cwd"] == str(directory / "working")
    assert call["scipipe_rootdir"] == str(base)
    assert call["stdin_is_terminal"] is False
    ppr = f"PPR_{MOUS_DISK}.xml"
    assert call["argv"][:4] == ["--nogui", "--nologger", "--pipeline", "--logfile"]
    assert call["argv"][-2:] == [
        "-c", f"import pipeline.infrastructure.executeppr as eppr; eppr.executeppr('{ppr}', importonly=False)"
    ]
    result = json.loads((directory / "restore-result.json").read_text())
    assert result["exit_status"] == 0
    assert result["casa_log"] == call["argv"][4]
    assert result["casa_log"].startswith(str(directory / "working" / "casa-restore-"))
    assert result["started_utc"] <= result["ended_utc"]
    assert result["refused"] == ""
    described = json.loads((directory / "restore.json").read_text())
    assert described["kind"] == "pipeline_ppr"
    assert described["casa"]["chosen"]["version"] == "6.5.4.9"
    assert described["casa"]["chosen"]["how"] == "exact"
    assert described["inputs"]["ppr"] == f"working/{ppr}"
    assert described["scipipe_rootdir"] == str(base)


def test_casas_exit_status_is_the_scripts_and_the_results(tmp_path: Path, site: PprSettings) -> None:
    home = install_fake_casa(tmp_path, "6.6.1-17")
    directory = build(tmp_path, site, seed_request(record=record()),
                      (CasaInstallation("6.6.1-17", home, pipeline=True),))
    finished = run(directory, tmp_path, FAKE_CASA_STATUS="3")
    assert finished.returncode == 3
    assert json.loads((directory / "restore-result.json").read_text())["exit_status"] == 3
    described = json.loads((directory / "restore.json").read_text())
    chosen = described["casa"]["chosen"]
    assert (chosen["version"], chosen["how"]) == ("6.6.1-17", "newer")


def test_an_mpi_calibration_runs_mpicasa_with_its_servers(tmp_path: Path, site: PprSettings) -> None:
    home = install_fake_casa(tmp_path, "6.5.4-9")
    directory = build(tmp_path, site, seed_request(record=record(mpi=4)),
                      (CasaInstallation("6.5.4-9", home, pipeline=True, mpi=True),))
    finished = run(directory, tmp_path)
    assert finished.returncode == 0, finished.stderr
    mpicasa, casa = calls(home)
    assert mpicasa["program"] == "mpicasa"
    assert mpicasa["argv"][:3] == ["-n", "5", str(home / "bin" / "casa")]
    assert casa["cwd"] == str(directory / "working")


@pytest.mark.parametrize("declared", [False, True])
def test_a_missing_casa_is_refused_at_once_in_one_line(
    tmp_path: Path, site: PprSettings, declared: bool
) -> None:
    # Declared but not there (removed since), or not declared at all.
    casa = (CasaInstallation("6.5.4-9", tmp_path / "gone", pipeline=True),) if declared else ()
    directory = build(tmp_path, site, seed_request(record=record()), casa)
    finished = run(directory, tmp_path)
    assert finished.returncode == 127
    assert finished.stdout == ""
    assert len(finished.stderr.splitlines()) == 1
    assert "6.5.4-9" in finished.stderr
    result = json.loads((directory / "restore-result.json").read_text())
    assert (result["exit_status"], result["refused"]) == (127, finished.stderr.strip().removeprefix(
        "run-restore.sh: "
    ))
    if not declared:
        described = json.loads((directory / "restore.json").read_text())
        assert described["casa"]["to_install"] == "6.5.4-9 with the pipeline"

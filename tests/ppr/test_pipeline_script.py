"""Kind pipeline_script through a real sync and the CLI: the PPR layout plus the archived restore script,
which run-restore.sh runs instead of the PPR."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from etl.cli import main
from etl.demo.fixed_cases import FIXED_CASES
from tests.conftest import cli_environment
from tests.ppr.test_restore_run import calls, install_fake_casa

EXTRA_STEPS = FIXED_CASES["restore_extra_steps"].mous_uid


@pytest.fixture(scope="module")
def mirror(databases: Any, synced_template: str) -> URL:
    return databases.create("ppr_pipeline_script", template=synced_template)


@pytest.fixture
def cli(mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_environment(monkeypatch, None, mirror, test_home)


def test_its_directory_carries_the_archived_script_and_runs_it(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = install_fake_casa(tmp_path, "6.6.1-17")
    site = tmp_path / "site.toml"
    site.write_text(f'[restore.casa]\n"6.6.1-17" = {{ path = "{home}", pipeline = true }}\n')
    spool = tmp_path / "spool"
    assert main(["-q", "--config", str(site), "ppr", EXTRA_STEPS, "--build", str(spool)]) == 0
    (directory,) = [path.parent for path in spool.rglob("restore.json")]
    described = json.loads((directory / "restore.json").read_text())
    assert described["kind"] == "pipeline_script"
    script = described["inputs"]["script"]
    assert script.startswith("working/")
    assert script.endswith(".casa_piperestorescript.py")
    text = (directory / script).read_text()
    assert "fixsyscaltimes(" in text
    assert "_restoredata" in text
    finished = subprocess.run([str(directory / "run-restore.sh")], cwd=tmp_path, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, check=False)
    assert finished.returncode == 0, finished.stderr
    (call,) = calls(home)
    assert call["cwd"] == str(directory / "working")
    assert call["argv"][-2:] == ["-c", script.removeprefix("working/")]
    # The PPR alone would restore it without the script's steps: -o and stdout still refuse it.
    assert main(["-q", "ppr", EXTRA_STEPS, "-o", str(tmp_path / "x.xml")]) == 1
    assert "restore_needs_extra_steps" in capsys.readouterr().err


def test_all_restorable_builds_it_too(cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "ppr", "--all-restorable", "--build", str(tmp_path), "--format", "json"]) == 0
    kinds = {
        json.loads(path.read_text())["mous_uid"]: json.loads(path.read_text())["kind"]
        for path in tmp_path.rglob("restore.json")
    }
    assert kinds[EXTRA_STEPS] == "pipeline_script"
    assert kinds[FIXED_CASES["seed_example"].mous_uid] == "pipeline_ppr"
    assert kinds[FIXED_CASES["manual_calibration"].mous_uid] == "scriptforpi"

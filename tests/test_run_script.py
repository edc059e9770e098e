"""``./run``: the developer tools only for ``./run test``, and pip's chatter (setuptools' editable
banner) only when installing fails. The script runs against a stand-in virtualenv whose python
records how it was called: what ./run asks pip for is what is checked."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RECORDING_PYTHON = """#!/bin/sh
echo "$@" >> "{record}"
case "$*" in
    *"pip install"*"broken"*) echo "ERROR: no such distribution" >&2; exit 1 ;;
    *"pip install"*) echo "BuildBackendWarning: Editable installation." >&2 ;;
esac
exit 0
"""


def checkout(tmp_path: Path) -> tuple[Path, Path]:
    here = tmp_path / "checkout"
    here.mkdir()
    shutil.copy(ROOT / "run", here / "run")
    (here / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    bin_dir = here / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    record = tmp_path / "calls.txt"
    for name in ("python", "almamirror", "ruff", "mypy"):
        tool = bin_dir / name
        tool.write_text(RECORDING_PYTHON.format(record=record).replace('echo "$@"', f'echo "{name} $@"'))
        tool.chmod(0o755)
    return here, record


def run(here: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(here / "run"), *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_the_demo_installs_no_developer_tools_and_prints_no_banner(tmp_path: Path) -> None:
    here, record = checkout(tmp_path)
    done = run(here, "demo")
    assert done.returncode == 0, done.stderr
    calls = record.read_text().splitlines()
    installs = [call for call in calls if "pip install" in call]
    assert installs[-1].endswith(f"-e {here}")
    assert "[dev]" not in "".join(installs)
    assert "Editable installation" not in done.stderr
    assert calls[-1] == "almamirror demo"
    # Installed once: the next call goes straight to the command.
    record.write_text("")
    run(here, "--version")
    assert record.read_text().splitlines() == ["almamirror --version"]


def test_run_test_installs_the_developer_tools_once(tmp_path: Path) -> None:
    here, record = checkout(tmp_path)
    assert run(here, "demo").returncode == 0
    record.write_text("")
    done = run(here, "test", "-x")
    assert done.returncode == 0, done.stderr
    calls = record.read_text().splitlines()
    assert any(call.endswith(f"-e {here}[dev]") for call in calls)
    assert "python -m pytest --numprocesses auto --dist loadgroup -x" in calls
    record.write_text("")
    run(here, "test")
    assert not any("pip install" in call for call in record.read_text().splitlines())


def test_a_failing_install_shows_pips_words(tmp_path: Path) -> None:
    here, _record = checkout(tmp_path)
    broken = here.parent / "broken"
    here.rename(broken)
    done = run(broken, "demo")
    assert done.returncode == 1
    assert "ERROR: no such distribution" in done.stderr
    assert "run: installing failed" in done.stderr

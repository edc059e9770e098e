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


def failing(here: Path, name: str, status: int, says: str) -> None:
    """Make the stand-in tool ``name`` say ``says`` and exit with ``status``."""
    tool = here / ".venv" / "bin" / name
    tool.write_text(f'#!/bin/sh\necho "{says}"\nexit {status}\n')
    tool.chmod(0o755)


def test_run_test_fails_when_mypy_fails_and_shows_its_report_after_the_suite(tmp_path: Path) -> None:
    here, record = checkout(tmp_path)
    failing(here, "mypy", 1, "x.py:1: error: typed wrong")
    done = run(here, "test")
    assert done.returncode == 1
    assert done.stdout.rstrip().endswith("x.py:1: error: typed wrong")
    calls = record.read_text().splitlines()
    assert "python -m pytest --numprocesses auto --dist loadgroup" in calls
    assert "ruff check etl ppr tests bench alembic setup.py" in calls


def test_a_failing_suite_is_the_runs_status_and_nothing_runs_after_it(tmp_path: Path) -> None:
    here, record = checkout(tmp_path)
    assert run(here, "test").returncode == 0  # the developer tools installed: pip is not asked again
    record.write_text("")
    failing(here, "python", 2, "1 failed")
    failing(here, "mypy", 0, "Success: no issues found")
    done = run(here, "test")
    assert done.returncode == 2
    assert "1 failed" in done.stdout
    assert "Success" not in done.stdout  # mypy's report is not shown for a failed suite
    assert "ruff" not in record.read_text()


def test_a_ruff_finding_fails_the_run_and_mypys_report_still_follows(tmp_path: Path) -> None:
    here, _record = checkout(tmp_path)
    failing(here, "ruff", 1, "E501 Line too long")
    failing(here, "mypy", 0, "Success: no issues found")
    done = run(here, "test")
    assert done.returncode == 1
    assert done.stdout.index("E501") < done.stdout.index("Success")

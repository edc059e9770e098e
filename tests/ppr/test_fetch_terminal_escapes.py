"""A fetch on a terminal shows the escape sequences of untrusted text, never runs them.

The ASDM exporter here fails with a message holding escape sequences (a window title, a colour, a bell):
the reason reaches the progress display, the log line of the failure, the summary table and its
"failed:" lines. Run on a pseudo-terminal at 80 and 120 columns against the stand-in NGAS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from etl.cli import main
from tests.etl.ngas.conftest import RunningStandIn
from tests.terminal import cli_env, run_in_terminal

SEED_MOUS = "uid://A001/X129e/Xb6"
# What a hostile or broken exporter might print: set the window title, blink, ring the bell.
INJECTED = "\x1b]0;owned\x07\x1b[5mboom\x1b[0m"


def _failing_exporter(tmp_path: Path) -> Path:
    script = tmp_path / "bad-exporter"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nsys.stderr.write({INJECTED!r})\nsys.exit(3)\n", "utf-8"
    )
    script.chmod(0o755)
    return script


def _built_request(tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """``ppr --build`` of the seed MOUS with the settings ``env`` gives the fetch, run in this process:
    the terminal this module is about is the fetch's."""
    for name in [name for name in os.environ if name.startswith("ALMAMIRROR_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("ALMAMIRROR_"):
            monkeypatch.setenv(name, value)
    spool = tmp_path / "spool"
    assert main(["-q", "ppr", SEED_MOUS, "--build", str(spool)]) == 0
    (manifest,) = spool.rglob("fetch-manifest.json")
    return manifest.parent


@pytest.mark.parametrize("columns", [80, 120])
def test_a_failing_exporters_escape_sequences_are_shown_not_run(
    tmp_path: Path, fetch_mirror: URL, test_home: Path, stand_in: RunningStandIn, columns: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(f"[archive]\nasdm_command = {json.dumps(f'{_failing_exporter(tmp_path)} {{eb_uid}}')}\n",
                    "utf-8")
    env = cli_env(fetch_mirror, test_home, extra={
        "NO_COLOR": "1", "ALMAMIRROR_NGAS_URL": stand_in.url, "ALMAMIRROR_CONFIG": str(site),
    })
    request = _built_request(tmp_path, env, monkeypatch)
    outcome = run_in_terminal(["fetch", str(request)], env, columns=columns, lines=24,
                              stderr_to_terminal=True, timeout=300)
    assert outcome.status == 1, outcome.terminal  # the ASDMs failed
    assert "\x1b]0;" not in outcome.terminal
    assert "\x07" not in outcome.terminal
    assert "\x1b[5m" not in outcome.terminal
    # Shown, escaped, where a person reads the reason: the summary's "failed:" lines at least.
    failed_lines = [line for line in outcome.terminal.splitlines() if line.lstrip().startswith("failed:")]
    assert failed_lines, outcome.terminal
    # The summary's sentences are broken between words on the terminal: read them as words.
    assert "\\u001b]0;owned\\u0007" in " ".join(outcome.terminal.split()), outcome.terminal


def test_the_fetch_summary_off_a_terminal_is_left_exact(
    tmp_path: Path, fetch_mirror: URL, test_home: Path, stand_in: RunningStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file or a pipe gets the reason as the exporter wrote it: escaping is for terminals only."""
    site = tmp_path / "site.toml"
    site.write_text(f"[archive]\nasdm_command = {json.dumps(f'{_failing_exporter(tmp_path)} {{eb_uid}}')}\n",
                    "utf-8")
    env = cli_env(fetch_mirror, test_home, extra={
        "ALMAMIRROR_NGAS_URL": stand_in.url, "ALMAMIRROR_CONFIG": str(site),
    })
    request = _built_request(tmp_path, env, monkeypatch)
    done = subprocess.run([sys.executable, "-m", "etl.cli", "fetch", str(request)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stderr
    assert "boom" in done.stdout
    assert "\x1b[5mboom" in done.stdout


@pytest.mark.parametrize("columns", [80, 120])
def test_the_dry_run_table_fits_and_names_only_options_fetch_has(
    tmp_path: Path, fetch_mirror: URL, test_home: Path, columns: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = cli_env(fetch_mirror, test_home, extra={"NO_COLOR": "1"})
    request = _built_request(tmp_path, env, monkeypatch)
    outcome = run_in_terminal(["fetch", "--dry-run", str(request)], env, columns=columns, lines=200)
    assert outcome.status == 0, outcome.terminal
    lines = outcome.terminal.split("\n")
    assert lines[0].split()[:2] == ["state", "kind"]
    assert lines[0].split()[-1] == "bytes"  # the size stays; the server gives way first
    assert all(len(line) <= columns for line in lines), outcome.terminal  # fitted, sentences broken
    assert "--wide" not in outcome.terminal  # fetch has no --wide (nor --columns)
    assert "--columns" not in outcome.terminal

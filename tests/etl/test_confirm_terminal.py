"""What a command says when it succeeded, on a terminal 80 or 120 columns wide: sentences break between
words, a path stays whole, and nothing from the archive steers the terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.terminal import cli_env, run_in_terminal


def _too_wide(text: str, columns: int) -> list[str]:
    """Lines written wider than the terminal that hold a space: a sentence the screen would cut."""
    return [line for line in text.split("\n") if len(line) >= columns and " " in line and "\x1b" not in line]


@pytest.mark.parametrize("columns", [80, 120])
def test_the_spool_summary_breaks_between_words(
    scratch: Path, synced_mirror: URL, test_home: Path, columns: int
) -> None:
    env = cli_env(synced_mirror, test_home, extra={"NO_COLOR": "1"})
    spool = scratch / "spool"
    run = run_in_terminal(["ppr", "--all-restorable", "--pending", "--build", str(spool)], env,
                          columns=columns, lines=200)
    assert run.status == 0, run.terminal
    assert "awaiting release" in run.terminal
    assert _too_wide(run.terminal, columns) == [], run.terminal
    # Off a terminal the same lines are exact, one per fact, for scripts and cron mail.
    again = subprocess.run(
        [sys.executable, "-m", "etl.cli", "ppr", "--all-restorable", "--pending", "--build", str(spool)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert again.returncode == 0, again.stderr
    awaiting = [line for line in again.stdout.splitlines() if "awaiting release" in line]
    assert len(awaiting) == 1
    assert awaiting[0].endswith("(built on the night their release date passes)")

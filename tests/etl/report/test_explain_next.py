"""``explain`` ends with what to do next and colours its verdict on a terminal (80 and 120 columns)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.terminal import cli_env, run_in_terminal

SEED = "uid://A001/X129e/Xb6"  # restorable and public in the demo
SESSION_MISMATCH = "uid://A001/X1b19/X27"


@pytest.fixture
def synced_mirror(shared_synced_mirror: URL) -> URL:
    """This module's tests only read the synced mirror (reports, explain): they share one copy."""
    return shared_synced_mirror


@pytest.mark.parametrize("columns", [80, 120])
def test_a_restorable_mous_says_how_to_build_its_request_in_green(
    synced_mirror: URL, test_home: Path, columns: int
) -> None:
    env = cli_env(synced_mirror, test_home, extra={"PAGER": ""})
    outcome = run_in_terminal(["explain", SEED], env, columns=columns, lines=300)
    assert outcome.status == 0, outcome.stderr
    assert "\x1b[32mrestorable\x1b[0m" in outcome.terminal
    paragraph = outcome.terminal.strip().split("\n\n")[-1]
    assert " ".join(paragraph.split()).startswith(f"next: almamirror ppr {SEED} --build DIR")
    assert all(len(line) <= columns for line in paragraph.splitlines())  # wrapped to the terminal


@pytest.mark.parametrize("columns", [80, 120])
def test_a_mous_that_is_not_restorable_is_red_and_says_where_to_look(
    synced_mirror: URL, test_home: Path, columns: int
) -> None:
    env = cli_env(synced_mirror, test_home, extra={"PAGER": ""})
    outcome = run_in_terminal(["explain", SESSION_MISMATCH], env, columns=columns, lines=300)
    assert outcome.status == 0, outcome.stderr
    assert "\x1b[1;31mNOT" in outcome.terminal
    words = " ".join(outcome.terminal.split())
    assert f"almamirror ppr {SESSION_MISMATCH} --check" in words
    assert f"almamirror report changes --mous {SESSION_MISMATCH}" in words


def test_no_colour_without_a_terminal_or_with_no_color(synced_mirror: URL, test_home: Path) -> None:
    env = cli_env(synced_mirror, test_home, extra={"PAGER": "", "NO_COLOR": "1"})
    outcome = run_in_terminal(["explain", SEED], env, columns=120, lines=300)
    assert "\x1b[" not in outcome.terminal
    assert f"next: almamirror ppr {SEED} --build DIR" in outcome.terminal

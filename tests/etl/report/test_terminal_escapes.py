"""Escape sequences in source data are shown escaped on a terminal and kept exact in CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from tests.conftest import DatabaseFactory
from tests.helpers import connect
from tests.terminal import cli_env, run_in_terminal

SEED_MOUS = "uid://A001/X129e/Xb6"
# Sets the window title, clears the screen, a C1 CSI, a right-to-left override, a lone carriage return.
HOSTILE = "Eve \x1b]0;owned\x07\x1b[2J\x9b31m\u202egnp.exe\rMallory"
SHOWN = "Eve \\u001b]0;owned\\u0007\\u001b[2J\\u009b31m\\u202egnp.exe\\u000dMallory"
STEERING = ("\x1b", "\x07", "\x9b", "\u202e", "\r")


@pytest.fixture(scope="module")
def hostile_mirror(databases: DatabaseFactory, synced_template: str) -> Iterator[URL]:
    """A synced mirror whose PI and SB names steer a terminal; made once, its tests only read it."""
    mirror = databases.create("hostile_names", template=synced_template)
    with connect(mirror) as connection:
        connection.execute(text("UPDATE proposal SET pi_name = :name"), {"name": HOSTILE})
        connection.execute(text("UPDATE scheduling_block SET name = :name"), {"name": HOSTILE})
    yield mirror
    databases.discard("hostile_names")


@pytest.fixture(scope="module")
def hostile_runs_mirror(databases: DatabaseFactory, synced_template: str) -> Iterator[URL]:
    """A synced mirror whose runs' host and error steer a terminal; made once, its tests only read it."""
    mirror = databases.create("hostile_runs", template=synced_template)
    with connect(mirror) as connection:
        connection.execute(text("UPDATE sync_run SET host = :host, error = :error"),
                           {"host": "vm\x1b]0;owned\x07", "error": "boom\x1b[2J"})
    yield mirror
    databases.discard("hostile_runs")


def test_the_escaped_form_is_json_s() -> None:
    from etl.controls import escape_controls

    assert escape_controls(HOSTILE) == SHOWN
    assert escape_controls("line\r\nnext\ttab") == "line\r\nnext\ttab"


@pytest.mark.parametrize(
    "args",
    [
        ["explain", SEED_MOUS, "--no-pager"],
        ["explain", SEED_MOUS],
        ["report", "restorable", "--project", "2017.1.00895.S", "--columns", "mous_uid,pi"],
        ["report", "restorable", "--project", "2017.1.00895.S", "--columns", "mous_uid,pi",
         "--format", "csv"],
    ],
)
def test_a_terminal_is_shown_control_characters_escaped(
    args: list[str], hostile_mirror: URL, test_home: Path
) -> None:
    env = cli_env(hostile_mirror, test_home, extra={"NO_COLOR": "1"})
    run = run_in_terminal(args, env, columns=200, lines=400)
    assert run.status == 0, run.stderr
    assert SHOWN in run.terminal
    # NO_COLOR: not one escape sequence, nor any other steering character, reaches the terminal.
    assert not [c for c in STEERING if c in run.terminal.replace("\r\n", "\n")], run.terminal


def test_colours_stay_but_the_source_s_sequences_do_not(hostile_mirror: URL, test_home: Path) -> None:
    run = run_in_terminal(["explain", SEED_MOUS], cli_env(hostile_mirror, test_home), columns=200, lines=400)
    assert run.status == 0, run.stderr
    assert "\x1b[1m" in run.terminal  # the tables' bold headers
    assert "\x1b]0;" not in run.terminal
    assert "\x1b[2J" not in run.terminal
    assert SHOWN in run.terminal


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_csv_and_json_off_a_terminal_are_exact(fmt: str, hostile_mirror: URL, test_home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "etl.cli", "report", "restorable", "--project", "2017.1.00895.S",
         "--columns", "mous_uid,pi", "--format", fmt],
        env=cli_env(hostile_mirror, test_home), capture_output=True, check=False, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    output = done.stdout.decode("utf-8")
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(output, newline="")))
        assert rows
        assert all(row["pi"] == HOSTILE for row in rows)
    else:
        rows = json.loads(output)
        assert rows
        assert all(row["pi"] == HOSTILE for row in rows)


def test_an_error_line_quoting_a_hostile_name_shows_it_escaped(tmp_path: Path, test_home: Path) -> None:
    hostile = tmp_path / "settings\x1b]0;owned\x07.toml"
    hostile.mkdir()
    run = run_in_terminal(["--config", str(hostile), "report", "runs"], cli_env(None, test_home),
                          stderr_to_terminal=True)
    assert run.status == 2
    assert "settings\\u001b]0;owned\\u0007.toml is not a regular file" in run.terminal
    assert "\x1b" not in run.terminal


@pytest.mark.parametrize("columns", [80, 120])
def test_report_runs_draws_its_colours_and_escapes_the_runs_host_and_error(
    hostile_runs_mirror: URL, test_home: Path, columns: int
) -> None:
    run = run_in_terminal(["report", "runs"], cli_env(hostile_runs_mirror, test_home), columns=columns,
                          lines=400)
    assert run.status == 0, run.stderr
    assert "\x1b[1m" in run.terminal  # the figures' bold header is drawn, not shown as \u001b[1m
    assert "\\u001b[1m" not in run.terminal
    assert "\x1b]0;" not in run.terminal
    assert "\x1b[2J" not in run.terminal
    flat = run.terminal.replace("\n", "").replace("    ", "")
    assert "\\u001b]0;owned\\u0007" in flat

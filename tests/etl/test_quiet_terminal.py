"""On a terminal a person sees progress and the answer; log lines only for warnings and errors.

Each test runs ``almamirror`` on a pseudo-terminal (stdout and stderr both on it) at 80 and 120
columns, as a person would in tmux; off a terminal the log stays as it was.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.terminal import cli_env, run_in_terminal

LOG_LINE = re.compile(r"^\S+Z (DEBUG|INFO) ", re.MULTILINE)
WIDTHS = (80, 120)


@pytest.mark.parametrize("columns", WIDTHS)
def test_a_sync_on_a_terminal_shows_progress_and_its_summary_without_info_lines(
    demo_source: URL, synced_mirror: URL, test_home: Path, columns: int
) -> None:
    env = cli_env(synced_mirror, test_home, source=demo_source, extra={"NO_COLOR": "1"})
    outcome = run_in_terminal(["sync"], env, columns=columns, stderr_to_terminal=True)
    assert outcome.status == 0, outcome.terminal
    assert not LOG_LINE.search(outcome.terminal), outcome.terminal
    assert "sync.started" not in outcome.terminal
    assert "sync.succeeded" not in outcome.terminal
    assert "execution_block" in outcome.terminal  # the progress is drawn whatever the log shows
    assert len(re.findall(r"sync run [0-9]+:", outcome.terminal)) == 1  # the summary, once


@pytest.mark.parametrize("columns", WIDTHS)
def test_verbose_on_a_terminal_shows_every_log_line(
    demo_source: URL, synced_mirror: URL, test_home: Path, columns: int
) -> None:
    env = cli_env(synced_mirror, test_home, source=demo_source, extra={"NO_COLOR": "1"})
    outcome = run_in_terminal(["-v", "sync"], env, columns=columns, stderr_to_terminal=True)
    assert outcome.status == 0, outcome.terminal
    assert "sync.started" in outcome.terminal
    assert "sync.succeeded" in outcome.terminal


@pytest.mark.parametrize("columns", WIDTHS)
def test_a_lower_log_level_keeps_the_progress(
    demo_source: URL, synced_mirror: URL, test_home: Path, columns: int
) -> None:
    env = cli_env(synced_mirror, test_home, source=demo_source, extra={"NO_COLOR": "1"})
    outcome = run_in_terminal(
        ["--log-level", "ERROR", "sync", "--full"], env, columns=columns, stderr_to_terminal=True
    )
    assert outcome.status == 0, outcome.terminal
    assert re.search(r"execution_block +read [0-9,]+", outcome.terminal), outcome.terminal


@pytest.mark.parametrize("columns", WIDTHS)
def test_warnings_still_reach_the_terminal(synced_mirror: URL, test_home: Path, columns: int) -> None:
    # An unusable $PAGER is a warning, and the report is written unpaged.
    env = cli_env(synced_mirror, test_home, extra={"NO_COLOR": "1", "PAGER": "'unclosed"})
    outcome = run_in_terminal(
        ["report", "restorable"], env, columns=columns, lines=10, stderr_to_terminal=True
    )
    assert outcome.status == 0, outcome.terminal
    assert "WARNING" in outcome.terminal
    assert "pager.unusable" in outcome.terminal
    assert not LOG_LINE.search(outcome.terminal)


@pytest.mark.parametrize("columns", WIDTHS)
def test_report_html_names_its_page_once(
    synced_mirror: URL, test_home: Path, tmp_path: Path, columns: int
) -> None:
    env = cli_env(synced_mirror, test_home, extra={"NO_COLOR": "1"})
    outcome = run_in_terminal(
        ["report", "html", str(tmp_path / "page")], env, columns=columns, stderr_to_terminal=True
    )
    assert outcome.status == 0, outcome.terminal
    assert outcome.terminal.count("index.html") == 1, outcome.terminal


def test_off_a_terminal_the_log_is_as_before(synced_mirror: URL, test_home: Path, tmp_path: Path) -> None:
    """stdout on the terminal, stderr a pipe (a log file): the INFO lines are there."""
    env = cli_env(synced_mirror, test_home)
    outcome = run_in_terminal(["report", "html", str(tmp_path / "page")], env)
    assert outcome.status == 0, outcome.stderr
    assert "report.status_page_written" in outcome.stderr

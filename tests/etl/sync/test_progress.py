"""Sync progress as a person at a terminal sees it, and as a log gets it: one line per fact."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import URL

from etl.load.mapping import mirrored_tables
from etl.source.contract import CONTRACT
from tests.terminal import cli_env, run_in_terminal

TABLES = [mapping.name for mapping in mirrored_tables(CONTRACT)]
DERIVED = ("ous_status_document", "session_assignment", "mous_status")


def finished_lines(text: str, table: str) -> list[str]:
    """A table's finished line: its name, then its figures (a redrawn live line has no 'inserted').

    A mirrored table says how many of its source rows it pulled (a night reads the buckets that moved).
    """
    return re.findall(
        rf"{table} +read [0-9,]+ +(?:pulled [0-9,]+ +)?inserted [0-9,]+ +updated [0-9,]+ +deleted [0-9,]+",
        text,
    )


def test_on_a_terminal_each_table_is_one_line_and_no_log_line(
    demo_source: URL, synced_mirror: URL, test_home: Path
) -> None:
    env = cli_env(synced_mirror, test_home, source=demo_source, extra={"NO_COLOR": "1"})
    outcome = run_in_terminal(["sync", "--full"], env, columns=140, stderr_to_terminal=True)
    assert outcome.status == 0, outcome.terminal
    for table in (*TABLES, *DERIVED):
        assert len(finished_lines(outcome.terminal, table)) == 1, table
    assert "sync.table_merged" not in outcome.terminal
    assert "sync.table_derived" not in outcome.terminal
    # The steps that run one long statement show what they do while they run.
    for doing in ("merging", "parsing OUSStatus documents", "applying the session rule",
                  "judging restorability", "checking the affected MOUSes"):
        assert doing in outcome.terminal
    assert re.search(r"data quality +opened 0 +resolved 0 +open [0-9]+", outcome.terminal)
    assert "sync.succeeded" not in outcome.terminal  # the summary says it: no log line repeats it
    # The summary on the same terminal does not repeat the per-table figures: only the run's lines.
    assert "rows_read" not in outcome.terminal
    assert re.search(r"full sync run [0-9]+: [0-9,]+ row change\(s\)", outcome.terminal)


def test_a_summary_written_to_a_file_keeps_its_per_table_figures(
    demo_source: URL, synced_mirror: URL, test_home: Path, tmp_path: Path
) -> None:
    """stderr on a terminal, stdout redirected: the file gets the whole summary, tables included."""
    import os
    import pty
    import subprocess
    import sys

    env = cli_env(synced_mirror, test_home, source=demo_source, extra={"NO_COLOR": "1"})
    summary = tmp_path / "summary.txt"
    terminal, terminal_side = pty.openpty()
    try:
        with summary.open("w") as stdout:
            process = subprocess.Popen([sys.executable, "-m", "etl.cli", "sync"], env=env, stdout=stdout,
                                       stderr=terminal_side)
            os.close(terminal_side)
            drawn = b""
            while True:  # read the terminal until the process closes it, or the pty blocks it
                try:
                    chunk = os.read(terminal, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                drawn += chunk
            assert process.wait(timeout=120) == 0, drawn.decode(errors="replace")
    finally:
        os.close(terminal)
    assert b"execution_block" in drawn  # the progress lines were drawn on the terminal
    text = summary.read_text()
    assert "rows_read" in text
    assert all(re.search(rf"^{table} ", text, re.MULTILINE) for table in TABLES)


def test_quiet_draws_no_progress_on_a_terminal(demo_source: URL, synced_mirror: URL, test_home: Path) -> None:
    env = cli_env(synced_mirror, test_home, source=demo_source)
    outcome = run_in_terminal(["-q", "sync"], env, stderr_to_terminal=True)
    assert outcome.status == 0, outcome.terminal
    assert not finished_lines(outcome.terminal, "execution_block")
    assert "merging" not in outcome.terminal


def test_off_a_terminal_the_figures_are_log_lines(
    demo_source: URL, synced_mirror: URL, test_home: Path
) -> None:
    """stdout on a terminal, stderr to a file: the log keeps its event key=value lines, nothing drawn."""
    env = cli_env(synced_mirror, test_home, source=demo_source)
    outcome = run_in_terminal(["sync"], env)
    assert outcome.status == 0, outcome.stderr
    for table in TABLES:
        assert len(re.findall(rf"sync\.table_merged table={table} read=", outcome.stderr)) == 1, table
    for table in DERIVED:
        assert len(re.findall(rf"sync\.table_derived table={table} read=", outcome.stderr)) == 1, table
    assert re.search(r"sync\.quality_checked opened=0 resolved=0 open=[0-9]+ seconds=", outcome.stderr)
    assert "\x1b" not in outcome.stderr
    assert "merging" not in outcome.stderr

"""A sync on a terminal 80 or 120 columns wide: no line wraps where the screen cuts it.

Each table's finished line fits (its zero figures give way on a narrow terminal), and the summary's
sentences are broken between words.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.terminal import cli_env, run_in_terminal, scrollback

LINES = 60


@pytest.mark.parametrize("columns", [80, 120])
def test_a_sync_on_a_terminal_fits_its_width(
    demo_source: URL, synced_mirror: URL, test_home: Path, columns: int
) -> None:
    env = cli_env(synced_mirror, test_home, source=demo_source, extra={"NO_COLOR": "1"})
    outcome = run_in_terminal(["sync"], env, columns=columns, lines=LINES, stderr_to_terminal=True)
    assert outcome.status == 0, outcome.terminal
    written = [line for line in outcome.terminal.split("\n") if line.strip()]
    # What the program wrote, line by line: none reaches the last column (the terminal would wrap it).
    assert [line for line in written if len(line) >= columns and "\x1b" not in line] == [], written
    seen = scrollback(outcome.terminal, columns, LINES)
    project = next(line for line in seen if line.startswith("project "))
    assert "read 55" in project
    assert "inserted 0" in project
    # Broken between words: each continuation starts a word, indented under its sentence.
    documents = next(index for index, line in enumerate(seen) if line.startswith("calibration documents:"))
    if columns == 80:
        assert seen[documents + 1].startswith("  ")
        assert not seen[documents + 1].startswith("   ")

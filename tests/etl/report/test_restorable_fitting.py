"""``report restorable`` fitted to a terminal keeps its verdict: the restore kind of every MOUS."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.terminal import cli_env, run_in_terminal


@pytest.fixture
def synced_mirror(shared_synced_mirror: URL) -> URL:
    """This module's tests only read the synced mirror (reports, explain): they share one copy."""
    return shared_synced_mirror


@pytest.mark.parametrize("columns", [80, 120])
def test_the_restore_kind_stays_on_a_narrow_terminal(
    synced_mirror: URL, test_home: Path, columns: int
) -> None:
    env = cli_env(synced_mirror, test_home, extra={"NO_COLOR": "1"})
    run = run_in_terminal(["report", "restorable", "--no-pager"], env, columns=columns, lines=400)
    assert run.status == 0, run.stderr
    header = run.terminal.splitlines()[0].split()
    assert header[:3] == ["mous_uid", "project_code", "restore_kind"], header
    assert "calibration_record" in header
    assert ("casa_chosen" in header) == (columns >= 120)
    assert all(len(line) <= columns for line in run.terminal.splitlines())

"""Reports as a person at a terminal sees them: fitted, chosen, limited, paged, coloured or not.

Each test runs ``almamirror`` in a child process whose stdout is a pseudo-terminal of a set size.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.etl.report.archive import REASONS, RESTORABLE
from tests.etl.report.conftest import Almamirror, ArchiveMirror
from tests.terminal import TerminalRun, cli_env, recording_pager, run_in_terminal

ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
NOT_RESTORABLE_COLUMNS = (
    "mous_uid", "project_code", "array_family", "band", "eb_count", "pass_eb_count", "session_count",
    "empty_session_count", "calibration_kind", "release_date", "proprietary", "calibration_record",
    "casa_version", "pipeline_version", "mpi_servers", "reason_code", "reason",
)


@pytest.fixture
def archive(shared_archive: ArchiveMirror) -> ArchiveMirror:
    """The module's shared archive: the reports only read it."""
    return shared_archive


def plain(text: str) -> str:
    return ESCAPE.sub("", text)


def report(
    archive: ArchiveMirror, home: Path, *args: str, columns: int = 100, lines: int = 60, **env: str
) -> TerminalRun:
    outcome = run_in_terminal(
        ["report", *args], cli_env(archive.url, home, extra={"PAGER": "", **env}), columns, lines
    )
    assert outcome.status == 0, outcome.terminal + outcome.stderr
    return outcome


def header_of(text: str) -> list[str]:
    return plain(text).split("\n")[0].split()


def test_a_table_fits_the_terminal_keeping_the_reason(archive: ArchiveMirror, test_home: Path) -> None:
    outcome = report(archive, test_home, "restorable", "--not-restorable", columns=90, NO_COLOR="1")
    text = plain(outcome.terminal)
    assert max(len(line) for line in text.split("\n")) <= 90
    header = header_of(text)
    assert header[0] == "mous_uid"
    assert "reason" in header
    left_out = [name for name in NOT_RESTORABLE_COLUMNS if name not in header]
    assert left_out  # 17 columns never fit in 90
    note = f"(not shown, for width: {', '.join(left_out)}; --wide shows every column"
    assert note in " ".join(text.split())
    # restore_needs_extra_steps restores by its archived script: listed as restorable.
    for code in REASONS.values():
        assert (f"because {code}" in text) is (code != "restore_needs_extra_steps")


def test_a_wide_terminal_shows_every_column(archive: ArchiveMirror, test_home: Path) -> None:
    outcome = report(archive, test_home, "restorable", "--not-restorable", columns=400)
    assert tuple(header_of(outcome.terminal)) == NOT_RESTORABLE_COLUMNS
    assert "not shown" not in outcome.terminal


def test_wide_keeps_every_column_on_a_narrow_terminal(archive: ArchiveMirror, test_home: Path) -> None:
    outcome = report(archive, test_home, "restorable", "--not-restorable", "--wide", columns=80)
    text = plain(outcome.terminal)
    assert tuple(header_of(text)) == NOT_RESTORABLE_COLUMNS
    assert max(len(line) for line in text.split("\n")) > 80


def test_columns_and_limit_on_a_terminal(archive: ArchiveMirror, test_home: Path) -> None:
    outcome = report(
        archive, test_home, "restorable", "--columns", "mous_uid,cycle,last_change_at", "--limit", "2",
        columns=80,
    )
    text = plain(outcome.terminal)
    assert header_of(text) == ["mous_uid", "cycle", "last_change_at"]
    rows = [line for line in text.split("\n")[2:] if line.startswith("uid://")]
    assert len(rows) == 2
    assert f"(the first 2 of {len(RESTORABLE) + 1} listed: --limit)" in " ".join(text.split())


def test_colour_unless_no_color(archive: ArchiveMirror, test_home: Path) -> None:
    coloured = report(archive, test_home, "quality")
    assert ESCAPE.search(coloured.terminal)
    uncoloured = report(archive, test_home, "quality", NO_COLOR="1")
    assert "\x1b" not in uncoloured.terminal
    assert plain(coloured.terminal) == uncoloured.terminal


def test_long_output_goes_through_the_pager(archive: ArchiveMirror, test_home: Path, tmp_path: Path) -> None:
    pager, record = recording_pager(tmp_path)
    outcome = report(archive, test_home, "changes", "--since", "2000-01-01", lines=8, PAGER=pager)
    assert "<<paged>>" in outcome.terminal
    recorded = record.read_text(encoding="utf-8")
    assert recorded.startswith("argv=['--marker']\nstdout_is_terminal=True\n")
    assert "event_id" in recorded or "table_name" in recorded
    assert "changes since 2000-01-01" in recorded
    assert "changes since" not in outcome.terminal  # shown by the pager only, not twice


def test_the_default_pager_is_less(archive: ArchiveMirror, test_home: Path, tmp_path: Path) -> None:
    """Without $PAGER, almamirror runs less -FRX (here a 'less' first on PATH that records its words)."""
    import os

    pager, record = recording_pager(tmp_path)
    less = tmp_path / "bin" / "less"
    less.parent.mkdir()
    less.write_text(f"#!/bin/sh\nexec {pager} \"$@\"\n", encoding="utf-8")
    less.chmod(0o755)
    env = cli_env(archive.url, test_home, extra={"PATH": f"{less.parent}{os.pathsep}{os.environ['PATH']}"})
    outcome = run_in_terminal(["report", "changes", "--since", "2000-01-01"], env, lines=8)
    assert outcome.status == 0, outcome.stderr
    assert record.read_text(encoding="utf-8").startswith("argv=['--marker', '-FRX']\n")


def test_no_pager_and_short_output_are_not_paged(
    archive: ArchiveMirror, test_home: Path, tmp_path: Path
) -> None:
    pager, record = recording_pager(tmp_path)
    long = report(archive, test_home, "changes", "--since", "2000-01-01", "--no-pager", lines=8, PAGER=pager)
    assert "changes since 2000-01-01" in long.terminal
    short = report(archive, test_home, "quality", lines=60, PAGER=pager)
    assert "open data-quality issues" in short.terminal
    assert not record.exists()


def test_off_a_terminal_nothing_is_paged_and_the_table_is_plain(
    almamirror: Almamirror, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pager, record = recording_pager(tmp_path)
    monkeypatch.setenv("PAGER", pager)
    monkeypatch.setenv("LINES", "5")
    outcome = almamirror("report", "changes", "--since", "2000-01-01")
    assert outcome.status == 0
    assert not record.exists()
    assert "\x1b" not in outcome.out
    assert outcome.out.split("\n")[1].startswith("--------")  # the plain renderer's dashes


def test_an_unknown_column_names_the_valid_ones(almamirror: Almamirror) -> None:
    outcome = almamirror("report", "quality", "--columns", "kind,bogus")
    assert outcome.status == 2
    assert outcome.out == ""
    assert outcome.err.count("\n") == 1
    assert "'bogus' is not a column of this report" in outcome.err
    assert "choose from issue_id, kind, mous_uid, project_code, subject, detail" in outcome.err


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_columns_and_limit_apply_to_every_format(almamirror: Almamirror, fmt: str) -> None:
    outcome = almamirror("report", "restorable", "--columns", "mous_uid,reason", "--limit", "1",
                         "--format", fmt)
    assert outcome.status == 0, outcome.err
    if fmt == "json":
        rows = outcome.json()
        assert isinstance(rows, list)
        assert [list(row) for row in rows] == [["mous_uid", "reason"]]
    elif fmt == "csv":
        header, row, end = outcome.out.split("\r\n")
        assert (header, row.endswith(","), end) == ("mous_uid,reason", True, "")
    else:
        lines = outcome.out.rstrip("\n").split("\n")
        assert lines[0].split() == ["mous_uid", "reason"]
        assert len(lines) == 4  # header, dashes, one row, summary
        assert lines[-1].endswith(f"(the first 1 of {len(RESTORABLE) + 1} listed: --limit)")


def test_limit_must_be_positive(almamirror: Almamirror) -> None:
    outcome = almamirror("report", "changes", "--limit", "0")
    assert (outcome.status, outcome.err.strip()) == (2, "almamirror: --limit must be 1 or more, not 0")

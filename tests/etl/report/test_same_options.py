"""Every report takes --limit, --columns and --wide and fits the terminal; report restorable --by counts.

What a terminal shows runs in a child on a pseudo-terminal; CSV, which no terminal shapes, runs in
process. The tests that only read share one copy of the synced mirror.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from etl.report.views import mous_restore, restorable_mous
from tests.conftest import DatabaseFactory
from tests.etl.report.conftest import Almamirror, cli_runner
from tests.helpers import rows
from tests.terminal import cli_env, run_in_terminal


@pytest.fixture
def almamirror(
    shared_synced_mirror: URL, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    test_home: Path,
) -> Almamirror:
    """``almamirror ARGS…`` in process against the shared synced mirror."""
    return cli_runner(shared_synced_mirror, monkeypatch, capsys, test_home)


@pytest.mark.parametrize("columns", [80, 120])
def test_report_runs_fits_the_terminal_and_takes_limit_as_last(
    shared_synced_mirror: URL, test_home: Path, columns: int
) -> None:
    env = cli_env(shared_synced_mirror, test_home, extra={"NO_COLOR": "1", "PAGER": ""})
    outcome = run_in_terminal(["report", "runs", "--limit", "1"], env, columns=columns, lines=200)
    assert outcome.status == 0, outcome.stderr
    assert all(len(line) <= columns for line in outcome.terminal.splitlines()), outcome.terminal
    assert "1 run: succeeded 1" in outcome.terminal
    same = run_in_terminal(["report", "runs", "--last", "1"], env, columns=columns, lines=200)
    assert same.terminal == outcome.terminal


def test_report_runs_columns_gives_one_row_per_run_and_table(almamirror: Almamirror) -> None:
    outcome = almamirror(
        "report", "runs", "--columns", "run_id,status,table_name,rows_read", "--format", "csv"
    )
    assert outcome.status == 0, outcome.err
    read = list(csv.DictReader(io.StringIO(outcome.out)))
    assert list(read[0]) == ["run_id", "status", "table_name", "rows_read"]
    assert {row["table_name"] for row in read} >= {"execution_block", "mous_status"}
    bad = almamirror("report", "runs", "--columns", "nope")
    assert bad.status == 2


def test_restorable_by_counts_per_reason_and_per_category(
    almamirror: Almamirror, shared_synced_mirror: URL
) -> None:
    synced_mirror = shared_synced_mirror
    view = restorable_mous
    # Not restorable: no restore kind at all (a manual calibration restores with its scriptForPI.py).
    expected_not = rows(synced_mirror, select(func.count()).where(mous_restore.c.restore_kind == "none"))[0]
    by_reason = almamirror("report", "restorable", "--by", "reason", "--format", "csv")
    assert by_reason.status == 0, by_reason.err
    reasons = list(csv.DictReader(io.StringIO(by_reason.out)))
    assert sum(int(row["mous_count"]) for row in reasons) == next(iter(expected_not.values()))
    assert {"session_mismatch", "no_pass_ebs"} <= {row["reason_code"] for row in reasons}
    assert "manual_calibration" not in {row["reason_code"] for row in reasons}
    for by, column in (("cycle", "cycle"), ("array", "array_family"), ("band", "band")):
        counted = almamirror("report", "restorable", "--by", by, "--format", "csv")
        table = list(csv.DictReader(io.StringIO(counted.out)))
        assert next(iter(table[0])) == column
        totals = rows(synced_mirror, select(view.c[column], func.count()).group_by(view.c[column]))
        assert {row[column] or None: int(row["mous_count"]) for row in table} == {
            total[column]: total["count"] for total in totals
        }


def test_restorable_by_kind_counts_each_restore_kind(
    almamirror: Almamirror, shared_synced_mirror: URL
) -> None:
    outcome = almamirror("report", "restorable", "--by", "kind", "--format", "csv")
    assert outcome.status == 0, outcome.err
    table = {row["restore_kind"]: row for row in csv.DictReader(io.StringIO(outcome.out))}
    totals = rows(shared_synced_mirror, select(mous_restore.c.restore_kind, func.count())
                  .group_by(mous_restore.c.restore_kind))
    assert {kind: int(row["mous_count"]) for kind, row in table.items()} == {
        total["restore_kind"]: total["count"] for total in totals
    }
    assert {"pipeline_ppr", "pipeline_script", "scriptforpi", "none"} <= set(table)
    # Restorable means any kind but none: none counts only as not restorable.
    assert (table["none"]["restorable"], table["scriptforpi"]["not_restorable"]) == ("0", "0")
    ppr_only = almamirror("report", "restorable", "--by", "kind", "--ppr-only", "--format", "csv")
    narrowed = {row["restore_kind"]: row for row in csv.DictReader(io.StringIO(ppr_only.out))}
    assert narrowed["scriptforpi"]["restorable"] == "0"
    assert narrowed["pipeline_ppr"]["restorable"] == table["pipeline_ppr"]["restorable"]


@pytest.mark.parametrize("columns", [80, 120])
def test_restorable_by_on_a_terminal(shared_synced_mirror: URL, test_home: Path, columns: int) -> None:
    env = cli_env(shared_synced_mirror, test_home, extra={"NO_COLOR": "1", "PAGER": ""})
    outcome = run_in_terminal(["report", "restorable", "--by", "cycle", "--limit", "2"], env,
                              columns=columns)
    assert outcome.status == 0, outcome.stderr
    assert "MOUSes by cycle:" in outcome.terminal
    assert "the first 2 of" in outcome.terminal
    assert all(len(line) <= columns for line in outcome.terminal.splitlines())


@pytest.fixture(scope="module")
def changed_mirror(
    databases: DatabaseFactory, synced_template: str, demo_source: URL, test_home: Path
) -> Iterator[URL]:
    """A synced mirror after a night that failed an EB: it has changes to report. Only read."""
    from sqlalchemy import update

    from etl.demo.fixed_cases import FIXED_CASES
    from etl.source.contract import CONTRACT, contract_table
    from tests.helpers import connect, sync

    source = databases.create("same_options_source", template="source_small")
    mirror = databases.create("same_options_changed", template=synced_template)
    execblocks = contract_table(CONTRACT, "aqua_execblock")
    with connect(source) as connection:
        connection.execute(update(execblocks).where(
            execblocks.c.execblockuid == FIXED_CASES["seed_first"].expected_sessions[1][0]
        ).values(qa0status="Fail"))
    sync(source, mirror, test_home)
    databases.discard("same_options_source")
    yield mirror
    databases.discard("same_options_changed")


@pytest.mark.parametrize("columns", [80, 120])
def test_report_changes_keeps_the_table_name_at_80_columns(
    changed_mirror: URL, test_home: Path, columns: int
) -> None:
    env = cli_env(changed_mirror, test_home, extra={"NO_COLOR": "1", "PAGER": ""})
    outcome = run_in_terminal(["report", "changes"], env, columns=columns, lines=200)
    assert outcome.status == 0, outcome.stderr
    header = outcome.terminal.splitlines()[0].split()
    assert {"table_name", "row_key", "kind", "change"} <= set(header)
    assert all(len(line) <= columns for line in outcome.terminal.splitlines())

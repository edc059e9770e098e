"""``almamirror report …`` end to end, in process, on the hand-built archive."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import ARRAY, Boolean, Column, DateTime, Integer, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL

from etl.report.runs import FIGURE_COLUMNS, RUN_COLUMNS
from etl.report.views import column_names, data_quality, newly_restorable, recent_changes, restorable_mous
from tests.conftest import DatabaseFactory
from tests.etl.report.archive import (
    CODE_A,
    DISAGREES,
    EVENTS,
    EVENTS_OF_RUN,
    EXTRA_STEPS,
    FUTURE,
    LAST_YEAR,
    LATEST_RUN,
    MANUAL,
    MULTI,
    NEW,
    OK,
    OK_EBS,
    PROVENANCE,
    REASONS,
    RESTORABLE,
)
from tests.etl.report.conftest import Almamirror, ArchiveMirror, cli_runner
from tests.helpers import connect

FORMATS = ("table", "csv", "json")


@pytest.fixture
def archive(shared_archive: ArchiveMirror) -> ArchiveMirror:
    """The module's shared archive, which the reports only read (``test_reports_are_read_only``): the
    reporting tests' ``almamirror`` runs against it. The tests that write, or try to, have their own."""
    return shared_archive


def typed(value: str, column_type: Any) -> Any:
    """A CSV cell read back with the view column's type (CSV itself has none)."""
    readers: dict[type[Any], Any] = {
        Integer: int,
        Boolean: {"true": True, "false": False}.__getitem__,
        DateTime: datetime.fromisoformat,
        ARRAY: lambda cell: [typed(item, column_type.item_type) for item in cell.split(" ")],
        JSONB: json.loads,
    }
    if value == "":
        return None
    reader = next((read for kind, read in readers.items() if isinstance(column_type, kind)), str)
    return reader(value)


def json_typed(value: Any, column_type: Any) -> Any:
    """A JSON value with its ISO 8601 times parsed; checks each JSON type matches the column's."""
    if value is None:
        return None
    if isinstance(column_type, Boolean):
        assert isinstance(value, bool)
    elif isinstance(column_type, Integer):
        assert isinstance(value, int)
        assert not isinstance(value, bool)
    elif isinstance(column_type, DateTime):
        moment = datetime.fromisoformat(value)
        assert moment.utcoffset() == timedelta(0), value  # reports are in UTC, with the offset
        return moment
    elif isinstance(column_type, ARRAY):
        assert isinstance(value, list)
        # In CSV an empty list and NULL are both an empty cell.
        return value or None
    elif isinstance(column_type, JSONB):
        assert isinstance(value, dict)
    else:
        assert isinstance(value, str)
    return value


def csv_rows(text: str, view: Table) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert tuple(reader.fieldnames or ()) == column_names(view)
    return [{name: typed(cell, view.c[name].type) for name, cell in row.items()} for row in reader]


def json_rows(text: str, view: Table) -> list[dict[str, Any]]:
    document = json.loads(text)
    assert isinstance(document, list)
    for row in document:
        assert tuple(row) == column_names(view)
    return [{name: json_typed(value, view.c[name].type) for name, value in row.items()} for row in document]


def assert_csv_and_json_agree(almamirror: Almamirror, view: Table, *args: str) -> list[dict[str, Any]]:
    as_csv = almamirror(*args, "--format", "csv")
    as_json = almamirror(*args, "--format", "json")
    assert (as_csv.status, as_json.status) == (0, 0), as_csv.err + as_json.err
    assert as_csv.out.startswith(",".join(column_names(view)) + "\r\n")  # RFC 4180: a header, CRLF
    from_csv, from_json = csv_rows(as_csv.out, view), json_rows(as_json.out, view)
    assert from_csv == from_json
    return from_json


def table_lines(text: str) -> list[str]:
    return text.rstrip("\n").split("\n")


def assert_aligned(text: str) -> None:
    """Header, dashes, rows: every column starts where the header's does."""
    header, dashes, *_ = table_lines(text)
    starts = [i for i, char in enumerate(dashes) if char == "-" and (i == 0 or dashes[i - 1] == " ")]
    for start in starts[1:]:
        assert header[start - 2 : start] == "  ", header


# restorable

# report restorable: the view's columns, then how each MOUS restores and the CASA it needs here.
RESTORABLE_REPORT = Table(
    "restorable_report", MetaData(),
    *(Column(column.name, column.type) for column in restorable_mous.columns),
    Column("restore_kind", Text), Column("restore_reason", Text), Column("casa_needed", Text),
    Column("casa_chosen", Text), Column("casa_installed", Boolean), Column("casa_to_install", Text),
)
# The hand-edited restore script is run instead of a PPR: restorable, by another kind.
RESTORABLE_BY_ANY_KIND = (*RESTORABLE, EXTRA_STEPS)
NOT_RESTORABLE = {uid: code for uid, code in REASONS.items() if uid != EXTRA_STEPS}


def test_restorable_lists_restorable_mouses_with_a_summary(almamirror: Almamirror) -> None:
    outcome = almamirror("report", "restorable")
    assert outcome.status == 0, outcome.err
    assert_aligned(outcome.out)
    lines = table_lines(outcome.out)
    assert lines[0].split()[:4] == ["mous_uid", "project_code", "array_family", "band"]
    listed = {line.split()[0] for line in lines[2:-1]}
    assert listed == set(RESTORABLE_BY_ANY_KIND)
    assert lines[-1].startswith(
        "19 MOUSes: 5 restorable (pipeline_ppr 4, pipeline_script 1), 14 not (deleted_ous 1, "
        "manual_calibration 1, manual_post_calibration 1, no_pass_ebs 1, no_calibration_products 1, "
        "multiple_sbs 1, unknown_array 1, session_mismatch 1, archive_record_disagrees 1, "
        "manifest_file_missing 1, malformed_eb_uid 1, malformed_reference 1, unsafe_product_name 1, "
        "product_name_clash 1)"
    )


def test_restorable_ppr_only_keeps_what_a_restore_ppr_restores(almamirror: Almamirror) -> None:
    rows = assert_csv_and_json_agree(almamirror, RESTORABLE_REPORT, "report", "restorable", "--ppr-only")
    assert {row["mous_uid"] for row in rows} == set(RESTORABLE)
    assert {row["restore_kind"] for row in rows} == {"pipeline_ppr"}


def test_restorable_not_restorable_lists_the_reasons(almamirror: Almamirror) -> None:
    rows = assert_csv_and_json_agree(
        almamirror, RESTORABLE_REPORT, "report", "restorable", "--not-restorable"
    )
    assert {row["mous_uid"]: row["reason_code"] for row in rows} == NOT_RESTORABLE
    assert all(row["reason"] and row["restore_reason"] for row in rows)
    assert {row["restore_kind"] for row in rows} == {"none"}
    manual = next(row for row in rows if row["mous_uid"] == MANUAL)
    assert manual["restore_reason"] == "hand-calibrated, but no scriptForPI.py is archived to restore it with"


def test_restorable_not_restorable_table_shows_the_reason_sentence(almamirror: Almamirror) -> None:
    outcome = almamirror("report", "restorable", "--not-restorable")
    assert outcome.status == 0, outcome.err
    assert_aligned(outcome.out)
    header, _dashes, *rows, _summary = table_lines(outcome.out)
    assert header.split()[-2:] == ["reason_code", "reason"]
    by_mous = {line.split()[0]: line for line in rows}
    assert set(by_mous) == set(NOT_RESTORABLE)
    for uid, code in NOT_RESTORABLE.items():
        assert re.split(r"\s{2,}", by_mous[uid])[-2:] == [code, f"because {code}"]


def test_restorable_csv_and_json_carry_every_column_with_types(
    almamirror: Almamirror, archive: ArchiveMirror
) -> None:
    rows = assert_csv_and_json_agree(almamirror, RESTORABLE_REPORT, "report", "restorable")
    assert [row["project_code"] for row in rows] == sorted(row["project_code"] for row in rows)
    assert {row["mous_uid"] for row in rows} == set(RESTORABLE_BY_ANY_KIND)
    script = next(row for row in rows if row["mous_uid"] == EXTRA_STEPS)
    # No [restore.casa] here: restorable, flagged with the release to install.
    choice = ("restore_kind", "casa_needed", "casa_installed", "casa_to_install")
    assert [script[name] for name in choice] == [
        "pipeline_script", "5.6.1-8 or newer, with the pipeline", False, "5.6.1-8 with the pipeline"
    ]
    assert script["restore_reason"] == "because restore_needs_extra_steps"
    ok = next(row for row in rows if row["mous_uid"] == OK)
    assert ok["caltables_sessions"] == [1, 3]
    assert ok["restorable"] is True
    assert ok["proprietary"] is False
    assert ok["last_change_at"] == archive.clock.run_finished(2)
    assert ok["reason"] is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_restorable_filters(almamirror: Almamirror, fmt: str) -> None:
    outcome = almamirror("report", "restorable", "--project", CODE_A, "--array", "12m", "--format", fmt)
    assert outcome.status == 0, outcome.err
    if fmt == "json":
        assert {row["mous_uid"] for row in json.loads(outcome.out)} == {OK, FUTURE, LAST_YEAR}
    elif fmt == "csv":
        listed = {row["mous_uid"] for row in csv.DictReader(io.StringIO(outcome.out))}
        assert listed == {OK, FUTURE, LAST_YEAR}
    else:
        assert table_lines(outcome.out)[-1] == (
            f"5 MOUSes of project {CODE_A} on the 12m array: 3 restorable (pipeline_ppr 3), 2 not "
            "(deleted_ous 1, manual_calibration 1); CASA missing at this site for 3 (6.4.1-12 with the "
            "pipeline ×1, 6.5.4-9 with the pipeline ×2: [restore.casa])"
        )


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_empty_report_exits_zero(almamirror: Almamirror, fmt: str) -> None:
    outcome = almamirror("report", "restorable", "--project", "2099.1.99999.S", "--format", fmt)
    assert outcome.status == 0
    if fmt == "json":
        assert outcome.json() == []
    elif fmt == "csv":
        assert outcome.out == ",".join(column_names(RESTORABLE_REPORT)) + "\r\n"
    else:
        assert table_lines(outcome.out)[-1] == "0 MOUSes of project 2099.1.99999.S: 0 restorable, 0 not"


# changes


def test_changes_default_to_the_latest_run(almamirror: Almamirror, archive: ArchiveMirror) -> None:
    rows = assert_csv_and_json_agree(almamirror, recent_changes, "report", "changes")
    assert {row["run_id"] for row in rows} == {LATEST_RUN}
    assert len(rows) == EVENTS_OF_RUN[LATEST_RUN]
    assert [row["event_id"] for row in rows] == sorted((row["event_id"] for row in rows), reverse=True)
    assert all(row["changed_at"] == archive.clock.run_finished(LATEST_RUN) for row in rows)
    table = almamirror("report", "changes")
    assert table.status == 0
    assert "qa0_status Pass→Fail; end_time -→2018-03-01T05:00:00" in table.out
    assert table_lines(table.out)[-1] == (
        f"5 changes in run 4, the latest run with changes (finished "
        f"{archive.clock.run_finished(4):%Y-%m-%d %H:%M:%S} UTC): insert 1, update 3, delete 1; "
        "2 MOUSes in 1 run"
    )


def test_changes_default_to_the_latest_run_that_changed_anything(
    own_archive: ArchiveMirror, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    test_home: Path,
) -> None:
    from sqlalchemy import insert

    from etl.mirror import SyncRun, table_of

    archive = own_archive
    almamirror = cli_runner(archive.url, monkeypatch, capsys, test_home)
    with connect(archive.url) as connection:
        # Two nights with no source change after run 4 (and run 5 still running).
        connection.execute(insert(table_of(SyncRun)), [
            {"run_id": run_id, "started_at": archive.clock.now, "finished_at": archive.clock.now,
             "status": "succeeded", "full": False, "baseline": False, "host": "testhost", "pid": run_id,
             "source": "test"}
            for run_id in (6, 7)
        ])
    rows = almamirror("report", "changes", "--format", "json").json()
    assert isinstance(rows, list)
    assert {row["run_id"] for row in rows} == {LATEST_RUN}
    summary = table_lines(almamirror("report", "changes").out)[-1]
    assert summary.startswith("5 changes in run 4, the latest run with changes (finished ")
    assert "; 2 later successful runs changed nothing)" in summary


def test_changes_of_a_mirror_with_only_a_baseline_say_so(
    mirror_db: URL, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], test_home: Path
) -> None:
    from tests.etl.report.conftest import cli_runner

    run = cli_runner(mirror_db, monkeypatch, capsys, test_home)
    assert run("report", "changes").out.splitlines()[-1] == "no sync has succeeded yet"


@pytest.mark.parametrize(("since", "runs"), [("25h", {LATEST_RUN}), ("7d", {LATEST_RUN}),
                                             ("2w", {2, LATEST_RUN}), ("yesterday", {LATEST_RUN})])
def test_changes_since_a_span_of_time(almamirror: Almamirror, since: str, runs: set[int]) -> None:
    rows = almamirror("report", "changes", "--since", since, "--format", "json").json()
    assert isinstance(rows, list)
    assert {row["run_id"] for row in rows} == runs


def test_changes_and_quality_of_one_mous(almamirror: Almamirror) -> None:
    history = almamirror("report", "changes", "--mous", NEW.replace("uid://", "uid___").replace("/", "_"),
                         "--format", "json").json()
    assert isinstance(history, list)
    assert {row["mous_uid"] for row in history} == {NEW}
    assert len(history) == sum(1 for event in EVENTS if event["mous_uid"] == NEW)
    assert almamirror("report", "changes", "--mous", NEW, "--run", "2", "--format", "json").json() == []
    summary = table_lines(almamirror("report", "changes", "--mous", NEW).out)[-1]
    assert summary.startswith(f"2 changes of MOUS {NEW}: ")
    issues = almamirror("report", "quality", "--mous", OK, "--format", "json").json()
    assert isinstance(issues, list)
    assert [issue["kind"] for issue in issues] == ["eb_null_end_time"]
    assert almamirror("report", "quality", "--mous", NEW, "--format", "json").json() == []


@pytest.mark.parametrize("command", ["changes", "quality"])
def test_a_malformed_mous_is_one_line_and_exit_2(almamirror: Almamirror, command: str) -> None:
    outcome = almamirror("report", command, "--mous", "X129e")
    assert (outcome.status, outcome.out) == (2, "")
    assert outcome.err.startswith("almamirror: --mous: 'X129e' is not a MOUS UID")
    assert outcome.err.count("\n") == 1


def test_changes_of_one_run(almamirror: Almamirror) -> None:
    rows = assert_csv_and_json_agree(almamirror, recent_changes, "report", "changes", "--run", "2")
    assert [row["row_key"] for row in rows][-1] == OK_EBS[1]
    assert len(rows) == EVENTS_OF_RUN[2]
    failed = almamirror("report", "changes", "--run", "3", "--format", "json")
    assert (failed.status, failed.json()) == (0, [])


def test_changes_since_a_date(almamirror: Almamirror, archive: ArchiveMirror) -> None:
    since = (archive.clock.now - timedelta(days=20)).date().isoformat()
    rows = assert_csv_and_json_agree(almamirror, recent_changes, "report", "changes", "--since", since)
    assert len(rows) == len(EVENTS)
    week = (archive.clock.now - timedelta(days=7)).isoformat()
    recent = almamirror("report", "changes", "--since", week, "--format", "json").json()
    assert isinstance(recent, list)
    assert {row["run_id"] for row in recent} == {LATEST_RUN}


def test_changes_of_an_unknown_run_is_a_usage_error(almamirror: Almamirror) -> None:
    outcome = almamirror("report", "changes", "--run", "42")
    assert outcome.status == 2
    assert outcome.err.count("\n") == 1
    assert "no sync run 42" in outcome.err


@pytest.mark.parametrize("command", ["changes", "newly-restorable"])
@pytest.mark.parametrize(("since", "why"), [
    ("2026-13-01", "is not a valid date: month must be in 1..12"),
    ("2026-11-31", "is not a valid date: day is out of range for month"),
    ("2026-11-01T24:00", "is not a valid date-time: hour must be in 0..23"),
    ("", "is neither a date nor a span of time; expected 24h, 7d"),
    ("last week", "is neither a date nor a span of time; expected 24h, 7d"),
])
def test_a_malformed_since_is_one_line_and_exit_2(
    almamirror: Almamirror, command: str, since: str, why: str
) -> None:
    outcome = almamirror("report", command, "--since", since)
    assert outcome.status == 2
    assert outcome.out == ""
    assert outcome.err.count("\n") == 1
    assert outcome.err.startswith(f"almamirror: --since '{since}' {why}")


# newly restorable


def test_newly_restorable_default_is_the_latest_run(almamirror: Almamirror) -> None:
    rows = assert_csv_and_json_agree(almamirror, newly_restorable, "report", "newly-restorable")
    assert [row["mous_uid"] for row in rows] == [NEW]
    table = almamirror("report", "newly-restorable")
    assert table_lines(table.out)[-1].startswith("1 MOUS newly restorable in run 4 (finished ")
    assert table_lines(table.out)[-1].endswith("; 1 of them still proprietary")


def test_newly_restorable_since_a_date(almamirror: Almamirror, archive: ArchiveMirror) -> None:
    since = (archive.clock.now - timedelta(days=15)).isoformat()
    rows = assert_csv_and_json_agree(
        almamirror, newly_restorable, "report", "newly-restorable", "--since", since
    )
    # Oldest first: FUTURE became restorable in run 2, NEW in run 4.
    assert [row["mous_uid"] for row in rows] == [FUTURE, NEW]


# quality


@pytest.mark.parametrize("fmt", FORMATS)
def test_quality_lists_open_issues(almamirror: Almamirror, fmt: str) -> None:
    outcome = almamirror("report", "quality", "--format", fmt)
    assert outcome.status == 0
    if fmt == "table":
        assert table_lines(outcome.out)[-1] == (
            "2 open data-quality issues: eb_null_end_time 1, sb_unknown_mous 1"
        )
    else:
        rows = assert_csv_and_json_agree(almamirror, data_quality, "report", "quality")
        assert [row["kind"] for row in rows] == ["eb_null_end_time", "sb_unknown_mous"]


def test_quality_of_one_kind(almamirror: Almamirror) -> None:
    rows = assert_csv_and_json_agree(
        almamirror, data_quality, "report", "quality", "--kind", "eb_null_end_time"
    )
    assert [(row["mous_uid"], row["subject"]) for row in rows] == [(OK, OK_EBS[2])]
    resolved_only = almamirror("report", "quality", "--kind", "duplicate_shiftlog", "--format", "json")
    assert (resolved_only.status, resolved_only.json()) == (0, [])


def test_an_unknown_quality_kind_is_one_line_and_exit_2(almamirror: Almamirror) -> None:
    outcome = almamirror("report", "quality", "--kind", "bogus")
    assert outcome.status == 2
    assert outcome.err.count("\n") == 1
    assert "--kind 'bogus' is not a data-quality kind" in outcome.err
    assert "eb_null_end_time" in outcome.err


# runs


def test_runs_json_nests_the_table_figures(almamirror: Almamirror) -> None:
    outcome = almamirror("report", "runs", "--format", "json")
    assert outcome.status == 0
    runs = outcome.json()
    assert isinstance(runs, list)
    assert [run["run_id"] for run in runs] == [5, 4, 3, 2, 1]
    assert set(runs[0]) == {*RUN_COLUMNS, "tables"}
    latest = runs[1]
    assert (latest["status"], latest["baseline"], latest["duration_seconds"]) == ("succeeded", False, 180.0)
    assert [figure["table_name"] for figure in latest["tables"]] == ["execution_block", "mous_status"]
    assert latest["tables"][0] == {
        "table_name": "execution_block", "rows_read": 10, "inserted": 3, "updated": 1, "deleted": 0,
        "seconds": 0.25,
    }
    assert (runs[0]["status"], runs[0]["finished_at"], runs[0]["tables"]) == ("running", None, [])
    assert runs[2]["error"] == "source unavailable"


def test_runs_csv_is_one_row_per_run_and_table(almamirror: Almamirror) -> None:
    outcome = almamirror("report", "runs", "--last", "2", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(outcome.out, newline="")))
    assert tuple(rows[0]) == (*RUN_COLUMNS, *FIGURE_COLUMNS)
    assert [(row["run_id"], row["table_name"]) for row in rows] == [
        ("5", ""), ("4", "execution_block"), ("4", "mous_status"),
    ]


def test_runs_table_is_a_block_per_run(almamirror: Almamirror) -> None:
    outcome = almamirror("report", "runs", "--last", "3")
    assert outcome.status == 0
    text = outcome.out
    blocks = ("run 5  running", "run 4  succeeded  incremental", "run 3  failed")
    assert [text.index(block) for block in blocks] == sorted(text.index(block) for block in blocks)
    assert "  error: source unavailable" in text
    assert "  execution_block" in text
    assert table_lines(text)[-1] == "3 runs: succeeded 1, failed 1, running 1"


def test_runs_last_must_be_positive(almamirror: Almamirror) -> None:
    outcome = almamirror("report", "runs", "--last", "0")
    assert (outcome.status, outcome.err.strip()) == (2, "almamirror: --last must be 1 or more, not 0")


# an empty or un-migrated mirror


@pytest.mark.parametrize(
    "command",
    [["restorable"], ["changes"], ["newly-restorable"], ["quality"], ["runs"]],
)
def test_every_report_of_an_empty_mirror_exits_zero(
    mirror_db: URL, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    test_home: Path, command: list[str],
) -> None:
    almamirror = cli_runner(mirror_db, monkeypatch, capsys, test_home)
    for fmt in FORMATS:
        outcome = almamirror("report", *command, "--format", fmt)
        assert outcome.status == 0, outcome.err
        if fmt == "json":
            assert outcome.json() == []


@pytest.mark.parametrize(
    "command",
    [["restorable"], ["changes"], ["newly-restorable"], ["quality"], ["runs"]],
)
def test_every_report_refuses_an_unmigrated_mirror(
    databases: DatabaseFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    test_home: Path, command: list[str],
) -> None:
    bare = databases.create("report_unmigrated")
    almamirror = cli_runner(bare, monkeypatch, capsys, test_home)
    outcome = almamirror("report", *command)
    assert outcome.status == 1
    assert outcome.out == ""
    assert "not migrated" in outcome.err
    assert "almamirror db upgrade" in outcome.err
    assert outcome.err.count("\n") == 1


def test_a_bad_argument_is_refused_before_connecting(
    databases: DatabaseFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    test_home: Path,
) -> None:
    """Usage is checked first: a typo gets exit 2, not a database error."""
    bare = databases.create("report_unmigrated_usage")
    almamirror = cli_runner(bare, monkeypatch, capsys, test_home)
    assert almamirror("report", "changes", "--since", "last week").status == 2


def test_reports_are_read_only(almamirror: Almamirror, archive: ArchiveMirror) -> None:
    """Running every report leaves the mirror exactly as it was."""
    from tests.helpers import mirror_fingerprints

    before = mirror_fingerprints(archive.url, skip=frozenset())
    for command in (["restorable"], ["changes"], ["newly-restorable"], ["quality"], ["runs"]):
        assert almamirror("report", *command).status == 0
    assert mirror_fingerprints(archive.url, skip=frozenset()) == before


def test_multi_eb_change_is_listed_with_its_project(almamirror: Almamirror) -> None:
    rows = almamirror("report", "changes", "--format", "json").json()
    assert isinstance(rows, list)
    multi = [row for row in rows if row["mous_uid"] == MULTI]
    assert {row["project_code"] for row in multi} == {"2018.1.00002.S"}


def test_the_report_connection_is_read_only(own_archive: ArchiveMirror, test_home: Path) -> None:
    archive = own_archive  # should the write get through, no other test sees it
    from sqlalchemy import insert
    from sqlalchemy.exc import InternalError

    from etl.cli.report_commands import report_snapshot
    from etl.mirror import Project, table_of
    from tests.conftest import settings_for

    with report_snapshot(settings_for(None, archive.url, test_home)) as connection, pytest.raises(
        InternalError, match="read-only transaction"
    ):
        connection.execute(insert(table_of(Project)).values(project_uid="uid://A001/X0/X0"))


# --- report provenance --------------------------------------------------------------------------------


def test_restorable_shows_the_calibration_record_and_its_provenance(almamirror: Almamirror) -> None:
    outcome = almamirror("report", "restorable")
    header, *_ = table_lines(outcome.out)
    assert header.split()[-5:] == [
        "calibration_record", "casa_version", "pipeline_version", "mpi_servers", "casa_chosen"
    ]
    ok = next(line for line in table_lines(outcome.out) if line.startswith(OK))
    assert re.split(r"\s{2,}", ok)[-5:] == [
        "agrees", "6.5.4-9", "2023.1.0.124", "8", "missing: install CASA 6.5.4-9 with the pipeline"
    ]
    rows = assert_csv_and_json_agree(
        almamirror, RESTORABLE_REPORT, "report", "restorable", "--not-restorable"
    )
    assert {row["mous_uid"]: row["calibration_record"] for row in rows}[DISAGREES] == "disagrees"


def test_provenance_lists_the_mouses_with_a_record_newest_casa_first(almamirror: Almamirror) -> None:
    outcome = almamirror("report", "provenance")
    assert outcome.status == 0, outcome.err
    assert_aligned(outcome.out)
    lines = table_lines(outcome.out)
    assert [line.split()[0] for line in lines[2:-1]] == [OK, LAST_YEAR, DISAGREES, FUTURE, EXTRA_STEPS]
    assert lines[-1] == (
        "5 MOUSes with a calibration record: CASA 6.5.4-9 3 (MPI 2), 6.4.1-12 1 (MPI 1), 5.6.1-8 1; "
        "the site lacks the CASA of 4 ([restore.casa])"
    )
    rows = json.loads(almamirror("report", "provenance", "--format", "json").out)
    assert {row["mous_uid"]: (row["calibration_record"], row["casa_version"], row["pipeline_version"],
                              row["mpi_servers"]) for row in rows} == PROVENANCE


@pytest.mark.parametrize(
    ("arguments", "listed"),
    [
        (("--casa", "6.5", "--mpi"), {OK, DISAGREES}),
        (("--casa", "6.5.4-9"), {OK, LAST_YEAR, DISAGREES}),
        # CASA 6 writes its build with a dot: the same version.
        (("--casa", "6.5.4.9"), {OK, LAST_YEAR, DISAGREES}),
        (("--casa", "6.4.1.12"), {FUTURE}),
        (("--casa", "6"), {OK, LAST_YEAR, DISAGREES, FUTURE}),
        (("--casa", "6.4.1"), {FUTURE}),
        (("--casa", "6.4.1-1"), set()),
        (("--serial",), {LAST_YEAR, EXTRA_STEPS}),
        (("--mpi",), {OK, DISAGREES, FUTURE}),
    ],
)
def test_provenance_filters(almamirror: Almamirror, arguments: tuple[str, ...], listed: set[str]) -> None:
    outcome = almamirror("report", "provenance", *arguments, "--format", "json")
    assert outcome.status == 0, outcome.err
    assert {row["mous_uid"] for row in json.loads(outcome.out)} == listed


@pytest.mark.parametrize("version", ["six", "6.5%", ""])
def test_provenance_bad_casa_version_is_one_line_and_exit_2(almamirror: Almamirror, version: str) -> None:
    outcome = almamirror("report", "provenance", "--casa", version)
    assert outcome.status == 2
    assert outcome.out == ""
    assert outcome.err.count("\n") == 1
    assert "is not a CASA version" in outcome.err


def test_provenance_mpi_and_serial_exclude_each_other() -> None:
    from etl.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["report", "provenance", "--mpi", "--serial"])
    assert stopped.value.code == 2


def test_changes_after_only_a_baseline_say_none_are_recorded_yet(
    synced_mirror: URL, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], test_home: Path
) -> None:
    from tests.etl.report.conftest import cli_runner

    run = cli_runner(synced_mirror, monkeypatch, capsys, test_home)
    outcome = run("report", "changes")
    assert outcome.status == 0
    assert outcome.out.splitlines()[-1].startswith("no changes recorded yet: the baseline (first) sync")


def test_restorable_chooses_each_mouses_casa_from_the_sites_releases(
    almamirror: Almamirror, tmp_path: Path
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        "[restore.casa]\n"
        '"6.5.4.9" = { path = "/opt/casa-6.5.4-9", pipeline = true, mpi = true }\n'
        '"6.6.1-17" = { path = "/opt/casa-6.6.1-17", pipeline = true }\n'
        '"4.7.0" = { path = "/opt/casa-4.7.0" }\n'
    )
    rows = assert_csv_and_json_agree(
        almamirror, RESTORABLE_REPORT, "--config", str(site), "report", "restorable"
    )
    chosen = {row["mous_uid"]: (row["casa_chosen"], row["casa_installed"]) for row in rows}
    assert chosen[OK] == ("CASA 6.5.4.9 (MPI) (exact)", True)  # 6.5.4-9 is 6.5.4.9; it ran MPI
    assert chosen[LAST_YEAR] == ("CASA 6.5.4.9 (exact)", True)  # serial calibration, serial restore
    assert chosen[FUTURE] == ("CASA 6.5.4.9 (MPI) (newer)", True)  # 6.4.1-12 absent: oldest newer one
    assert chosen[EXTRA_STEPS] == ("CASA 6.5.4.9 (newer)", True)
    outcome = almamirror("--config", str(site), "report", "restorable")
    assert "CASA missing" not in table_lines(outcome.out)[-1]


def test_provenance_says_which_of_the_sites_casa_runs_each_restore(
    almamirror: Almamirror, tmp_path: Path
) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[restore.casa]\n"6.4.1.12" = { path = "/opt/casa-6.4.1-12", pipeline = true }\n')
    rows = json.loads(almamirror("--config", str(site), "report", "provenance", "--format", "json").out)
    chosen = {
        row["mous_uid"]: (row["restore_kind"], row["casa_chosen"], row["casa_installed"]) for row in rows
    }
    assert chosen[FUTURE] == ("pipeline_ppr", "CASA 6.4.1.12 (exact)", True)
    assert chosen[EXTRA_STEPS] == ("pipeline_script", "CASA 6.4.1.12 (newer)", True)
    assert chosen[OK] == ("pipeline_ppr", "missing: install CASA 6.5.4-9 with the pipeline", False)
    assert chosen[DISAGREES] == ("none", None, None)

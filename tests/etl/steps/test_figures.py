"""One shape for every step of a sync: ``StepFigures``, and ``timed_step``, which times a step and
writes its one line (off a terminal: the ``event key=value`` log line)."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from etl.mirror import SyncRunTable, table_of
from etl.steps.figures import StepCount, StepFigures, timed_step
from etl.steps.merge import MergeCounts

LOGGER = "tests.steps"


def test_a_source_tables_line_says_what_it_pulled_and_quarantined() -> None:
    figures = StepFigures("execution_block", rows_read=10, inserted=1, updated=2, deleted=3, seconds=0.12345,
                          quarantined=4, rows_pulled=5)
    assert (figures.from_source, figures.event, figures.changed) == (True, "sync.table_merged", 6)
    assert figures.line() == {
        "table": "execution_block", "read": 10, "pulled": 5, "inserted": 1, "updated": 2, "deleted": 3,
        "quarantined": 4, "seconds": 0.123,
    }


def test_a_derived_tables_line_has_no_source_figures() -> None:
    figures = StepFigures("mous_status", rows_read=7, inserted=0, updated=1, deleted=0, seconds=0.5)
    assert (figures.from_source, figures.event, figures.changed) == (False, "sync.table_derived", 1)
    assert figures.line() == {
        "table": "mous_status", "read": 7, "inserted": 0, "updated": 1, "deleted": 0, "seconds": 0.5,
    }


def test_the_figures_after_the_table_are_the_run_records_columns_in_order() -> None:
    columns = [column.name for column in table_of(SyncRunTable).columns]
    names = [field.name for field in dataclasses.fields(StepFigures)]
    assert columns[:2] == ["run_id", "table_name"]
    assert names[0] == "table"
    assert names[1:] == columns[2:]


def test_a_timed_step_counts_its_time_and_writes_its_one_line(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger(LOGGER)
    with caplog.at_level(logging.INFO, logger=LOGGER), timed_step("mous_status", logger, earlier=2.0) as step:
        step.read = 3
        step.changes = MergeCounts(inserted=1, updated=1, deleted=0)
    figures = step.figures
    assert 2.0 <= figures.seconds < 2.0 + 60
    assert figures == StepFigures("mous_status", 3, 1, 1, 0, figures.seconds)
    assert [record.getMessage() for record in caplog.records] == [
        f"sync.table_derived table=mous_status read=3 inserted=1 updated=1 deleted=0 "
        f"seconds={round(figures.seconds, 3):.3f}"
    ]


def test_a_source_tables_step_carries_its_pulled_and_quarantined_rows() -> None:
    with timed_step("ous", logging.getLogger(LOGGER)) as step:
        step.read, step.pulled, step.quarantined = 223, 12, 2
    seconds = step.figures.seconds
    assert step.figures == StepFigures("ous", 223, 0, 0, 0, seconds, quarantined=2, rows_pulled=12)
    assert step.figures.event == "sync.table_merged"


def test_a_step_left_by_an_error_has_no_figures_and_no_line(caplog: pytest.LogCaptureFixture) -> None:
    started: list[StepCount] = []

    def failing_step() -> None:
        with timed_step("mous_status", logging.getLogger(LOGGER)) as step:
            started.append(step)
            step.read = 3
            raise ValueError("broken")

    with caplog.at_level(logging.INFO, logger=LOGGER), pytest.raises(ValueError, match="broken"):
        failing_step()
    with pytest.raises(RuntimeError, match="mous_status has not finished"):
        _ = started[0].figures
    assert caplog.records == []

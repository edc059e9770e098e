"""The SQL in docs/reporting.md runs and answers as documented, on the hand-built archive.

The queries are read out of the document's code blocks, so the documentation and these tests cannot
drift apart: a block starting ``-- example: NAME`` is a query with expected rows below; a block
starting ``-- admin: NAME`` is run by an administrator (here in a transaction that is rolled back).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import ProgrammingError

from tests.conftest import open_engine
from tests.etl.report.archive import (
    CODE_A,
    CODE_B,
    DISAGREES,
    MULTI,
    MULTI_EB,
    NEW,
    OK,
    OK_EBS,
    Clock,
)
from tests.etl.report.conftest import ArchiveMirror
from tests.helpers import connect

REPORTING = Path(__file__).resolve().parents[3] / "docs" / "reporting.md"
BLOCK = re.compile(r"```sql\n-- (example|admin): ([a-z0-9_]+)\n(.*?)```", re.S)


def documented(kind: str) -> dict[str, str]:
    return {name: sql for found, name, sql in BLOCK.findall(REPORTING.read_text()) if found == kind}


def rows_of(connection: Connection, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in connection.execute(text(sql))]


# Each documented example's answer on the archive (see archive.py for why).
EXPECTED: dict[str, Callable[[Clock], list[tuple[Any, ...]]]] = {
    # OK only: FUTURE is still proprietary, LAST_YEAR went public last year, DELETED is not restorable.
    "band7_cycle2017_public_this_year": lambda clock: [(OK, CODE_A, clock.released_this_year())],
    # NEW's caltables arrived a day ago; OK's ten days ago.
    "calibrations_last_week": lambda clock: [(NEW, CODE_B, [1], clock.run_finished(4))],
    "eb_qa0_changes": lambda clock: [
        (clock.run_finished(4), MULTI_EB, MULTI, CODE_B, "Pass", "Fail"),
        (clock.run_finished(2), OK_EBS[1], OK, CODE_A, "Pending", "Pass"),
    ],
    "restorability_by_cycle_and_array": lambda _clock: [
        ("2017.1", "12m", 3, 2, 2),
        ("2018.1", "12m", 0, 8, 0),
        ("2018.1", "7m", 1, 2, 0),
        ("2018.1", "TP", 0, 2, 0),
        ("2018.1", None, 0, 1, 0),
    ],
    "restorable_with_an_empty_session": lambda _clock: [(OK, CODE_A, 2, "", 3)],
    # OK only: LAST_YEAR ran serial CASA, FUTURE CASA 6.4, DISAGREES is not restorable.
    "restorable_mpi_casa_6_5": lambda _clock: [(OK, CODE_A, "6.5.4-9", "2023.1.0.124", 8)],
    "archived_record_disagrees": lambda _clock: [(DISAGREES, CODE_B, "because archive_record_disagrees")],
}


@pytest.fixture
def archive(shared_archive: ArchiveMirror) -> ArchiveMirror:
    """The module's shared archive: the documented examples only read it (the GRANT is rolled back)."""
    return shared_archive


def test_the_document_has_every_example() -> None:
    assert sorted(documented("example")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_documented_example(archive: ArchiveMirror, name: str) -> None:
    with connect(archive.url) as connection:
        assert rows_of(connection, documented("example")[name]) == EXPECTED[name](archive.clock)


def test_examples_do_not_depend_on_the_session_time_zone(archive: ArchiveMirror) -> None:
    with connect(archive.url) as connection:
        connection.execute(text("SET LOCAL TIME ZONE 'Pacific/Kiritimati'"))
        for name, sql in documented("example").items():
            assert rows_of(connection, sql) == EXPECTED[name](archive.clock), name


def test_granting_the_reader_role_to_a_login_role(archive: ArchiveMirror) -> None:
    """The documented GRANT gives a login role read access and no more (rolled back afterwards)."""
    engine = open_engine(archive.url)
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            try:
                connection.execute(text(documented("admin")["grant_reader"]))
                connection.execute(text("SET LOCAL ROLE report_user"))
                assert connection.execute(text("SELECT count(*) FROM restorable_mous")).scalar_one() == 19
                savepoint = connection.begin_nested()
                with pytest.raises(ProgrammingError, match="permission denied"):
                    connection.execute(text("DELETE FROM mous_status"))
                savepoint.rollback()
            finally:
                transaction.rollback()
    finally:
        engine.dispose()

"""``report changes`` streams its rows from a server-side cursor, in every format."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

from etl.database import read_only_connection
from etl.report import show_changes
from tests.conftest import DatabaseFactory, open_engine
from tests.helpers import connect

EVENTS = 6_000  # several fetches of the report's cursor

MANY_EVENTS = text("""
INSERT INTO change_event
    (run_id, table_name, row_key, mous_uid, kind, changed_columns, old_values, new_values)
SELECT 1, 'execution_block', 'uid://A002/X1/X' || n, NULL, 'update', ARRAY['qa0_status'],
       jsonb_build_object('qa0_status', 'Pass'), jsonb_build_object('qa0_status', 'SemiPass')
FROM generate_series(1, :events) AS n
""")


class CursorWatch(io.StringIO):
    """Output that, part way through, asks the server which cursors the report's session holds open."""

    def __init__(self, connection: Connection, at_write: int) -> None:
        super().__init__()
        self.connection = connection
        self.at_write = at_write
        self.writes = 0
        self.open_cursors: list[str] | None = None

    def write(self, text_: str) -> int:
        self.writes += 1
        if self.writes == self.at_write:
            self.open_cursors = list(
                self.connection.execute(text("SELECT statement FROM pg_cursors")).scalars()
            )
        return super().write(text_)


@pytest.fixture(scope="module")
def many_events(databases: DatabaseFactory, synced_template: str) -> Iterator[tuple[URL, int]]:
    """A synced mirror with EVENTS more change events, made once for the formats, which only read it;
    and how many events it held before."""
    mirror = databases.create("streaming_events", template=synced_template)
    with connect(mirror) as connection:
        baseline = connection.execute(text("SELECT count(*) FROM change_event")).scalar_one()
        connection.execute(MANY_EVENTS, {"events": EVENTS})
    yield mirror, int(baseline)
    databases.discard("streaming_events")


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_report_changes_streams_every_format(many_events: tuple[URL, int], fmt: str) -> None:
    mirror, baseline = many_events
    engine = open_engine(mirror)
    try:
        with read_only_connection(engine) as connection:
            output = CursorWatch(connection, at_write=500)
            show_changes(connection, datetime(2000, 1, 1, tzinfo=UTC), None, fmt, output)
    finally:
        engine.dispose()

    assert output.open_cursors is not None
    assert any("recent_changes" in statement for statement in output.open_cursors), output.open_cursors
    total = baseline + EVENTS
    written = output.getvalue()
    if fmt == "json":
        document = json.loads(written)
        assert len(document) == total
        assert document[0]["new_values"] == {"qa0_status": "SemiPass"}
    elif fmt == "csv":
        assert len(list(csv.reader(io.StringIO(written)))) == total + 1
    else:
        lines = written.splitlines()
        assert len(lines) == total + 3  # header, rule, rows, summary
        assert lines[-1].startswith(f"{total:,} changes since 2000-01-01")
        assert "qa0_status Pass→SemiPass" in lines[2]
        widths = {len(line) for line in lines[2:-1] if "execution_block" in line}
        assert len(widths) == 1  # aligned over every row, not only the first fetch

"""A read-only connection to a mirror at the expected schema revision."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, func, select

from etl.settings import Settings

# Report times are UTC, as ALMA's are: the same output on every workstation, and naive source times
# (release dates) mean what they say.
REPORT_TIME_ZONE = "UTC"


@contextmanager
def report_connection(settings: Settings) -> Iterator[Connection]:
    """A connection in one read-only, repeatable-read transaction; refuses an un-migrated mirror.

    One snapshot for every query of a report, so its rows and its summary always agree even while a
    sync commits.
    """
    from etl.database import mirror_connection

    with mirror_connection(settings, "almamirror-report", read_only=True) as connection:
        use_report_time_zone(connection)
        yield connection


def use_report_time_zone(connection: Connection) -> None:
    """Make timestamptz values come back in UTC for the rest of the transaction."""
    connection.execute(select(func.set_config("TimeZone", REPORT_TIME_ZONE, True)))

"""Reports read one snapshot of the mirror, with times in UTC."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

# Report times are UTC, as ALMA's are: the same output on every workstation, and naive source times
# (release dates) mean what they say.
REPORT_TIME_ZONE = "UTC"


def use_report_time_zone(connection: Connection) -> None:
    """Make timestamptz values come back in UTC for the rest of the transaction."""
    connection.execute(select(func.set_config("TimeZone", REPORT_TIME_ZONE, True)))

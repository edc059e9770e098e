"""Reading a PostgreSQL stand-in: a value Python cannot hold arrives as its text, not as an error.

psycopg raises when it loads a timestamp Python has no value for ('infinity', year 10000, a date BC),
and a whole fetch fails with it: no row named, no sync. Loaded leniently, such a value reaches the
row converter as text, which marks that one row for the quarantine (``etl.load.quarantine``).

A SQL_ASCII database declares no encoding for its text: psycopg hands over bytes for every text
value, SQLAlchemy among the first to choke on them, and a UTF8 client encoding would make the server
refuse the whole fetch at the first byte that is not UTF-8. So the client encoding stays SQL_ASCII
(the bytes as stored) and text is decoded here: as UTF-8 where it is UTF-8, left as bytes, a bad
value of that one row, where it is not. Other encodings (LATIN1, …) are converted by the server.
The loaders are registered as the connection is made, before SQLAlchemy's first query on it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.adapt import Buffer, Loader
from psycopg.types.datetime import DateLoader, TimestampLoader, TimestamptzLoader

TEXT_TYPES = ("text", "varchar", "bpchar", "name")


class _LenientTimestamp(TimestampLoader):
    def load(self, data: Buffer) -> Any:
        return _lenient(data, datetime.fromisoformat, super().load)


class _LenientTimestamptz(TimestamptzLoader):
    def load(self, data: Buffer) -> Any:
        return _lenient(data, datetime.fromisoformat, super().load)


class _LenientDate(DateLoader):
    def load(self, data: Buffer) -> Any:
        return _lenient(data, date.fromisoformat, super().load)


def _lenient(data: Buffer, parse_iso: Any, load: Any) -> Any:
    # ISO text (the usual DateStyle) parses fastest with fromisoformat; psycopg's own loader
    # understands the other DateStyles and raises DataError for values out of Python's range.
    text = bytes(data).decode("ascii", "replace")
    try:
        return parse_iso(text)
    except ValueError:
        pass
    try:
        return load(data)
    except (psycopg.DataError, ValueError):
        return text


class _UndeclaredText(Loader):
    """Text of a SQL_ASCII database: UTF-8 if it is, else the bytes (which the converter refuses)."""

    def load(self, data: Buffer) -> str | bytes:
        raw = bytes(data)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw


def prepare_connection(dbapi_connection: psycopg.Connection[Any]) -> None:
    """Make a new source connection to a PostgreSQL stand-in lenient, as described above."""
    adapters = dbapi_connection.adapters
    adapters.register_loader("timestamp", _LenientTimestamp)
    adapters.register_loader("timestamptz", _LenientTimestamptz)
    adapters.register_loader("date", _LenientDate)
    info = dbapi_connection.info
    if info.parameter_status("server_encoding") != "SQL_ASCII":
        return
    for name in TEXT_TYPES:
        adapters.register_loader(name, _UndeclaredText)
    if info.parameter_status("client_encoding") != "SQL_ASCII":  # e.g. PGCLIENTENCODING in the environment
        dbapi_connection.execute("SET client_encoding TO 'SQL_ASCII'")
        dbapi_connection.commit()

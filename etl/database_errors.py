"""What a PostgreSQL error from the mirror means for its caller: a lost connection, a full disk, or
the server's refusal, said in the server's own words.

psycopg files many server errors under ``OperationalError`` (a full disk, an index row too large, a
deadlock, a cancelled statement): that class alone does not mean the connection failed. The SQLSTATE
does: class 08 and the shutdown codes are a lost connection; an error without one never reached the
server, or came from the link to it.
"""

from __future__ import annotations

import psycopg
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from etl.errors import AlmaMirrorError, BadSourceData, MirrorDiskFull, MirrorRejected, MirrorUnavailable

# Server shut down or restarting, database dropped, session ended by a timeout: the connection is gone.
_CONNECTION_ENDED = frozenset({"57P01", "57P02", "57P03", "57P04", "57P05"})
_DISK_FULL = "53100"


def driver_error(exc: BaseException) -> BaseException:
    """The driver's exception inside SQLAlchemy's wrapper (or ``exc`` itself)."""
    return exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc


def sqlstate(exc: BaseException) -> str | None:
    """The server's SQLSTATE for a psycopg error; None when the error did not come from the server."""
    code = getattr(driver_error(exc), "sqlstate", None)
    return code if isinstance(code, str) else None


def is_connection_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection to the database failed or was lost (worth a retry)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    original = driver_error(exc)
    if isinstance(exc, InterfaceError) or isinstance(original, psycopg.InterfaceError):
        return True
    code = sqlstate(exc)
    if code is None:  # not the server's answer: the link, or another driver (Oracle's says no SQLSTATE)
        return isinstance(exc, OperationalError) or isinstance(original, psycopg.OperationalError)
    return code.startswith("08") or code in _CONNECTION_ENDED


def error_kind(exc: BaseException) -> str:
    """A database error in a word or two, for a message: unavailable, disk full, or error."""
    if is_connection_failure(exc):
        return "unavailable"
    return "disk full" if sqlstate(exc) == _DISK_FULL else "error"


def server_message(exc: BaseException) -> str:
    """PostgreSQL's own message, without the SQL statement SQLAlchemy appends to its errors."""
    original = driver_error(exc)
    diagnostics = getattr(original, "diag", None)
    primary = getattr(diagnostics, "message_primary", None)
    return " ".join((primary or str(original)).split())[:2000]


def classify_mirror_error(exc: BaseException, doing: str) -> AlmaMirrorError | None:
    """The error to report for a mirror database error during ``doing`` (e.g. "the sync"); None for an
    exception that is not a database error."""
    if isinstance(exc, AlmaMirrorError):
        return exc
    original = driver_error(exc)
    if not isinstance(original, psycopg.Error):
        return None
    message = server_message(exc)
    if is_connection_failure(exc):
        return MirrorUnavailable(f"the mirror connection failed during {doing}: {message}")
    code = sqlstate(exc)
    if code == _DISK_FULL:
        return MirrorDiskFull(
            f"the mirror's disk is full ({message}): nothing of {doing} was committed; free space on the "
            "mirror's server, then run it again"
        )
    if isinstance(original, psycopg.errors.DataError):
        return BadSourceData(f"the source has a value the mirror cannot store: {message}")
    return MirrorRejected(f"the mirror rejected {doing}: {message}")

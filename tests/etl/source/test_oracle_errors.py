"""Oracle's answers to a table that changed under the sync's read-only transaction are worth a retry."""

from __future__ import annotations

import oracledb
import pytest
from oracledb.errors import _Error
from sqlalchemy.exc import DBAPIError

from etl.database import create_source_engine, source_url
from etl.errors import RetryLater, SchemaMismatch, SourceChanged
from etl.load.extract import source_errors
from etl.settings import load_settings

ORACLE_URL = "oracle+oracledb://alma_ro:hunter2@db.alma.cl:1521/?service_name=ALMA"


def driver_error(message: str, code: int = 0) -> DBAPIError:
    """The error SQLAlchemy raises for an oracledb DatabaseError, as the thin driver makes it."""
    original = oracledb.DatabaseError(_Error(message, code=code))
    return DBAPIError.instance("SELECT execblockuid FROM alma.aqua_execblock", {}, original, oracledb.Error)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("ORA-01466: unable to read data - table definition has changed", 1466),
        ("ORA-08103: object no longer exists", 8103),
        ("ORA-08103: object no longer exists", 0),  # no parsed code: the message says it
    ],
)
def test_a_table_changed_under_the_snapshot_is_retry_later(message: str, code: int) -> None:
    settings = load_settings(environ={"ALMAMIRROR_SOURCE_URL": ORACLE_URL})
    engine = create_source_engine(source_url(settings), settings)  # never connects
    try:
        with pytest.raises(SourceChanged) as caught, source_errors(engine, "reading aqua_execblock from"):
            raise driver_error(message, code)
    finally:
        engine.dispose()
    assert isinstance(caught.value, RetryLater)
    assert caught.value.exit_code == 1
    text = str(caught.value)
    assert text.startswith("reading aqua_execblock from the source oracle+oracledb://alma_ro:***@db.alma.cl")
    assert message[:9] in text
    assert "run the sync again" in text
    assert "hunter2" not in text


def test_other_oracle_errors_are_still_stop_and_fix() -> None:
    settings = load_settings(environ={"ALMAMIRROR_SOURCE_URL": ORACLE_URL})
    engine = create_source_engine(source_url(settings), settings)
    try:
        refused = pytest.raises(SchemaMismatch, match="ORA-00942")
        with refused, source_errors(engine, "reading aqua_execblock from"):
            raise driver_error("ORA-00942: table or view does not exist", 942)
    finally:
        engine.dispose()

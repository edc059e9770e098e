"""Revision 0006 adds the record's tables and columns; its downgrade restores the revision before it."""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL

from etl import migrations
from etl.report.views import column_names, restorable_mous
from tests.conftest import open_engine
from tests.etl.revisions import down_revision

RECORD_TABLES = {
    "calibration_document", "calibration_record", "calibration_record_session", "calibration_record_product",
}
RECORD_COLUMNS = ("calibration_record", "casa_version", "pipeline_version", "mpi_servers")


def view_definition(url: URL, view: str) -> str:
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SELECT pg_get_viewdef(CAST(:view AS regclass), true)"),
                                          {"view": view}).scalar_one())
    finally:
        engine.dispose()


def shape(url: URL) -> tuple[set[str], list[str], list[str]]:
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            found = inspect(connection)
            return (
                set(found.get_table_names()),
                [column["name"] for column in found.get_columns("mous_status")],
                [column["name"] for column in found.get_columns("restorable_mous")],
            )
    finally:
        engine.dispose()


def test_revision_0006_down_removes_the_record_and_up_again_returns_it(mirror_db: URL) -> None:
    engine = open_engine(mirror_db)
    try:
        migrations.downgrade(engine, "0006")  # nothing to do while 0006 is the head
        tables, status_columns, view_columns = shape(mirror_db)
        assert tables >= RECORD_TABLES
        assert tuple(status_columns[-4:]) == RECORD_COLUMNS
        assert tuple(view_columns[-4:]) == RECORD_COLUMNS
        newly = view_definition(mirror_db, "newly_restorable")
        migrations.downgrade(engine, down_revision("0006"))
        down_tables, down_status, down_view = shape(mirror_db)
        assert not down_tables & RECORD_TABLES
        assert not set(RECORD_COLUMNS) & set(down_status)
        assert tuple(down_view) == tuple(view_columns[: -len(RECORD_COLUMNS)])
        assert view_definition(mirror_db, "newly_restorable") == newly
        migrations.upgrade(engine, "0006")
        assert shape(mirror_db) == (tables, status_columns, view_columns)
        migrations.upgrade(engine)
        migrations.check_drift(engine)
    finally:
        engine.dispose()
    assert tuple(shape(mirror_db)[2]) == column_names(restorable_mous)

"""Revision 0002 upgrades and downgrades exactly, and leaves the models and the schema in agreement."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, column, select, table
from sqlalchemy.engine import URL

from etl import migrations
from etl.report.views import VIEWS
from tests.conftest import open_engine

VIEW_NAMES = sorted(view.name for view in VIEWS.sorted_tables)
views = table("views", column("table_name"), column("table_schema"), schema="information_schema")
grants = table(
    "role_table_grants", column("grantee"), column("table_name"), column("privilege_type"),
    schema="information_schema",
)


@pytest.fixture
def engine(mirror_db: URL) -> Iterator[Engine]:
    engine = open_engine(mirror_db)
    yield engine
    engine.dispose()


def view_names(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(
            connection.execute(select(views.c.table_name).where(views.c.table_schema == "public")).scalars()
        )


def reader_grants(engine: Engine) -> set[tuple[str, str]]:
    with engine.connect() as connection:
        return {
            (row.table_name, row.privilege_type)
            for row in connection.execute(
                select(grants.c.table_name, grants.c.privilege_type).where(
                    grants.c.grantee == "almamirror_reader"
                )
            )
        }


def test_head_has_the_views_and_no_drift(engine: Engine) -> None:
    assert migrations.current_revision(engine) == migrations.heads()[0]
    assert view_names(engine) == VIEW_NAMES
    migrations.check_drift(engine)


def test_one_head() -> None:
    assert len(migrations.heads()) == 1


def test_downgrade_to_0001_removes_views_and_grants_and_upgrade_restores_them(engine: Engine) -> None:
    granted = reader_grants(engine)
    assert ("restorable_mous", "SELECT") in granted
    migrations.downgrade(engine, "0001")
    assert view_names(engine) == []
    assert reader_grants(engine) == set()
    migrations.upgrade(engine)
    assert view_names(engine) == VIEW_NAMES
    assert reader_grants(engine) == granted
    migrations.check_drift(engine)


def test_downgrade_to_base_and_back(engine: Engine) -> None:
    migrations.downgrade(engine, "base")
    assert migrations.current_revision(engine) is None
    assert view_names(engine) == []
    migrations.upgrade(engine)
    assert view_names(engine) == VIEW_NAMES
    migrations.check_drift(engine)


def test_upgrade_is_idempotent_about_the_role(engine: Engine) -> None:
    """The role outlives a downgrade while other databases use it; upgrading again must not fail."""
    migrations.downgrade(engine, "0001")
    migrations.upgrade(engine)
    migrations.downgrade(engine, "0001")
    migrations.upgrade(engine)
    assert ("data_quality", "SELECT") in reader_grants(engine)

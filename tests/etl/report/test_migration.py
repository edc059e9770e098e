"""The reporting views' revision upgrades and downgrades exactly, and leaves models and schema in agreement.

The views came with revision 0002; later revisions may change them. The tests go below 0002 by the
script directory's own history and back up to whatever the head is, so a new revision needs no edit here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, column, select, table, text
from sqlalchemy.engine import URL

from etl import migrations
from etl.report.views import VIEWS
from tests.conftest import open_engine
from tests.etl.revisions import down_revision, head_revision

# The revision that created the views and the reader role; below it there are neither.
VIEWS_REVISION = "0002"
BEFORE_VIEWS = down_revision(VIEWS_REVISION)
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
    assert migrations.current_revision(engine) == head_revision()
    assert view_names(engine) == VIEW_NAMES
    migrations.check_drift(engine)


def test_downgrade_below_the_views_removes_views_and_grants_and_upgrade_restores_them(
    engine: Engine,
) -> None:
    granted = reader_grants(engine)
    assert ("restorable_mous", "SELECT") in granted
    migrations.downgrade(engine, BEFORE_VIEWS)
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
    migrations.downgrade(engine, BEFORE_VIEWS)
    migrations.upgrade(engine)
    migrations.downgrade(engine, BEFORE_VIEWS)
    migrations.upgrade(engine)
    assert ("data_quality", "SELECT") in reader_grants(engine)


def restorable_mous_state(engine: Engine) -> tuple[str, list[str]]:
    """The text of restorable_mous as PostgreSQL keeps it, and the columns of mous_status."""
    with engine.connect() as connection:
        definition = connection.execute(
            text("SELECT pg_get_viewdef('restorable_mous'::regclass, true)")
        ).scalar_one()
        names = connection.execute(
            text(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
                "AND table_name = 'mous_status' ORDER BY ordinal_position"
            )
        ).scalars().all()
    return definition, list(names)


def test_revision_0004_downgrades_to_exactly_what_the_revision_below_it_made(engine: Engine) -> None:
    below = down_revision("0004")
    migrations.downgrade(engine, "0004")
    at_0004 = restorable_mous_state(engine)
    migrations.downgrade(engine, below)
    downgraded = restorable_mous_state(engine)
    migrations.downgrade(engine, down_revision(below))
    migrations.upgrade(engine, below)
    assert restorable_mous_state(engine) == downgraded  # what the revision below itself creates
    assert downgraded[0] != at_0004[0]
    assert set(at_0004[1]) - set(downgraded[1]) == {
        "obs_project_uid", "ous_part_id", "project_status_uid", "sb_status_uid", "rules_version"
    }
    migrations.upgrade(engine, "0004")
    assert restorable_mous_state(engine) == at_0004
    migrations.upgrade(engine)
    migrations.check_drift(engine)


def test_downgrade_of_0005_restores_the_data_quality_view_below_it(engine: Engine) -> None:
    def definition() -> str:
        with engine.connect() as connection:
            return str(connection.execute(text("SELECT pg_get_viewdef('data_quality'::regclass)")).scalar())

    at_head = definition()
    migrations.downgrade(engine, down_revision("0005"))
    below_0005 = definition()
    assert "latest_run" not in below_0005
    migrations.upgrade(engine, "0005")
    assert definition() == at_head
    migrations.downgrade(engine, down_revision("0005"))
    assert definition() == below_0005

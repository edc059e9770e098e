"""The mirror's readiness items: a synced demo mirror passes; an unmigrated one and a reader role that
cannot read a table fail with their fix."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import URL

from etl.check.items import Item
from etl.check.mirror import check_mirror
from tests.conftest import DatabaseFactory, open_engine
from tests.helpers import connect


def mirror_items(url: URL) -> dict[str, Item]:
    engine = open_engine(url)
    try:
        return {item.name: item for item in check_mirror(engine)}
    finally:
        engine.dispose()


def test_a_synced_mirror_passes(synced_mirror: URL) -> None:
    items = mirror_items(synced_mirror)
    assert list(items) == ["server", "schema", "reader role", "disk"]
    assert all(item.ok for item in items.values()), [item.line() for item in items.values()]
    assert "PostgreSQL" in items["server"].detail
    assert items["schema"].detail.endswith("(this almamirror's head)")


def test_an_unmigrated_mirror_is_told_to_upgrade(databases: DatabaseFactory) -> None:
    items = mirror_items(databases.create("check_unmigrated"))
    assert not items["schema"].ok
    assert items["schema"].detail.startswith("not migrated, this almamirror expects ")
    assert items["schema"].fix == "almamirror db upgrade"


def test_a_table_the_reader_role_cannot_read_is_named(synced_mirror: URL) -> None:
    with connect(synced_mirror) as connection:
        connection.execute(text("REVOKE SELECT ON sync_run FROM almamirror_reader"))
    item = mirror_items(synced_mirror)["reader role"]
    assert not item.ok
    assert item.detail == "almamirror_reader cannot read sync_run"
    assert "GRANT SELECT" in (item.fix or "")


def test_an_unreachable_mirror_is_one_item() -> None:
    url = URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=9, database="x")
    items = mirror_items(url)
    assert list(items) == ["connection"]
    assert not items["connection"].ok

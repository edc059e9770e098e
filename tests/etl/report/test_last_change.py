"""Revision 0008: ``mous_last_change`` follows every change to ``change_event``, and ``restorable_mous``
lists exactly what revision 0006's correlated lookup listed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, text, update

from etl import migrations
from etl.mirror import ChangeEvent, MousLastChange, table_of
from etl.report.views import restorable_mous
from tests.conftest import open_engine
from tests.etl.report.archive import FUTURE, MANUAL, MULTI, NEW, OK
from tests.etl.report.conftest import ArchiveMirror
from tests.helpers import connect

events = table_of(ChangeEvent)
last_change = table_of(MousLastChange)
# Revision 0006's last_change_at, evaluated per MOUS: what the view must still answer.
LOOKED_UP = text("""
    SELECT status.mous_uid, (
        SELECT run.finished_at FROM sync_run AS run
        WHERE run.run_id = COALESCE(
            (SELECT max(event.run_id) FROM change_event AS event WHERE event.mous_uid = status.mous_uid),
            status.derived_run_id)
    ) AS last_change_at
    FROM mous_status AS status
""")


def view_rows(connection: Connection) -> list[dict[str, Any]]:
    query = select(restorable_mous).order_by(restorable_mous.c.mous_uid)
    return [dict(row) for row in connection.execute(query).mappings()]


def kept(connection: Connection) -> dict[str, int]:
    return dict(connection.execute(select(last_change.c.mous_uid, last_change.c.run_id)).all())


def latest_of_events(connection: Connection) -> dict[str, int]:
    query = select(events.c.mous_uid, func.max(events.c.run_id)).where(events.c.mous_uid.is_not(None))
    return dict(connection.execute(query.group_by(events.c.mous_uid)).all())


def assert_view_agrees(connection: Connection) -> None:
    assert kept(connection) == latest_of_events(connection)
    looked_up = dict(connection.execute(LOOKED_UP).all())
    joined = {row["mous_uid"]: row["last_change_at"] for row in view_rows(connection)}
    assert joined == looked_up


def event(run_id: int, mous_uid: str | None, key: str) -> dict[str, Any]:
    return {"run_id": run_id, "table_name": "execution_block", "row_key": key, "mous_uid": mous_uid,
            "kind": "update", "changed_columns": ["qa0_status"], "old_values": {}, "new_values": {}}


def test_the_view_lists_what_revision_0006_listed_and_the_upgrade_fills_the_table(
    archive: ArchiveMirror,
) -> None:
    with connect(archive.url) as connection:
        at_head = view_rows(connection)
        assert_view_agrees(connection)
    engine = open_engine(archive.url)
    try:
        migrations.downgrade(engine, "0007")  # the revision before mous_last_change
        # Revision 0009's downgrade folds the kind pipeline_then_manual into manual (the next sync
        # after the upgrade derives it again).
        at_head = [
            {**row, "calibration_kind": "manual"} if row["calibration_kind"] == "pipeline_then_manual"
            else row
            for row in at_head
        ]
        with connect(archive.url) as connection:
            assert view_rows(connection) == at_head
        migrations.upgrade(engine)
        with connect(archive.url) as connection:
            # The upgrade fills mous_last_change from the events already recorded.
            assert kept(connection) == {OK: 2, FUTURE: 2, NEW: 4, MULTI: 4}
            assert view_rows(connection) == at_head
        migrations.check_drift(engine)
    finally:
        engine.dispose()


def test_inserted_events_only_raise_the_latest_run(archive: ArchiveMirror) -> None:
    with connect(archive.url) as connection:
        connection.execute(insert(events), [event(3, OK, "a"), event(1, NEW, "b"), event(3, MANUAL, "c"),
                                            event(2, None, "d")])
        assert kept(connection)[OK] == 3
        assert kept(connection)[NEW] == 4  # an older run's event does not lower it
        assert kept(connection)[MANUAL] == 3
        assert_view_agrees(connection)


def test_an_event_given_its_mous_later_or_moved_to_another_counts_there(archive: ArchiveMirror) -> None:
    with connect(archive.url) as connection:
        connection.execute(insert(events).values(event(4, None, "unnamed")))
        connection.execute(update(events).where(events.c.row_key == "unnamed").values(mous_uid=MANUAL))
        assert kept(connection)[MANUAL] == 4
        # OK's only run-2 events move to MANUAL: OK keeps none, MANUAL keeps run 4.
        connection.execute(update(events).where(events.c.mous_uid == OK).values(mous_uid=MANUAL))
        assert OK not in kept(connection)
        assert_view_agrees(connection)


def test_deleted_events_fall_back_to_the_earlier_ones_or_to_none(archive: ArchiveMirror) -> None:
    with connect(archive.url) as connection:
        connection.execute(delete(events).where(events.c.mous_uid == NEW, events.c.run_id == 4))
        assert NEW not in kept(connection)
        connection.execute(insert(events).values(event(2, MULTI, "earlier")))
        connection.execute(delete(events).where(events.c.mous_uid == MULTI, events.c.run_id == 4))
        assert kept(connection)[MULTI] == 2
        assert_view_agrees(connection)
        connection.execute(text("TRUNCATE change_event"))
        assert kept(connection) == {}
        assert_view_agrees(connection)

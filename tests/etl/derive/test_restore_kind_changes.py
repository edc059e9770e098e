"""restorable_since follows the restore kind: a change between two kinds other than none is neither gained
nor lost, but recorded; an upgrade to revision 0013 keeps every kind and dates the new ones once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import URL

from etl import migrations
from etl.demo.fixed_cases import FIXED_CASES
from etl.derive.restorability import RULES_VERSION
from etl.mirror import ChangeEvent, MousStatus, table_of
from etl.source.contract import CONTRACT, contract_table
from tests.conftest import open_engine
from tests.helpers import connect, rows, scalar, sync

status = table_of(MousStatus)
events = table_of(ChangeEvent)
product_files = contract_table(CONTRACT, "asa_product_files")
FLUX = FIXED_CASES["pipeline_then_flux_renormalisation"]


def _kind_and_since(mirror: URL, mous_uid: str) -> tuple[str, object]:
    [row] = rows(mirror, select(status.c.restore_kind, status.c.restorable_since)
                 .where(status.c.mous_uid == mous_uid))
    return row["restore_kind"], row["restorable_since"]


def test_a_change_between_restorable_kinds_is_recorded_not_gained_or_lost(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    kind, since = _kind_and_since(synced_mirror, FLUX.mous_uid)
    assert kind == "scriptforpi"
    assert since is not None
    with connect(source_copy) as connection:
        removed = connection.execute(
            delete(product_files).where(product_files.c.ngas_file_id.like("%scriptForFluxCalibration.py"))
        ).rowcount
    assert removed >= 1

    summary = sync(source_copy, synced_mirror, test_home)
    assert _kind_and_since(synced_mirror, FLUX.mous_uid) == ("pipeline_ppr", since)
    assert FLUX.mous_uid not in summary.newly_restorable
    assert FLUX.mous_uid not in [lost.mous_uid for lost in summary.no_longer_restorable]
    [change] = rows(synced_mirror, select(events.c.old_values, events.c.new_values).where(
        events.c.run_id == summary.run_id, events.c.mous_uid == FLUX.mous_uid,
        events.c.table_name == "mous_status", events.c.changed_columns.contains(["restore_kind"]),
    ))
    assert (change["old_values"]["restore_kind"], change["new_values"]["restore_kind"]) == (
        "scriptforpi", "pipeline_ppr"
    )


def test_an_upgrade_keeps_each_kind_and_the_next_sync_dates_the_new_ones_once(
    synced_mirror: URL, demo_source: URL, test_home: Path
) -> None:
    kinds = {row["mous_uid"]: row["restore_kind"]
             for row in rows(synced_mirror, select(status.c.mous_uid, status.c.restore_kind))}
    engine = open_engine(synced_mirror)
    try:
        migrations.downgrade(engine, "0012")
        with engine.begin() as connection:
            # As the rules before revision 0013 derived them.
            connection.execute(update(status).values(rules_version=RULES_VERSION - 1))
        migrations.upgrade(engine)
    finally:
        engine.dispose()
    after = {row["mous_uid"]: row["restore_kind"]
             for row in rows(synced_mirror, select(status.c.mous_uid, status.c.restore_kind))}
    assert after == kinds
    undated = {row["mous_uid"] for row in rows(synced_mirror, select(status.c.mous_uid).where(
        status.c.restore_kind.not_in(("none", "pipeline_ppr"))))}
    assert undated
    assert scalar(synced_mirror, select(func.count()).where(
        status.c.mous_uid.in_(undated), status.c.restorable_since.is_not(None))) == 0

    first = sync(demo_source, synced_mirror, test_home)
    assert set(first.newly_restorable) == undated
    assert sync(demo_source, synced_mirror, test_home).newly_restorable == []

"""OUSes that vanish from the source take their derived rows with them, in a full sync and a nightly one.

A full sync re-derives every member OUS; one that is no longer in the source (or no longer a member,
its group gone) is not a member any more, and its derived rows must still go: they name an OUS row
the same sync deletes, and the deferred foreign keys would refuse the commit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.engine import URL

from etl.mirror import (
    CalibrationRecord,
    CalibrationRecordProduct,
    CalibrationRecordSession,
    MousStatus,
    OusStatusDocument,
    OusStatusSession,
    SessionAssignment,
    SyncRun,
    table_of,
)
from etl.source.contract import CONTRACT, contract_table
from tests.helpers import connect, rows, sync

ous_status = contract_table(CONTRACT, "obs_unit_set_status")
schedblocks = contract_table(CONTRACT, "bmmv_schedblock")
execblocks = contract_table(CONTRACT, "aqua_execblock")
products = contract_table(CONTRACT, "asa_product_files")

DERIVED = {
    table_of(MousStatus): "mous_uid",
    table_of(OusStatusDocument): "ous_uid",
    table_of(OusStatusSession): "mous_uid",
    table_of(SessionAssignment): "mous_uid",
    table_of(CalibrationRecord): "mous_uid",
    table_of(CalibrationRecordSession): "mous_uid",
    table_of(CalibrationRecordProduct): "mous_uid",
}


def derived_rows(mirror: URL, mous_uids: list[str]) -> dict[str, int]:
    """Derived rows per table that name one of ``mous_uids`` (tables without any left out)."""
    counts: dict[str, int] = {}
    with connect(mirror) as connection:
        for table, column in DERIVED.items():
            found = connection.execute(
                select(func.count()).where(table.c[column].in_(mous_uids))
            ).scalar_one()
            if found:
                counts[table.name] = found
    return counts


def calibrated_mouses(mirror: URL, count: int) -> list[str]:
    """MOUSes with a calibration record, an OUSStatus document and sessions: rows in every derived table."""
    record, assignment = table_of(CalibrationRecord), table_of(SessionAssignment)
    chosen = (
        select(record.c.mous_uid)
        .where(record.c.mous_uid.in_(select(assignment.c.mous_uid)))
        .order_by(record.c.mous_uid)
        .limit(count)
    )
    return [row["mous_uid"] for row in rows(mirror, chosen)]


def group_with_members(mirror: URL, avoid: list[str]) -> tuple[str, list[str]]:
    """A group OUS and its member OUSes (none of ``avoid``)."""
    status = table_of(MousStatus)
    [first] = rows(
        mirror,
        select(status.c.gous_uid).where(status.c.mous_uid.not_in(avoid)).order_by(status.c.mous_uid).limit(1),
    )
    members = rows(mirror, select(status.c.mous_uid).where(status.c.gous_uid == first["gous_uid"]))
    return first["gous_uid"], [row["mous_uid"] for row in members]


@pytest.mark.parametrize("full", [True, False], ids=["full", "nightly"])
def test_mouses_ebs_and_products_removed_from_the_source(
    source_copy: URL, synced_mirror: URL, test_home: Path, full: bool
) -> None:
    vanished = calibrated_mouses(synced_mirror, 3)
    assert len(vanished) == 3
    group, orphaned = group_with_members(synced_mirror, vanished)
    assert set(derived_rows(synced_mirror, vanished)) == {table.name for table in DERIVED}
    assert derived_rows(synced_mirror, orphaned)
    with connect(source_copy) as source:
        blocks = select(schedblocks.c.archive_uid).where(schedblocks.c.mous_status_uid.in_(vanished))
        source.execute(delete(execblocks).where(execblocks.c.schedblockuid.in_(blocks)))
        source.execute(delete(products).where(products.c.asa_ous_id.in_(vanished)))
        source.execute(delete(ous_status).where(ous_status.c.status_entity_id.in_([*vanished, group])))

    summary = sync(source_copy, synced_mirror, test_home, full=full)

    assert summary.full == full
    assert derived_rows(synced_mirror, vanished) == {}
    # Members of a vanished group are in the source still, but no longer members of any project.
    assert derived_rows(synced_mirror, orphaned) == {}
    runs = table_of(SyncRun)
    assert [row["status"] for row in rows(synced_mirror, select(runs.c.status).order_by(runs.c.run_id))] == [
        "succeeded", "succeeded"
    ]
    # The next full sync finds nothing more to remove.
    again = sync(source_copy, synced_mirror, test_home, full=True)
    assert again.changes == 0


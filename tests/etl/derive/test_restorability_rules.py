"""The restorability rules that stand for the PPR generator's checks, applied by incremental syncs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, literal, select, text, update
from sqlalchemy.engine import URL

from etl import archive_names, migrations
from etl.demo.fixed_cases import FIXED_CASES
from etl.derive.restorability import RULES_VERSION, restore_name
from etl.mirror import MousStatus, table_of
from etl.source.contract import CONTRACT, contract_table
from tests.conftest import DatabaseFactory, open_engine
from tests.etl.revisions import down_revision
from tests.helpers import connect, rows, scalar, sync

status = table_of(MousStatus)
projects = contract_table(CONTRACT, "bmmv_obsproject")
schedblocks = contract_table(CONTRACT, "bmmv_schedblock")
SEED = FIXED_CASES["seed_example"]
SEED_PROJECT = "uid://A001/X1220/Xa74"


@pytest.fixture(scope="module")
def schema_only(databases: DatabaseFactory, migrated_template: str) -> Iterator[URL]:
    """An empty migrated mirror whose SQL functions the module's tests call, and nothing else: shared."""
    yield databases.create("rules_functions", template=migrated_template)
    databases.discard("rules_functions")


def verdict(mirror: URL, mous_uid: str) -> tuple[bool, str | None, str | None]:
    [row] = rows(
        mirror, select(status.c.restorable, status.c.reason_code, status.c.reason)
        .where(status.c.mous_uid == mous_uid)
    )
    return row["restorable"], row["reason_code"], row["reason"]


def test_a_changed_project_code_re_derives_every_mous_of_the_project(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    """A project row names no MOUS, but its code is in each of their PPRs and request directories."""
    with connect(source_copy) as source:
        source.execute(
            update(projects).where(projects.c.prj_archive_uid == SEED_PROJECT)
            .values(prj_code="2017.1.00895.S ")
        )
    sync(source_copy, synced_mirror, test_home)
    restorable, code, reason = verdict(synced_mirror, SEED.mous_uid)
    assert (restorable, code) == (False, "malformed_reference")
    assert reason is not None
    assert reason.startswith("the project code '2017.1.00895.S ' is malformed")
    # The incremental run reached what a full one derives.
    assert sync(source_copy, synced_mirror, test_home, full=True).changes == 0


@pytest.mark.parametrize(
    ("requested", "shown"), [("FOUR-M", "'FOUR-M'"), (None, "empty")]
)
def test_an_array_without_a_restore_task_is_unknown_array(
    source_copy: URL, synced_mirror: URL, test_home: Path, requested: str | None, shown: str
) -> None:
    with connect(source_copy) as source:
        source.execute(
            update(schedblocks).where(schedblocks.c.mous_status_uid == SEED.mous_uid)
            .values(requestedarray=requested)
        )
    sync(source_copy, synced_mirror, test_home)
    restorable, code, reason = verdict(synced_mirror, SEED.mous_uid)
    assert (restorable, code) == (False, "unknown_array")
    assert f"REQUESTEDARRAY is {shown}," in (reason or "")


def test_after_an_upgrade_the_next_sync_derives_every_mous_by_the_new_rules(
    synced_mirror: URL, demo_source: URL, test_home: Path
) -> None:
    """Rows from before revision 0004 are rules version 1: re-derived although nothing changed."""
    engine = open_engine(synced_mirror)
    try:
        migrations.downgrade(engine, down_revision("0004"))
        migrations.upgrade(engine)
    finally:
        engine.dispose()
    total = scalar(synced_mirror, select(func.count()).select_from(status))
    assert scalar(synced_mirror, select(func.count()).where(status.c.rules_version == 1)) == total > 0
    assert scalar(synced_mirror, select(func.count()).where(status.c.obs_project_uid.is_not(None))) == 0
    summary = sync(demo_source, synced_mirror, test_home)
    assert summary.mous_derived == total
    current = status.c.rules_version == RULES_VERSION
    assert scalar(synced_mirror, select(func.count()).where(current)) == total
    assert scalar(synced_mirror, select(func.count()).where(status.c.obs_project_uid.is_not(None))) == total
    assert verdict(synced_mirror, FIXED_CASES["empty_requested_array"].mous_uid)[1] == "unknown_array"


@pytest.mark.parametrize(
    "name",
    [
        "member.uid___A001_X1_X2.session_1.caltables.tgz",
        "member.uid___A001_X1_X2.session_1.caltables.tar.gz",
        "uid___A001_X1_X2.session_1.caltables.tar.gz",
        "member.member.x.tgz",
        "member.",
        "member..tar.gz",
        ".tar.gz",
        "x.tar.gz.tar.gz",
        "membe.x.tar.gz",
        "Member.x.tar.gz",
        "member%x.tar_gz",
        "calibration/member.uid___A001_X1_X2.hifa_calimage.pipeline_manifest.xml",
        "..",
    ],
)
def test_the_verdict_names_products_as_the_request_directory_does(schema_only: URL, name: str) -> None:
    """The SQL rule behind product_name_clash and unsafe_product_name is archive_names', name for name."""
    with connect(schema_only) as connection:
        in_sql = connection.execute(select(restore_name(literal(name)))).scalar_one()
    assert in_sql == archive_names.restore_name(name)


def test_pass_eb_uids_are_checked_exactly_as_the_schema_does(schema_only: URL) -> None:
    """ARCHIVE_UID_PATTERN in PostgreSQL: anchored, lower-case hex, no stray whitespace or newline."""
    from etl.archive_names import ARCHIVE_UID_PATTERN, is_canonical_uid

    candidates = [
        "uid://A002/Xc77d4f/X522", "uid://A002/Xc77d4f/X522 ", " uid://A002/Xc77d4f/X522",
        "uid://A002/Xc77d4f/X522\n", "uid://A002/XC77D4F/X522", "uid://A02/Xc77d4f/X522",
        "uid___A002_Xc77d4f_X522", "uid://A002/Xc77d4f/X522/X1", "uid://A002/X/X1",
    ]
    matches = text("SELECT :uid ~ :pattern")
    with connect(schema_only) as connection:
        matched = {
            uid: connection.execute(matches, {"uid": uid, "pattern": ARCHIVE_UID_PATTERN}).scalar_one()
            for uid in candidates
        }
    assert matched == {uid: is_canonical_uid(uid) for uid in candidates}
    assert sum(matched.values()) == 1

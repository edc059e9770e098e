"""A baseline sync of the small demo archive: the mirror equals the source, and derives what it should."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from etl.demo.fixed_cases import FIXED_CASES
from etl.load.extract import source_snapshot
from etl.load.mapping import mirrored_tables
from etl.mirror import ChangeEvent, MousStatus, SessionAssignment, SyncRun, SyncRunTable, table_of
from etl.source.contract import CONTRACT
from tests.conftest import open_engine
from tests.helpers import connect, mirror_fingerprints, rows, scalar, sync
from tests.ppr.examples import SEED_SESSIONS as SEED_EXAMPLE_SESSIONS

# The seed document's example PPR, stated once for all tests (tests/ppr/examples.py).
SEED_SESSIONS = tuple(SEED_EXAMPLE_SESSIONS[number] for number in sorted(SEED_EXAMPLE_SESSIONS))


def derived_sessions(mirror: URL, mous_uid: str) -> tuple[tuple[str, ...], ...]:
    """SESSION_1..K of a MOUS as the mirror derives them: Pass EBs in order, () when empty."""
    assignment = table_of(SessionAssignment)
    found = rows(
        mirror,
        select(assignment)
        .where(assignment.c.mous_uid == mous_uid)
        .order_by(assignment.c.session_number, assignment.c.position),
    )
    sessions: dict[int, list[str]] = defaultdict(list)
    count = max((row["session_number"] for row in found), default=0)
    for row in found:
        if row["qa0_status"] == "Pass":
            sessions[row["session_number"]].append(row["eb_uid"])
    return tuple(tuple(sessions[number]) for number in range(1, count + 1))


def test_mirror_matches_the_source_row_for_row(synced_mirror: URL, demo_source: URL, test_home: Path) -> None:
    source_engine = open_engine(demo_source)
    mirror_engine = open_engine(synced_mirror)
    try:
        with source_snapshot(source_engine, "alma") as source, mirror_engine.connect() as mirror:
            for mapping in mirrored_tables(CONTRACT):
                from etl.load.extract import source_rows

                expected = list(source_rows(source, mapping, 5000))
                mirrored = [
                    tuple(row)
                    for row in mirror.execute(select(*(mapping.target.c[c] for c in mapping.loaded)))
                ]
                assert len(mirrored) == len(expected), mapping.name
                assert set(mirrored) == set(expected), mapping.name
                assert expected, f"the demo archive should fill {mapping.source.name}"
    finally:
        source_engine.dispose()
        mirror_engine.dispose()


def test_baseline_run_is_recorded_with_per_table_figures(synced_mirror: URL) -> None:
    runs = table_of(SyncRun)
    run = rows(synced_mirror, select(runs))
    assert len(run) == 1
    assert run[0]["status"] == "succeeded"
    assert run[0]["baseline"]
    assert run[0]["error"] is None
    assert run[0]["finished_at"] >= run[0]["started_at"]
    figures = {
        row["table_name"]: row
        for row in rows(synced_mirror, select(table_of(SyncRunTable)))
    }
    assert figures["product_file"]["rows_read"] == figures["product_file"]["inserted"] > 0
    assert figures["mous_status"]["inserted"] == run[0]["mous_derived"] > 0
    # The baseline records the rows it loaded as figures, not one event per row.
    assert scalar(synced_mirror, select(func.count()).select_from(table_of(ChangeEvent))) == 0


def test_a_second_sync_with_no_source_change_writes_only_its_run_record(
    synced_mirror: URL, demo_source: URL, test_home: Path
) -> None:
    before = mirror_fingerprints(synced_mirror, skip=frozenset({"sync_run", "sync_run_table"}))
    summary = sync(demo_source, synced_mirror, test_home)
    assert summary.changes == 0
    assert summary.mous_derived == 0
    assert summary.newly_restorable == []
    assert (summary.quality.opened, summary.quality.resolved) == (0, 0)
    assert mirror_fingerprints(synced_mirror, skip=frozenset({"sync_run", "sync_run_table"})) == before
    statuses = [row["status"] for row in rows(synced_mirror, select(table_of(SyncRun)))]
    assert statuses == ["succeeded", "succeeded"]


def test_full_resync_derives_the_same_as_the_baseline(
    synced_mirror: URL, demo_source: URL, test_home: Path
) -> None:
    before = mirror_fingerprints(synced_mirror, skip=frozenset({"sync_run", "sync_run_table",
                                                                 "data_quality_issue"}))
    summary = sync(demo_source, synced_mirror, test_home, full=True)
    assert summary.full
    assert summary.mous_derived > 0
    assert summary.changes == 0
    after = mirror_fingerprints(synced_mirror, skip=frozenset({"sync_run", "sync_run_table",
                                                                "data_quality_issue"}))
    assert after == before


def test_the_seed_mous_derives_the_fifteen_sessions_of_the_seed_ppr(synced_mirror: URL) -> None:
    assert derived_sessions(synced_mirror, "uid://A001/X129e/Xb6") == SEED_SESSIONS
    status = table_of(MousStatus)
    row = rows(synced_mirror, select(status).where(status.c.mous_uid == "uid://A001/X129e/Xb6"))[0]
    assert row["restorable"]
    assert row["calibration_kind"] == "pipeline"
    assert row["caltables_sessions"] == list(range(1, 16))
    assert (row["session_count"], row["eb_count"], row["pass_eb_count"]) == (15, 16, 16)


@pytest.mark.parametrize("case_name", sorted(FIXED_CASES))
def test_every_fixed_case_derives_its_expected_sessions_and_status(
    synced_mirror_shared: URL, case_name: str
) -> None:
    case = FIXED_CASES[case_name]
    assert derived_sessions(synced_mirror_shared, case.mous_uid) == case.expected_sessions
    status = table_of(MousStatus)
    row = rows(synced_mirror_shared, select(status).where(status.c.mous_uid == case.mous_uid))[0]
    assert row["restorable"] is case.expected_restorable, row["reason"]
    assert row["reason_code"] == case.expected_reason
    assert (row["reason"] is None) is case.expected_restorable
    # An SB without a known REQUESTEDARRAY has no array family: that is the unknown_array case.
    assert row["array_family"] == (None if case.expected_reason == "unknown_array" else case.array)
    if case.expected_restorable:
        assert row["restorable_since_run_id"] == 1
        assert row["sessions_match_caltables"]


@pytest.fixture(scope="module")
def synced_mirror_shared(databases: object, synced_template: str) -> URL:
    """One read-only copy of the synced mirror for the parametrised checks above."""
    from tests.conftest import DatabaseFactory

    assert isinstance(databases, DatabaseFactory)
    return databases.create("s_fixed_cases", template=synced_template)


def test_restorable_mous_statuses_are_consistent(synced_mirror: URL) -> None:
    status = table_of(MousStatus)
    with connect(synced_mirror) as connection:
        bad = connection.execute(
            select(status.c.mous_uid).where(
                status.c.restorable, status.c.caltables_sessions == [], status.c.pass_eb_count == 0
            )
        ).all()
        totals = connection.execute(
            select(func.count(), func.count().filter(status.c.restorable))
        ).one()
    assert bad == []
    assert totals[0] > totals[1] > 0


def test_the_demo_archive_and_the_mirror_share_the_reason_codes() -> None:
    """The demo states its expectations in the mirror's vocabulary, without importing the mirror."""
    from etl.demo.case_plans import REASONS
    from etl.mirror.derived import REASON_CODES

    assert tuple(REASONS) == REASON_CODES

"""A baseline sync of the small demo archive: the mirror equals the source, and derives what it should."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import URL

from etl.demo.fixed_cases import FIXED_CASES
from etl.mirror import (
    MIRRORED_MODELS,
    ChangeEvent,
    MousStatus,
    SessionAssignment,
    SyncRun,
    SyncRunTable,
    table_of,
)
from tests.etl.derive.restorability_rules import REASONS_IN_ORDER, Verdict, judge_every_mous
from tests.etl.sync import contract_columns
from tests.etl.sync.contract_columns import MIRRORED_FROM, stored_columns
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


def test_mirror_matches_the_source_row_for_row(synced_mirror_shared: URL, demo_source: URL) -> None:
    """Every mirrored table holds exactly its source table's rows, read as CONTRACT.md says."""
    with connect(demo_source) as source, connect(synced_mirror_shared) as mirror:
        for mirror_table in MIRRORED_FROM:
            mirrored_columns = [name for name, _ in MIRRORED_FROM[mirror_table][1]]
            # The written-out correspondence covers every column the mirror stores (not the generated).
            assert stored_columns(mirror, mirror_table) == set(mirrored_columns), mirror_table
            expected = contract_columns.source_rows(source, mirror_table)
            assert expected, f"the demo archive should fill the source of {mirror_table}"
            assert contract_columns.mirror_rows(mirror, mirror_table) == expected, mirror_table


def test_every_mirrored_table_is_compared_with_its_source() -> None:
    assert set(MIRRORED_FROM) == {model.__tablename__ for model in MIRRORED_MODELS}


def test_empty_source_strings_are_mirrored_as_null(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    """Oracle stores '' as NULL; the stand-in keeps '', and the mirror must not tell them apart."""
    with connect(source_copy) as source:
        eb_uid = source.execute(text(
            "UPDATE alma.aqua_execblock SET obsprojectcode = '' "
            "WHERE execblockuid = (SELECT min(execblockuid) FROM alma.aqua_execblock) RETURNING execblockuid"
        )).scalar_one()
    sync(source_copy, synced_mirror, test_home)
    with connect(synced_mirror) as mirror:
        stored = mirror.execute(
            text("SELECT project_code FROM execution_block WHERE eb_uid = :eb"), {"eb": eb_uid}
        ).one()
    assert stored.project_code is None

def test_baseline_run_is_recorded_with_per_table_figures(synced_mirror_shared: URL) -> None:
    runs = table_of(SyncRun)
    run = rows(synced_mirror_shared, select(runs))
    assert len(run) == 1
    assert run[0]["status"] == "succeeded"
    assert run[0]["baseline"]
    assert run[0]["error"] is None
    assert run[0]["finished_at"] >= run[0]["started_at"]
    figures = {
        row["table_name"]: row
        for row in rows(synced_mirror_shared, select(table_of(SyncRunTable)))
    }
    assert figures["product_file"]["rows_read"] == figures["product_file"]["inserted"] > 0
    assert figures["mous_status"]["inserted"] == run[0]["mous_derived"] > 0
    # The baseline records the rows it loaded as figures, not one event per row.
    assert scalar(synced_mirror_shared, select(func.count()).select_from(table_of(ChangeEvent))) == 0


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
    # A full sync reads every table whole and records so in source_buckets (tests/etl/load/test_buckets.py).
    before = mirror_fingerprints(synced_mirror, skip=frozenset({"sync_run", "sync_run_table",
                                                                 "data_quality_issue", "source_buckets"}))
    summary = sync(demo_source, synced_mirror, test_home, full=True)
    assert summary.full
    assert summary.mous_derived > 0
    assert summary.changes == 0
    after = mirror_fingerprints(synced_mirror, skip=frozenset({"sync_run", "sync_run_table",
                                                                "data_quality_issue", "source_buckets"}))
    assert after == before


def test_the_seed_mous_derives_the_fifteen_sessions_of_the_seed_ppr(synced_mirror_shared: URL) -> None:
    assert derived_sessions(synced_mirror_shared, "uid://A001/X129e/Xb6") == SEED_SESSIONS
    status = table_of(MousStatus)
    row = rows(synced_mirror_shared, select(status).where(status.c.mous_uid == "uid://A001/X129e/Xb6"))[0]
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
    """One copy of the synced mirror for the module's tests that only read it."""
    from tests.conftest import DatabaseFactory

    assert isinstance(databases, DatabaseFactory)
    return databases.create("s_fixed_cases", template=synced_template)


def test_every_mous_is_judged_as_the_rules_read_from_the_source_say(
    synced_mirror_shared: URL, demo_source: URL
) -> None:
    """Each MOUS's restorability, reason and facts agree with the rules applied to the source by hand."""
    with connect(demo_source) as source:
        expected = judge_every_mous(source)
    status = table_of(MousStatus)
    derived = {
        row["mous_uid"]: (row["restorable"], Verdict(
            reason=row["reason_code"],
            calibration_kind=row["calibration_kind"],
            pass_eb_count=row["pass_eb_count"],
            session_count=row["session_count"],
            caltables_sessions=tuple(row["caltables_sessions"]),
            calibration_record=row["calibration_record"],
        ))
        for row in rows(synced_mirror_shared, select(status))
    }
    assert set(derived) == set(expected)
    differing = {
        uid: (derived[uid][1], verdict) for uid, verdict in expected.items() if derived[uid][1] != verdict
    }
    assert differing == {}
    assert all(restorable is (verdict.reason is None) for restorable, verdict in derived.values())
    # The demo archive exercises every rule, so each of them was compared above.
    reasons = Counter(verdict.reason for verdict in expected.values())
    assert set(reasons) == {None, *REASONS_IN_ORDER}, reasons


def test_the_demo_archive_and_the_mirror_share_the_reason_codes() -> None:
    """The demo states its expectations in the mirror's vocabulary, without importing the mirror."""
    from etl.demo.case_plans import REASONS
    from etl.mirror.reasons import REASON_CODES

    assert tuple(REASONS) == REASON_CODES

"""Data-quality findings: every kind is recorded, none fails a sync, and fixed ones are resolved."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import URL

from etl.demo.fixed_cases import FIXED_CASES
from etl.mirror import DataQualityIssue, SyncRun, table_of
from etl.mirror.bookkeeping import QUALITY_KINDS
from etl.report.views import data_quality
from etl.source.contract import CONTRACT, contract_table
from tests.helpers import connect, rows, scalar, sync

issues = table_of(DataQualityIssue)
shiftlog = contract_table(CONTRACT, "shiftlog_entries")
schedblocks = contract_table(CONTRACT, "bmmv_schedblock")

# Found in the small demo archive by the baseline sync itself (which reads NGAS's stand-in).
IN_THE_DEMO = set(QUALITY_KINDS) - {"eb_without_shiftlog", "sb_unknown_mous", "quarantined_row"}


def open_issues(mirror: URL) -> list[dict[str, object]]:
    return [dict(r) for r in rows(mirror, select(issues).where(issues.c.resolved_run_id.is_(None)))]


def test_the_baseline_records_the_demo_archives_problems(synced_mirror: URL) -> None:
    found = open_issues(synced_mirror)
    assert {issue["kind"] for issue in found} == IN_THE_DEMO
    by_kind = {(issue["kind"], issue["mous_uid"]) for issue in found}
    assert ("malformed_status_xml", FIXED_CASES["malformed_status_xml"].mous_uid) in by_kind
    assert ("missing_status_xml", FIXED_CASES["missing_status_xml"].mous_uid) in by_kind
    assert ("status_xml_mismatch", FIXED_CASES["status_xml_disagrees"].mous_uid) in by_kind
    assert ("asa_other_mous", FIXED_CASES["asa_under_two_mous"].mous_uid) in by_kind
    assert ("asa_missing_eb", FIXED_CASES["asa_missing_eb"].mous_uid) in by_kind
    assert ("eb_without_session", FIXED_CASES["eb_without_session"].mous_uid) in by_kind
    assert ("unparsed_product_name", FIXED_CASES["unparsable_product"].mous_uid) in by_kind
    assert ("eb_null_end_time", FIXED_CASES["null_stop_time"].mous_uid) in by_kind
    assert ("session_null_start_time", FIXED_CASES["null_session_start"].mous_uid) in by_kind
    assert ("duplicate_shiftlog", FIXED_CASES["duplicate_shiftlog"].mous_uid) in by_kind
    assert all(issue["first_seen_run_id"] == issue["last_seen_run_id"] == 1 for issue in found)
    assert all(issue["detail"] for issue in found)
    # The problems were recorded, not fatal: these MOUSes are still restorable.
    assert FIXED_CASES["malformed_status_xml"].expected_restorable


def test_new_problems_open_issues_and_fixed_ones_are_resolved(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    case = FIXED_CASES["seed_first"]
    lone_eb = case.expected_sessions[2][0]
    with connect(source_copy) as source:
        removed = list(source.execute(select(shiftlog).where(shiftlog.c.se_eb_uid == lone_eb)).mappings())
        source.execute(delete(shiftlog).where(shiftlog.c.se_eb_uid == lone_eb))
        source.execute(insert(schedblocks).values(
            archive_uid="uid://A001/X1f00/X1", mous_status_uid="uid://A001/X1f00/X2", sb_name="orphan",
            requestedarray="TWELVE-M",
        ))
    summary = sync(source_copy, synced_mirror, test_home)
    # Without its shift-log rows the EB drops out of the session rule, taking SESSION_3 with it, so the
    # OUSStatus document (three sessions) no longer agrees either.
    assert summary.quality.opened == 3
    opened = {(i["kind"], i["subject"]) for i in open_issues(synced_mirror) if i["first_seen_run_id"] == 2}
    assert opened == {
        ("eb_without_shiftlog", lone_eb),
        ("sb_unknown_mous", "uid://A001/X1f00/X1"),
        ("status_xml_mismatch", case.mous_uid),
    }

    with connect(source_copy) as source:
        source.execute(insert(shiftlog), removed)
        source.execute(delete(schedblocks).where(schedblocks.c.archive_uid == "uid://A001/X1f00/X1"))
    fixed = sync(source_copy, synced_mirror, test_home)
    assert fixed.quality.resolved == 3
    assert {i["kind"] for i in open_issues(synced_mirror)} == IN_THE_DEMO
    resolved = rows(synced_mirror, select(issues.c.kind).where(issues.c.resolved_run_id == fixed.run_id))
    assert {r["kind"] for r in resolved} == {"eb_without_shiftlog", "sb_unknown_mous", "status_xml_mismatch"}



execblocks = contract_table(CONTRACT, "aqua_execblock")
sync_runs = table_of(SyncRun)


def test_an_incremental_sync_refreshes_last_seen_of_every_open_issue(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    """Re-checked (its MOUS changed) or untouched (nothing it is computed from changed): still seen."""
    null_end = FIXED_CASES["null_stop_time"].mous_uid
    untouched = FIXED_CASES["duplicate_shiftlog"].mous_uid
    with connect(source_copy) as source:
        # A change to the MOUS's EB that keeps the finding: the end time is still missing.
        source.execute(
            execblocks.update()
            .where(execblocks.c.endtime.is_(None), execblocks.c.qa0status == "Pass")
            .values(execfraction=0.5)
        )
    second = sync(source_copy, synced_mirror, test_home)
    assert second.mous_derived >= 1
    finished = {
        row["run_id"]: row["finished_at"]
        for row in rows(synced_mirror, select(sync_runs.c.run_id, sync_runs.c.finished_at))
    }
    seen = {
        (row["kind"], row["mous_uid"]): row for row in rows(synced_mirror, select(data_quality))
    }
    for key in (("eb_null_end_time", null_end), ("duplicate_shiftlog", untouched)):
        assert seen[key]["first_seen_at"] == finished[1]
        assert seen[key]["last_seen_at"] == finished[second.run_id] > finished[1]
    third = sync(source_copy, synced_mirror, test_home)  # no change at all
    assert third.changes == 0
    refreshed = rows(synced_mirror, select(data_quality.c.last_seen_at).distinct())
    assert [row["last_seen_at"] for row in refreshed] == [
        scalar(synced_mirror, select(sync_runs.c.finished_at).where(sync_runs.c.run_id == third.run_id))
    ]

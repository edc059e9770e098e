"""Every reporting view against the hand-built archive, whose answers are known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Table, column, func, insert, select, table, text, update
from sqlalchemy.engine import URL

from etl.mirror import MousStatus, Ous, table_of
from etl.mirror.reasons import REASON_CODES
from etl.report.views import (
    VIEWS,
    column_names,
    data_quality,
    mous_sessions,
    newly_restorable,
    recent_changes,
    restorable_mous,
)
from tests.etl.report.archive import (
    ALL_MOUS,
    CODE_A,
    CODE_B,
    DELETED,
    EVENTS,
    FUTURE,
    LAST_YEAR,
    LATEST_RUN,
    MANUAL,
    MISMATCH,
    MULTI,
    NEW,
    NO_CAL,
    NO_PASS,
    OK,
    OK_EBS,
    REASONS,
    RESTORABLE,
    build_archive,
    caltables_name,
    last_change_run,
    naive_utc,
)
from tests.etl.report.conftest import ArchiveMirror
from tests.helpers import connect


def by_mous(url: URL, view: Table) -> dict[str, dict[str, Any]]:
    with connect(url) as connection:
        return {row["mous_uid"]: dict(row) for row in connection.execute(select(view)).mappings()}


@pytest.fixture
def archive(shared_archive: ArchiveMirror) -> ArchiveMirror:
    """The module's shared archive: the tests that change it take ``own_archive``."""
    return shared_archive


def test_the_core_tables_match_the_views_in_the_database(archive: ArchiveMirror) -> None:
    columns = table("columns", column("table_name"), column("column_name"), column("ordinal_position"),
                    schema="information_schema")
    with connect(archive.url) as connection:
        for view in VIEWS.sorted_tables:
            names = connection.execute(
                select(columns.c.column_name)
                .where(columns.c.table_name == view.name)
                .order_by(columns.c.ordinal_position)
            ).scalars().all()
            assert tuple(names) == column_names(view), view.name


def test_restorable_mous_has_one_row_per_member_ous(archive: ArchiveMirror) -> None:
    rows = by_mous(archive.url, restorable_mous)
    assert sorted(rows) == sorted(ALL_MOUS)
    assert {uid for uid, row in rows.items() if row["restorable"]} == set(RESTORABLE)


@pytest.mark.parametrize("mous_uid", list(REASONS))
def test_each_reason_a_mous_is_not_restorable(archive: ArchiveMirror, mous_uid: str) -> None:
    row = by_mous(archive.url, restorable_mous)[mous_uid]
    assert row["restorable"] is False
    assert row["reason_code"] == REASONS[mous_uid]
    assert row["reason"] == f"because {REASONS[mous_uid]}"
    assert row["restorable_since"] is None


def test_every_reason_code_is_covered() -> None:
    assert sorted(REASONS.values()) == sorted(REASON_CODES)


def test_a_restorable_mous_has_no_reason_even_if_the_status_row_kept_one(own_archive: ArchiveMirror) -> None:
    archive = own_archive
    with connect(archive.url) as connection:
        status = table_of(MousStatus)
        # The constraint allows a reason text on a restorable MOUS; the view never shows one.
        connection.execute(update(status).where(status.c.mous_uid == OK).values(reason="stale text"))
    row = by_mous(archive.url, restorable_mous)[OK]
    assert (row["restorable"], row["reason_code"], row["reason"]) == (True, None, None)


def test_restorable_mous_columns(archive: ArchiveMirror) -> None:
    row = by_mous(archive.url, restorable_mous)[OK]
    assert row["project_code"] == CODE_A
    # Project A has two proposals; the earliest cycle's is chosen.
    assert (row["cycle"], row["pi"]) == ("2017.1", "Ada Lovelace")
    assert (row["array_family"], row["band"]) == ("12m", "ALMA_RB_07")
    assert (row["eb_count"], row["pass_eb_count"], row["session_count"], row["empty_session_count"]) == (
        4, 3, 3, 1
    )
    assert (row["calibration_kind"], row["caltables_sessions"]) == ("pipeline", [1, 3])
    assert row["restorable_since"] == archive.clock.run_finished(1) - timedelta(minutes=3)
    assert row["release_date"] == archive.clock.released_this_year()
    new = by_mous(archive.url, restorable_mous)[NEW]
    assert (new["project_code"], new["cycle"], new["pi"], new["array_family"]) == (
        CODE_B, "2018.1", "Bea Ortiz", "7m"
    )


def test_proprietary_until_the_release_date(archive: ArchiveMirror) -> None:
    rows = by_mous(archive.url, restorable_mous)
    assert rows[FUTURE]["proprietary"] is True  # released a year from now
    assert rows[NO_CAL]["proprietary"] is True
    assert rows[NEW]["proprietary"] is True  # never released (NULL)
    assert rows[NO_PASS]["proprietary"] is True
    assert rows[OK]["proprietary"] is False  # released earlier today or this year
    assert rows[LAST_YEAR]["proprietary"] is False
    assert rows[DELETED]["proprietary"] is False


@pytest.mark.parametrize("time_zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"])
def test_release_dates_are_utc_whatever_the_session_time_zone(mirror_db: URL, time_zone: str) -> None:
    """Two hours either side of now: read in a +14 or -11 zone, a naive date would flip."""
    now = datetime.now(UTC)
    with connect(mirror_db) as connection:
        build_archive(connection)
        status = table_of(MousStatus)
        for uid, release in ((FUTURE, now + timedelta(hours=2)), (OK, now - timedelta(hours=2))):
            connection.execute(
                update(status).where(status.c.mous_uid == uid).values(release_date=naive_utc(release))
            )
    with connect(mirror_db) as connection:
        connection.execute(select(func.set_config("TimeZone", time_zone, True)))
        view = restorable_mous
        rows = {
            row.mous_uid: row
            for row in connection.execute(
                select(view.c.mous_uid, view.c.proprietary, view.c.release_date)
                .where(view.c.mous_uid.in_([FUTURE, OK]))
            )
        }
    assert rows[FUTURE].proprietary is True
    assert rows[OK].proprietary is False
    assert abs(rows[FUTURE].release_date - (now + timedelta(hours=2))) < timedelta(seconds=1)


def test_last_change_at_is_the_latest_changing_run_else_the_deriving_run(archive: ArchiveMirror) -> None:
    rows = by_mous(archive.url, restorable_mous)
    for uid in ALL_MOUS:
        assert rows[uid]["last_change_at"] == archive.clock.run_finished(last_change_run(uid)), uid
    # MULTI was last derived in run 2, but an EB of it changed in run 4.
    assert rows[MULTI]["last_change_at"] == archive.clock.run_finished(4)
    # MANUAL has no change events: the run that derived it (the baseline).
    assert rows[MANUAL]["last_change_at"] == archive.clock.run_finished(1)


def test_mous_sessions_values(archive: ArchiveMirror) -> None:
    with connect(archive.url) as connection:
        view = mous_sessions
        query = select(view).where(view.c.mous_uid == OK).order_by(view.c.session_number)
        sessions = [dict(row) for row in connection.execute(query).mappings()]
    assert [s["session_number"] for s in sessions] == [1, 2, 3]
    first, empty, third = sessions
    # Position order, not UID order; joined by exactly ' | '.
    assert first["pass_eb_uids"] == [OK_EBS[0], OK_EBS[1]]
    assert first["session_value"] == f"{OK_EBS[0]} | {OK_EBS[1]}"
    assert (first["eb_count"], first["pass_eb_count"], first["is_empty"]) == (2, 2, False)
    assert first["session_id"] == 701
    assert first["caltables_file"] == caltables_name(OK, 1)  # not the auxcaltables of session 1
    # The QA0 Fail EB's session keeps its number, with an empty value and no caltables.
    assert empty["pass_eb_uids"] == []
    assert empty["session_value"] == ""
    assert (empty["eb_count"], empty["pass_eb_count"], empty["is_empty"]) == (1, 0, True)
    assert empty["caltables_file"] is None
    assert third["session_value"] == OK_EBS[3]
    assert third["caltables_file"] == caltables_name(OK, 3)


def test_recent_changes_newest_first_with_run_time_and_project(archive: ArchiveMirror) -> None:
    with connect(archive.url) as connection:
        changes = [dict(row) for row in connection.execute(select(recent_changes)).mappings()]
    assert len(changes) == len(EVENTS)
    assert [c["event_id"] for c in changes] == sorted((c["event_id"] for c in changes), reverse=True)
    oldest = changes[-1]
    assert (oldest["run_id"], oldest["table_name"], oldest["row_key"]) == (2, "execution_block", OK_EBS[1])
    assert oldest["changed_at"] == archive.clock.run_finished(2)
    assert (oldest["mous_uid"], oldest["project_code"]) == (OK, CODE_A)
    assert oldest["changed_columns"] == ["qa0_status"]
    assert oldest["old_values"]["qa0_status"] == "Pending"
    assert oldest["new_values"]["qa0_status"] == "Pass"
    newest = changes[0]
    assert (newest["table_name"], newest["mous_uid"], newest["project_code"]) == ("project", None, None)
    deleted = next(c for c in changes if c["kind"] == "delete")
    assert (deleted["project_code"], deleted["new_values"]) == (CODE_B, None)


def test_newly_restorable_is_only_the_latest_succeeded_run(archive: ArchiveMirror) -> None:
    # Run 5 is still running; run 4 is the latest that succeeded.
    rows = by_mous(archive.url, newly_restorable)
    assert list(rows) == [NEW]
    row = rows[NEW]
    assert (row["project_code"], row["array_family"], row["band"], row["proprietary"]) == (
        CODE_B, "7m", "ALMA_RB_06", True
    )
    assert row["restorable_since"] == archive.clock.run_finished(LATEST_RUN) - timedelta(minutes=3)
    assert row["release_date"] is None


def test_newly_restorable_is_empty_before_any_sync(mirror_db: URL) -> None:
    with connect(mirror_db) as connection:
        assert connection.execute(select(func.count()).select_from(newly_restorable)).scalar_one() == 0


def test_data_quality_lists_only_open_issues(archive: ArchiveMirror) -> None:
    with connect(archive.url) as connection:
        query = select(data_quality).order_by(data_quality.c.kind)
        issues = [dict(row) for row in connection.execute(query).mappings()]
    assert [(i["kind"], i["mous_uid"], i["project_code"]) for i in issues] == [
        ("eb_null_end_time", OK, CODE_A),
        ("sb_unknown_mous", None, None),
    ]
    first = issues[0]
    assert first["subject"] == OK_EBS[2]
    assert first["first_seen_at"] == archive.clock.run_finished(1)
    assert first["last_seen_at"] == archive.clock.run_finished(4)


def test_restorable_mous_uses_indexes_for_a_project(archive: ArchiveMirror) -> None:
    """The plan for one project reaches mous_status by index, not by reading every MOUS."""
    with connect(archive.url) as connection:
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            connection.execute(
                text("EXPLAIN SELECT * FROM restorable_mous WHERE project_code = :code"), {"code": CODE_A}
            ).scalars()
        )
    assert "ix_mous_status_project_uid" in plan
    # last_change_at: the MOUS's kept latest run, then that run (revision 0008).
    assert "pk_mous_last_change" in plan
    assert "pk_sync_run" in plan


def test_views_follow_new_rows(own_archive: ArchiveMirror) -> None:
    """Views, not snapshots: a MOUS added after the archive shows at once."""
    archive = own_archive
    extra = "uid://A001/X1/X99"
    with connect(archive.url) as connection:
        insert_mous(connection, extra)
    assert extra in by_mous(archive.url, restorable_mous)


def insert_mous(connection: Connection, uid: str) -> None:
    connection.execute(insert(table_of(Ous)).values(ous_uid=uid, state="Verified"))
    template = dict(
        connection.execute(select(table_of(MousStatus)).where(table_of(MousStatus).c.mous_uid == MANUAL))
        .mappings()
        .one()
    )
    connection.execute(insert(table_of(MousStatus)).values({**template, "mous_uid": uid}))


def test_no_pass_and_mismatch_mouses_keep_their_counts(archive: ArchiveMirror) -> None:
    rows = by_mous(archive.url, restorable_mous)
    assert rows[NO_PASS]["pass_eb_count"] == 0
    assert rows[MISMATCH]["caltables_sessions"] == [2]
    assert rows[MULTI]["array_family"] == "TP"

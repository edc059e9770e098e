"""Scripted changes in the source appear as the right change events and status changes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import URL

from etl.demo.fixed_cases import FIXED_CASES
from etl.mirror import ChangeEvent, MousStatus, SessionAssignment, table_of
from etl.source.contract import CONTRACT, contract_table
from tests.helpers import connect, rows, scalar, sync

events = table_of(ChangeEvent)
status = table_of(MousStatus)
execblocks = contract_table(CONTRACT, "aqua_execblock")
sessions = contract_table(CONTRACT, "aqua_session")
shiftlog = contract_table(CONTRACT, "shiftlog_entries")
products = contract_table(CONTRACT, "asa_product_files")
deliveries = contract_table(CONTRACT, "asa_delivery_status")
ous_status = contract_table(CONTRACT, "obs_unit_set_status")
schedblocks = contract_table(CONTRACT, "bmmv_schedblock")


def run_events(mirror: URL, run_id: int, table: str, key: str | None = None) -> list[dict[str, Any]]:
    query = select(events).where(events.c.run_id == run_id, events.c.table_name == table)
    if key is not None:
        query = query.where(events.c.row_key == key)
    return [dict(row) for row in rows(mirror, query.order_by(events.c.event_id))]


def mous_status(mirror: URL, mous_uid: str) -> dict[str, Any]:
    return dict(rows(mirror, select(status).where(status.c.mous_uid == mous_uid))[0])


def disk_form(uid: str) -> str:
    return uid.replace(":", "_").replace("/", "_")


def test_a_qa0_change_is_an_event_and_can_empty_a_session(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    case = FIXED_CASES["seed_first"]
    lone_eb = case.expected_sessions[1][0]  # alone in SESSION_2
    with connect(source_copy) as source:
        source.execute(
            update(execblocks).where(execblocks.c.execblockuid == lone_eb).values(qa0status="Fail")
        )
    summary = sync(source_copy, synced_mirror, test_home)

    [event] = run_events(synced_mirror, summary.run_id, "execution_block", lone_eb)
    assert event["kind"] == "update"
    assert event["changed_columns"] == ["qa0_status"]
    assert (event["old_values"]["qa0_status"], event["new_values"]["qa0_status"]) == ("Pass", "Fail")
    assert event["mous_uid"] == case.mous_uid
    # SESSION_2 is now empty but keeps its number, so the archived session_2 caltables no longer match.
    after = mous_status(synced_mirror, case.mous_uid)
    assert (after["session_count"], after["empty_session_count"]) == (3, 1)
    assert not after["restorable"]
    assert after["reason_code"] == "session_mismatch"
    assert "{1,3}" in after["reason"]
    assert "{1,2,3}" in after["reason"]
    [change] = run_events(synced_mirror, summary.run_id, "mous_status", case.mous_uid)
    assert change["old_values"]["restorable"] is True
    assert change["new_values"]["restorable"] is False
    assert "restorable" in change["changed_columns"]
    assert summary.mous_derived >= 1


def test_new_caltables_for_an_old_mous_make_it_restorable(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    case = FIXED_CASES["missing_calibration"]
    before = mous_status(synced_mirror, case.mous_uid)
    assert before["reason_code"] == "no_calibration_products"
    calibrated = [n for n, ebs in enumerate(case.expected_sessions, start=1) if ebs]
    # What a restore needs: caltables per session, final flags and applycal commands per EB (the
    # manifest almamirror writes for a delivery without one names them all).
    names = [f"{disk_form(case.mous_uid)}.session_{n}.caltables.tar.gz" for n in calibrated] + [
        f"{disk_form(eb)}.ms.{suffix}"
        for ebs in case.expected_sessions for eb in ebs for suffix in ("flagversions.tgz", "calapply.txt")
    ]
    with connect(source_copy) as source:
        source.execute(
            insert(products),
            [
                {"asa_ous_id": case.mous_uid, "stored_size": 1_000_000, "file_class": None,
                 "ngas_file_id": name}
                for name in names
            ],
        )
    summary = sync(source_copy, synced_mirror, test_home)

    inserted = run_events(synced_mirror, summary.run_id, "product_file")
    assert [e["kind"] for e in inserted] == ["insert"] * len(names)
    assert {e["new_values"]["kind"] for e in inserted} == {"caltables", "flagversions", "calapply"}
    assert all(e["mous_uid"] == case.mous_uid for e in inserted)
    after = mous_status(synced_mirror, case.mous_uid)
    assert after["restorable"]
    assert after["calibration_kind"] == "pipeline"
    assert after["caltables_sessions"] == calibrated
    assert after["restorable_since_run_id"] == summary.run_id
    assert case.mous_uid in summary.newly_restorable
    [change] = run_events(synced_mirror, summary.run_id, "mous_status", case.mous_uid)
    assert change["old_values"]["calibration_kind"] == "none"
    assert change["new_values"]["calibration_kind"] == "pipeline"


def test_a_release_date_moved_later_is_recorded_with_old_and_new_dates(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    case = FIXED_CASES["seed_example"]
    released = mous_status(synced_mirror, case.mous_uid)["release_date"]
    later = released + timedelta(days=365)
    with connect(source_copy) as source:
        source.execute(
            update(deliveries)
            .where(deliveries.c.delivery_id.like(f"%{disk_form(case.mous_uid)}"))
            .values(release_date=later, release_date_comment="proprietary period extended")
        )
    summary = sync(source_copy, synced_mirror, test_home)

    [event] = run_events(synced_mirror, summary.run_id, "delivery")
    assert event["kind"] == "update"
    assert event["mous_uid"] == case.mous_uid
    assert set(event["changed_columns"]) == {"release_date", "release_date_comment"}
    assert event["old_values"]["release_date"].startswith(released.isoformat()[:19])
    assert event["new_values"]["release_date"].startswith(later.isoformat()[:19])
    assert mous_status(synced_mirror, case.mous_uid)["release_date"] == later
    [change] = run_events(synced_mirror, summary.run_id, "mous_status", case.mous_uid)
    assert change["changed_columns"] == ["release_date"]


def test_a_deleted_product_is_a_delete_event_and_breaks_the_session_match(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    case = FIXED_CASES["seed_example"]
    name = f"member.{disk_form(case.mous_uid)}.session_15.caltables.tgz"
    with connect(source_copy) as source:
        gone = source.execute(
            delete(products).where(products.c.asa_ous_id == case.mous_uid, products.c.ngas_file_id == name)
        ).rowcount
    assert gone == 1
    summary = sync(source_copy, synced_mirror, test_home)

    [event] = run_events(synced_mirror, summary.run_id, "product_file", f"{case.mous_uid} {name}")
    assert event["kind"] == "delete"
    assert event["new_values"] is None
    assert event["old_values"]["session_number"] == 15
    assert event["mous_uid"] == case.mous_uid
    after = mous_status(synced_mirror, case.mous_uid)
    assert after["caltables_sessions"] == list(range(1, 15))
    assert after["reason_code"] == "session_mismatch"
    assert after["restorable_since"] is None


def test_a_new_eb_in_a_new_session_becomes_the_next_session(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    case = FIXED_CASES["seed_example"]
    last_eb = case.expected_sessions[-1][-1]
    new_eb = "uid://A002/Xc7a000/X1"
    with connect(source_copy) as source:
        last = source.execute(select(execblocks).where(execblocks.c.execblockuid == last_eb)).one()
        session_id = source.execute(select(func.max(sessions.c.sessionid))).scalar_one() + 1
        entry_id = source.execute(select(func.max(shiftlog.c.se_id))).scalar_one() + 1
        start = last.starttime + timedelta(days=2)
        source.execute(insert(sessions).values(sessionid=session_id, starttime=start,
                                               endtime=start + timedelta(hours=1)))
        source.execute(insert(execblocks).values(
            execblockuid=new_eb, schedblockuid=last.schedblockuid, obsprojectcode=last.obsprojectcode,
            qa0status="Pass", starttime=start, endtime=start + timedelta(hours=1), execfraction=1,
            sessionid=session_id,
        ))
        source.execute(insert(shiftlog).values(se_id=entry_id, se_sb_id=last.schedblockuid,
                                               se_eb_uid=new_eb, se_status="SUCCESS"))
    summary = sync(source_copy, synced_mirror, test_home)

    assignment = table_of(SessionAssignment)
    placed = rows(synced_mirror, select(assignment).where(assignment.c.eb_uid == new_eb))
    assert [(r["mous_uid"], r["session_number"]) for r in placed] == [(case.mous_uid, 16)]
    [eb_event] = run_events(synced_mirror, summary.run_id, "execution_block", new_eb)
    assert eb_event["kind"] == "insert"
    assert eb_event["mous_uid"] == case.mous_uid
    [session_event] = run_events(synced_mirror, summary.run_id, "observing_session", str(session_id))
    assert session_event["mous_uid"] == case.mous_uid
    [mapping_event] = run_events(synced_mirror, summary.run_id, "session_assignment",
                                 f"{case.mous_uid} {new_eb}")
    assert mapping_event["new_values"]["session_number"] == 16
    after = mous_status(synced_mirror, case.mous_uid)
    assert after["session_count"] == 16
    # No caltables were archived for session 16 yet: a restore would fail, so it is not restorable.
    assert after["reason_code"] == "session_mismatch"


def test_an_ous_marked_deleted_and_an_ous_removed(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    marked, removed = FIXED_CASES["seed_first"], FIXED_CASES["cycle4_names"]
    with connect(source_copy) as source:
        source.execute(
            update(ous_status)
            .where(ous_status.c.status_entity_id == marked.mous_uid)
            .values(domain_entity_state="Deleted")
        )
        source.execute(delete(ous_status).where(ous_status.c.status_entity_id == removed.mous_uid))
    summary = sync(source_copy, synced_mirror, test_home)

    [state_event] = run_events(synced_mirror, summary.run_id, "ous", marked.mous_uid)
    assert state_event["changed_columns"] == ["state"]
    assert state_event["new_values"]["state"] == "Deleted"
    assert state_event["mous_uid"] == marked.mous_uid
    assert mous_status(synced_mirror, marked.mous_uid)["reason_code"] == "deleted_ous"

    [gone] = run_events(synced_mirror, summary.run_id, "mous_status", removed.mous_uid)
    assert gone["kind"] == "delete"
    assert gone["old_values"]["restorable"] is True
    assignment = table_of(SessionAssignment)
    assert scalar(synced_mirror, select(func.count()).where(assignment.c.mous_uid == removed.mous_uid)) == 0
    deletions = run_events(synced_mirror, summary.run_id, "session_assignment")
    assert deletions
    assert {e["kind"] for e in deletions} == {"delete"}


def test_a_manual_recipe_counts_only_when_no_caltables_were_archived(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    """The recipe flag is set before calibration; archived caltables show what was actually done."""
    calibrated, uncalibrated = FIXED_CASES["seed_first"], FIXED_CASES["missing_calibration"]
    assert mous_status(synced_mirror, uncalibrated.mous_uid)["calibration_kind"] == "none"
    with connect(source_copy) as source:
        source.execute(
            update(ous_status)
            .where(ous_status.c.status_entity_id.in_([calibrated.mous_uid, uncalibrated.mous_uid]))
            .values(flags="ManualCalibration")
        )
    sync(source_copy, synced_mirror, test_home)

    kept = mous_status(synced_mirror, calibrated.mous_uid)
    assert (kept["calibration_kind"], kept["restorable"]) == ("pipeline", True)
    manual = mous_status(synced_mirror, uncalibrated.mous_uid)
    assert (manual["calibration_kind"], manual["reason_code"]) == ("manual", "manual_calibration")


def test_restorable_since_survives_later_syncs(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    case = FIXED_CASES["seed_example"]
    first = mous_status(synced_mirror, case.mous_uid)
    with connect(source_copy) as source:
        source.execute(insert(products).values(
            asa_ous_id=case.mous_uid, ngas_file_id=f"member.{disk_form(case.mous_uid)}.extra_cube.fits",
            stored_size=42, file_class="science",
        ))
    summary = sync(source_copy, synced_mirror, test_home)
    assert summary.mous_derived >= 1  # the MOUS was re-derived …
    again = mous_status(synced_mirror, case.mous_uid)
    assert again["restorable_since"] == first["restorable_since"]  # … and kept its date
    assert again["restorable_since_run_id"] == first["restorable_since_run_id"] == 1
    second = sync(source_copy, synced_mirror, test_home)
    assert mous_status(synced_mirror, case.mous_uid)["restorable_since"] == first["restorable_since"]
    assert second.changes == 0


def test_incremental_derivation_equals_a_full_one(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    """After assorted changes, re-deriving every MOUS finds nothing the incremental run missed."""
    example, first = FIXED_CASES["seed_example"], FIXED_CASES["empty_middle_session"]
    with connect(source_copy) as source:
        source.execute(update(execblocks).where(
            execblocks.c.execblockuid == example.expected_sessions[12][0]).values(qa0status="SemiPass"))
        source.execute(delete(shiftlog).where(shiftlog.c.se_eb_uid == first.expected_sessions[0][0]))
        some_sb = source.execute(
            select(schedblocks.c.archive_uid).where(schedblocks.c.mous_status_uid == first.mous_uid)
        ).scalar_one()
        source.execute(update(schedblocks).where(schedblocks.c.archive_uid == some_sb)
                       .values(requestedarray="SEVEN-M"))
    sync(source_copy, synced_mirror, test_home)
    full = sync(source_copy, synced_mirror, test_home, full=True)
    derived = {"mous_status", "session_assignment", "ous_status_document"}
    assert [f for f in full.tables if f.table in derived and f.changed] == []


def test_an_update_records_old_and_new_of_every_changed_column_but_not_whole_documents(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    case = FIXED_CASES["seed_first"]
    eb = case.expected_sessions[0][0]
    with connect(source_copy) as source:
        # execution_fraction is not a watched column; qa0_status is.
        source.execute(
            update(execblocks)
            .where(execblocks.c.execblockuid == eb)
            .values(execfraction=0.25, qa0status="Fail")
        )
        source.execute(
            update(ous_status)
            .where(ous_status.c.status_entity_id == case.mous_uid)
            .values(xml=ous_status.c.xml + "<!-- edited -->", flags="manual")
        )
    summary = sync(source_copy, synced_mirror, test_home)

    [event] = run_events(synced_mirror, summary.run_id, "execution_block", eb)
    assert sorted(event["changed_columns"]) == ["exec_fraction", "qa0_status"]
    assert float(event["old_values"]["exec_fraction"]) != 0.25
    assert float(event["new_values"]["exec_fraction"]) == 0.25
    assert (event["old_values"]["qa0_status"], event["new_values"]["qa0_status"]) == ("Pass", "Fail")
    # Unchanged columns that are not watched stay out of the event.
    assert "start_time" in event["new_values"]  # watched: always recorded
    assert "project_code" not in event["new_values"]

    [document] = run_events(synced_mirror, summary.run_id, "ous", case.mous_uid)
    assert sorted(document["changed_columns"]) == ["recipe", "status_xml"]
    assert "status_xml" not in document["old_values"]
    assert "status_xml" not in document["new_values"]
    assert document["new_values"]["recipe"] == "manual"


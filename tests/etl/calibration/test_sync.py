"""The archive's record of each calibration, read by a sync from the stand-in NGAS (a real process).

The session's synced mirror (``synced_template``) was synced against the stand-in: each fixed case
shows its record there. The other tests sync copies against stand-ins with faults.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.engine import URL

from etl.calibration.names import calibration_stem, document_kind
from etl.cli import main
from etl.demo.fixed_cases import FIXED_CASES
from etl.derive import calibration_record
from etl.load.documents import RECHECK_AT_LEAST, RECHECK_CYCLE
from etl.mirror import (
    CalibrationDocument,
    CalibrationRecord,
    CalibrationRecordProduct,
    CalibrationRecordSession,
    ChangeEvent,
    DataQualityIssue,
    MousStatus,
    table_of,
)
from etl.source.contract import CONTRACT, contract_table
from tests.conftest import cli_environment, open_engine
from tests.etl.ngas.conftest import RunningStandIn, StandInFactory
from tests.helpers import connect, mirror_fingerprints, rows, sync

status = table_of(MousStatus)
records = table_of(CalibrationRecord)
record_sessions = table_of(CalibrationRecordSession)
record_products = table_of(CalibrationRecordProduct)
documents = table_of(CalibrationDocument)
issues = table_of(DataQualityIssue)
events = table_of(ChangeEvent)
execblocks = contract_table(CONTRACT, "aqua_execblock")
# Restorable although their record is not verified, on purpose: those are the cases.
UNVERIFIED = {"document_not_on_ngas": "unavailable", "malformed_manifest": "malformed",
              "older_delivery_no_record": "absent",
              # Verified, but against the archive's own key rather than AQUA's sessions.
              "record_disagrees": "follows_archive"}


@pytest.fixture(scope="module")
def mirror(databases: Any, synced_template: str) -> URL:
    """One read-only copy of the mirror synced against the stand-in."""
    return databases.create("record_read", template=synced_template)


def status_of(mirror: URL, mous_uid: str) -> dict[str, Any]:
    return dict(rows(mirror, select(status).where(status.c.mous_uid == mous_uid))[0])


def record_of(mirror: URL, mous_uid: str) -> dict[str, Any] | None:
    found = rows(mirror, select(records).where(records.c.mous_uid == mous_uid))
    return dict(found[0]) if found else None


def open_issues(mirror: URL, mous_uid: str) -> list[tuple[str, str, str]]:
    return [
        (row["kind"], row["subject"], row["detail"])
        for row in rows(mirror, select(issues).where(
            issues.c.mous_uid == mous_uid, issues.c.resolved_run_id.is_(None)
        ).order_by(issues.c.kind))
    ]


def disk(uid: str) -> str:
    return uid.replace(":", "_").replace("/", "_")


@pytest.mark.parametrize("name", sorted(FIXED_CASES))
def test_every_fixed_case_shows_its_record(mirror: URL, name: str) -> None:
    case = FIXED_CASES[name]
    row = status_of(mirror, case.mous_uid)
    assert row["calibration_record"] == case.expected_record
    assert row["reason_code"] == case.expected_reason


def test_every_restorable_mous_of_the_demo_carries_a_verified_record(mirror: URL) -> None:
    unverified = {
        row["mous_uid"]: row["calibration_record"]
        for row in rows(mirror, select(status).where(status.c.restorable,
                                                     status.c.calibration_record != "agrees"))
    }
    assert unverified == {FIXED_CASES[name].mous_uid: state for name, state in UNVERIFIED.items()}


def test_a_record_that_is_the_calibrations_key_is_followed_and_its_disagreement_is_a_finding(
    mirror: URL,
) -> None:
    case = FIXED_CASES["record_disagrees"]
    moved = case.expected_sessions[1][0]  # SESSION_2's first EB, calibrated in session_1
    row = status_of(mirror, case.mous_uid)
    assert (row["restorable"], row["calibration_record"]) == (True, "follows_archive")
    [(kind, subject, detail)] = open_issues(mirror, case.mous_uid)
    assert kind == "archive_key_differs"
    assert subject.endswith("pipeline_manifest.xml")
    assert f"EB {moved} is in SESSION_2 in the mirror but in session_1 in the manifest " in detail
    for document in ("pipeline_manifest.xml", "casa_piperestorescript.py", "pprequest.xml"):
        assert document in detail
    archived = {
        (r["document"], r["session_number"]): r["eb_uids"]
        for r in rows(mirror, select(record_sessions).where(record_sessions.c.mous_uid == case.mous_uid))
    }
    first = case.expected_sessions[0][0]
    assert archived[("restore_script", 1)] == [disk(first), disk(moved)]
    assert archived[("request", 1)] == [first, moved]


def test_documents_that_disagree_with_each_other_are_no_key_and_refused(mirror: URL) -> None:
    case = FIXED_CASES["record_documents_disagree"]
    moved = case.expected_sessions[1][0]
    row = status_of(mirror, case.mous_uid)
    assert (row["restorable"], row["reason_code"]) == (False, "archive_record_disagrees")
    expected = f"EB {moved} is in SESSION_2 in the mirror but in session_1 in the restore script "
    assert expected in row["reason"]
    assert "manifest" not in row["reason"].split("disagrees with the mirror's sessions:")[1]


def test_a_script_with_extra_steps_names_them_and_the_script_to_restore_with(mirror: URL) -> None:
    case = FIXED_CASES["restore_extra_steps"]
    row = status_of(mirror, case.mous_uid)
    assert row["reason_code"] == "restore_needs_extra_steps"
    record = record_of(mirror, case.mous_uid)
    assert record is not None
    assert [step.split("(")[0] for step in record["extra_steps"]] == [
        "from recipes.almahelpers import fixsyscaltimes", "fixsyscaltimes", "fixplanets"
    ]
    assert record["restore_script_file"] in row["reason"]
    assert "fixplanets(vis=" in row["reason"]
    assert "running that script in CASA" in row["reason"]


def test_provenance_and_restore_arguments_come_from_the_record(mirror: URL) -> None:
    mpi = status_of(mirror, FIXED_CASES["mpi_calibration"].mous_uid)
    # CASA 6 writes its version with dots (6.5.4.9), as real manifests do.
    assert (mpi["casa_version"], mpi["pipeline_version"]) == ("6.5.4.9", "2023.1.0.124")
    assert mpi["mpi_servers"] == 8
    assert status_of(mirror, FIXED_CASES["seed_example"].mous_uid)["mpi_servers"] == 0
    raster = record_of(mirror, FIXED_CASES["total_power_raster_scan"].mous_uid)
    assert raster is not None
    assert (raster["restore_task"], raster["ocorr_mode"], raster["hm_rasterscan"]) == (
        "hsd_restoredata", "ao", "time"
    )
    assert raster["restore_arguments"] == {"ocorr_mode": "'ao'", "hm_rasterscan": "'time'"}
    legacy = record_of(mirror, FIXED_CASES["legacy_restore_task"].mous_uid)
    assert legacy is not None
    assert (legacy["restore_task"], legacy["legacy_restore_task"]) == ("hif_restoredata", True)


def test_an_empty_first_session_is_absent_from_manifest_and_script_and_agrees(mirror: URL) -> None:
    case = FIXED_CASES["empty_first_session"]
    assert case.expected_sessions[0] == ()
    numbers: dict[str, list[int]] = {}
    for row in rows(mirror, select(record_sessions).where(record_sessions.c.mous_uid == case.mous_uid)
                    .order_by(record_sessions.c.session_number)):
        numbers.setdefault(row["document"], []).append(row["session_number"])
    assert numbers == {"manifest": [2, 3], "restore_script": [2, 3], "request": [1, 2, 3]}
    assert status_of(mirror, case.mous_uid)["calibration_record"] == "agrees"


def test_two_calibrations_use_the_newest_and_name_both(mirror: URL) -> None:
    case = FIXED_CASES["two_calibrations"]
    record = record_of(mirror, case.mous_uid)
    assert record is not None
    assert (record["calibrations"], record["state"]) == (2, "agrees")
    assert record["manifest_file"].endswith(".hifa_calimage.pipeline_manifest.xml")
    [(kind, subject, detail)] = open_issues(mirror, case.mous_uid)
    assert (kind, subject) == ("multiple_calibrations", record["manifest_file"])
    assert ".hifa_cal.pipeline_manifest.xml" in detail
    assert ".hifa_calimage.pipeline_manifest.xml" in detail


def test_unavailable_and_malformed_documents_are_findings_naming_the_file(mirror: URL) -> None:
    lost = FIXED_CASES["document_not_on_ngas"].mous_uid
    [(kind, subject, detail)] = open_issues(mirror, lost)
    assert kind == "calibration_document_unavailable"
    assert subject.endswith(".casa_piperestorescript.py")
    assert "the archive does not have it" in detail
    broken = FIXED_CASES["malformed_manifest"].mous_uid
    [(kind, subject, detail)] = open_issues(mirror, broken)
    assert (kind, subject.endswith(".pipeline_manifest.xml")) == ("calibration_document_malformed", True)
    assert "not well-formed XML" in detail
    assert record_of(mirror, FIXED_CASES["older_delivery_no_record"].mous_uid) is None


def test_a_second_sync_fetches_no_document_again(
    synced_mirror: URL, demo_source: URL, test_home: Path, stand_in: RunningStandIn
) -> None:
    ngas = stand_in
    summary = sync(demo_source, synced_mirror, test_home, ALMAMIRROR_NGAS_URL=ngas.url)
    fetch = summary.documents
    assert (fetch.fetched, fetch.held, fetch.listed - fetch.held) == (0, fetch.listed - 1, 1)
    # Nothing is retrieved. The one document the archive lacks is asked for again by STATUS, and so
    # is the least recently checked share of the held ones (a re-archived version would be fetched).
    assert ngas.requests("RETRIEVE") == []
    lacking = {
        subject for _, subject, _ in open_issues(synced_mirror, FIXED_CASES["document_not_on_ngas"].mous_uid)
    }
    asked = {line["file_id"] for line in ngas.requests("STATUS") if line["file_id"]}
    assert lacking <= asked
    # Before calling the lacking one missing, the server's own state (a plain STATUS: not OFFLINE).
    assert [line["file_id"] for line in ngas.requests("STATUS") if not line["file_id"]] == [""]
    share = max(RECHECK_AT_LEAST, -(-fetch.held // RECHECK_CYCLE))
    assert len(asked - lacking) == min(share, fetch.held)
    assert (summary.changes, summary.mous_derived) == (0, 0)


def test_a_document_costs_one_retrieve_and_status_only_where_the_record_needs_it(
    mirror_db: URL, demo_source: URL, test_home: Path, stand_in: RunningStandIn
) -> None:
    ngas = stand_in
    summary = sync(demo_source, mirror_db, test_home, ALMAMIRROR_NGAS_URL=ngas.url)
    assert summary.documents.fetched == summary.documents.listed - 1
    held = {row["file_id"]: row for row in rows(mirror_db, select(
        documents.c.file_id, documents.c.mous_uids, documents.c.state, documents.c.checksum,
        documents.c.archived_at,
    ))}
    two = FIXED_CASES["two_calibrations"].mous_uid
    lacking = FIXED_CASES["document_not_on_ngas"].mous_uid
    stems: dict[str, set[str]] = {}
    for file_id, row in held.items():
        if document_kind(file_id) is not None:
            for mous_uid in row["mous_uids"]:
                stems.setdefault(mous_uid, set()).add(calibration_stem(file_id))
    several = {mous_uid for mous_uid, found in stems.items() if len(found - {""}) > 1}
    dated = {file_id for file_id, row in held.items()
             if document_kind(file_id) is not None and several.intersection(row["mous_uids"])}
    assert any(two in held[file_id]["mous_uids"] for file_id in dated)
    [missing] = [file_id for file_id, row in held.items() if lacking in row["mous_uids"]
                 and row["state"] != "fetched"]
    # STATUS for the documents of a MOUS calibrated twice (the newest calibration is chosen by NGAS's
    # IngestionDate), and for the one the plain RETRIEVE did not bring (NGAS says why); else none.
    assert {line["file_id"] for line in ngas.requests("STATUS") if line["file_id"]} == dated | {missing}
    # And once the server's own state, before the missing one is called missing (not OFFLINE).
    assert [line["file_id"] for line in ngas.requests("STATUS") if not line["file_id"]] == [""]
    retrieved = [line for line in ngas.requests("RETRIEVE") if line["status"] == 200]
    assert sorted(line["file_id"] for line in retrieved) == sorted(
        file_id for file_id, row in held.items() if row["state"] == "fetched"
    )
    for file_id, row in held.items():
        if row["state"] == "fetched":
            # Fetched by size alone: NGAS's checksum is compared by a later sync's recheck.
            assert (row["checksum"] is not None) == (file_id in dated), file_id
            assert (row["archived_at"] is not None) == (file_id in dated), file_id
    record = record_of(mirror_db, two)
    assert record is not None
    assert record["manifest_file"].endswith(".hifa_calimage.pipeline_manifest.xml")


def test_a_document_ngas_stores_compressed_is_held_at_its_own_size_and_not_fetched_again(
    mirror_db: URL, demo_source: URL, test_home: Path, stand_in_factory: StandInFactory
) -> None:
    ngas = stand_in_factory("--compressed", "*pipeline_manifest.xml")
    sync(demo_source, mirror_db, test_home, ALMAMIRROR_NGAS_URL=ngas.url)
    manifests = {row["file_id"]: row for row in rows(mirror_db, select(
        documents.c.file_id, documents.c.size_bytes, documents.c.content, documents.c.checksum,
    ).where(documents.c.state == "fetched", documents.c.file_id.like("%pipeline_manifest.xml")))}
    assert manifests
    for file_id, row in manifests.items():
        # Verified through STATUS (the plain RETRIEVE sent gzip) and held decompressed, at its own size.
        assert row["checksum"] is not None, file_id
        assert row["content"].startswith("<?xml"), file_id
        assert row["size_bytes"] == len(row["content"].encode("utf-8")), file_id
    retrieved = len(ngas.requests("RETRIEVE"))
    summary = sync(demo_source, mirror_db, test_home, ALMAMIRROR_NGAS_URL=ngas.url)
    assert summary.documents.fetched == 0
    assert not {line["file_id"] for line in ngas.requests("RETRIEVE")[retrieved:]} & manifests.keys()


def test_the_recheck_completes_a_document_fetched_by_size_alone_without_fetching_it(
    synced_mirror: URL, demo_source: URL, test_home: Path, stand_in: RunningStandIn
) -> None:
    # The first sync against the archive is the session's synced mirror (synced_template): a copy.
    mirror_db = synced_mirror
    unchecked = {row["file_id"] for row in rows(mirror_db, select(documents.c.file_id).where(
        documents.c.state == "fetched", documents.c.checksum.is_(None)
    ))}
    assert unchecked
    ngas = stand_in
    summary = sync(demo_source, mirror_db, test_home, ALMAMIRROR_NGAS_URL=ngas.url)
    assert (summary.documents.fetched, summary.changes, summary.mous_derived) == (0, 0, 0)
    assert ngas.requests("RETRIEVE") == []
    asked = {line["file_id"] for line in ngas.requests("STATUS")}
    # The documents not yet checked are asked about first, and now carry NGAS's checksum and version.
    share = max(RECHECK_AT_LEAST, -(-summary.documents.held // RECHECK_CYCLE))
    checked_now = unchecked & asked
    assert len(checked_now) == min(share, len(unchecked))
    for row in rows(mirror_db, select(documents).where(documents.c.file_id.in_(sorted(checked_now)))):
        described = [row[name] for name in ("checksum", "file_version", "archived_at", "checked_at")]
        assert None not in described, row["file_id"]


def test_without_an_archive_the_step_is_skipped_said_once_and_records_stay(
    synced_mirror: URL, demo_source: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # last_seen moves; the full sync records its whole reads in source_buckets
    bookkeeping = frozenset({"sync_run", "sync_run_table", "data_quality_issue", "source_buckets"})
    before = mirror_fingerprints(synced_mirror, skip=bookkeeping)
    cli_environment(monkeypatch, demo_source, synced_mirror, test_home)
    monkeypatch.delenv("ALMAMIRROR_NGAS_URL", raising=False)
    assert main(["sync", "--full"]) == 0
    out = capsys.readouterr().out
    assert out.count("calibration documents: not fetched, no NGAS archive is configured") == 1
    assert mirror_fingerprints(synced_mirror, skip=bookkeeping) == before


def test_a_fresh_mirror_without_an_archive_has_absent_records(
    mirror_db: URL, demo_source: URL, test_home: Path
) -> None:
    summary = sync(demo_source, mirror_db, test_home)
    assert not summary.documents.configured
    found = {row["calibration_record"] for row in rows(mirror_db, select(status.c.calibration_record))}
    assert found == {"absent"}


def outage_config(tmp_path: Path) -> Path:
    """Give up on an unavailable archive at once: no retries, short timeouts."""
    path = tmp_path / "outage.toml"
    path.write_text("[archive]\nretries = 0\nconnect_timeout = 2\nread_timeout = 5\n")
    return path


def test_an_ngas_outage_never_fails_the_sync_and_the_next_sync_catches_up(
    mirror_db: URL, demo_source: URL, test_home: Path, tmp_path: Path, stand_in_factory: StandInFactory,
    stand_in: RunningStandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    cli_environment(monkeypatch, demo_source, mirror_db, test_home)
    monkeypatch.setenv("ALMAMIRROR_CONFIG", str(outage_config(tmp_path)))
    down = stand_in_factory("--fault", "unavailable=100000")
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", down.url)
    assert main(["sync"]) == 0
    out = capsys.readouterr().out
    assert "stopped early: the archive is unavailable" in out
    seed = FIXED_CASES["seed_example"].mous_uid
    assert status_of(mirror_db, seed)["calibration_record"] == "unavailable"
    assert status_of(mirror_db, seed)["restorable"]  # not verified is not a refusal
    assert {kind for kind, _, _ in open_issues(mirror_db, seed)} == {"calibration_document_unavailable"}
    # Every document tried or not was recorded as unavailable, none fetched.
    states = {row["state"] for row in rows(mirror_db, select(documents.c.state))}
    assert states == {"unavailable"}

    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", stand_in.url)
    assert main(["-q", "sync"]) == 0
    assert status_of(mirror_db, seed)["calibration_record"] == "agrees"
    assert open_issues(mirror_db, seed) == []
    # "The archived record of MOUS X now ..." is a change event of mous_status.
    [change] = rows(mirror_db, select(events).where(
        events.c.run_id == 2, events.c.table_name == "mous_status", events.c.row_key == seed
    ))
    assert {"calibration_record", "casa_version", "pipeline_version", "mpi_servers"} <= set(
        change["changed_columns"]
    )
    assert (change["old_values"]["calibration_record"], change["new_values"]["calibration_record"]) == (
        "unavailable", "agrees"
    )

    before = mirror_fingerprints(mirror_db, skip=frozenset({"sync_run", "sync_run_table"}))
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", down.url)
    assert main(["-q", "sync"]) == 0
    # Held documents are not asked for again: the outage changes only the one the archive lacks.
    changed = mirror_fingerprints(mirror_db, skip=frozenset({"sync_run", "sync_run_table"}))
    assert {name for name in before if before[name] != changed[name]} <= {
        "calibration_document", "calibration_record", "data_quality_issue", "change_event",
        "mous_last_change",  # follows change_event (revision 0008's triggers)
    }
    assert status_of(mirror_db, seed)["calibration_record"] == "agrees"


def test_the_time_budget_leaves_the_rest_to_the_next_sync(
    mirror_db: URL, demo_source: URL, test_home: Path, tmp_path: Path, stand_in: RunningStandIn,
) -> None:
    ngas = stand_in
    tight = tmp_path / "tight.toml"
    tight.write_text("[archive]\ndocument_time_budget = 0.001\n")
    summary = sync(demo_source, mirror_db, test_home, ALMAMIRROR_NGAS_URL=ngas.url,
                   ALMAMIRROR_CONFIG=str(tight))
    assert summary.documents.fetched == 0
    assert summary.documents.unavailable == summary.documents.listed
    assert "time budget of 0.001 s" in (summary.documents.stopped or "")
    seed = FIXED_CASES["seed_example"].mous_uid
    [(kind, _, detail), *_] = open_issues(mirror_db, seed)
    assert kind == "calibration_document_unavailable"
    assert "time budget" in detail
    assert ngas.requests(None) == []

    summary = sync(demo_source, mirror_db, test_home, ALMAMIRROR_NGAS_URL=ngas.url)
    assert summary.documents.fetched == summary.documents.listed - 1  # one is not in the archive
    assert status_of(mirror_db, seed)["calibration_record"] == "agrees"


@pytest.mark.alone
def test_the_mirrors_transaction_is_not_open_while_documents_are_fetched(
    synced_mirror: URL, demo_source: URL, test_home: Path, stand_in_factory: StandInFactory,
) -> None:
    seed = FIXED_CASES["seed_example"].mous_uid
    with connect(synced_mirror) as connection:
        connection.execute(delete(documents).where(
            documents.c.file_id.like("%X129e_Xb6.hifa_calimage.pipeline_manifest.xml")
        ))
    # 1.5 s in the middle of the body: a few dozen looks at the sync meanwhile, at least 3 on a busy machine.
    ngas = stand_in_factory("--fault", "stall", "--stall-seconds", "1.5")
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: outcome.update(
        summary=sync(demo_source, synced_mirror, test_home, ALMAMIRROR_NGAS_URL=ngas.url)
    ))
    open_while_fetching: list[int] = []
    observing = open_engine(synced_mirror)
    worker.start()
    try:
        with observing.connect() as plain:
            observer = plain.execution_options(isolation_level="AUTOCOMMIT")
            while worker.is_alive():
                asked = ngas.request_log.read_text() if ngas.request_log.exists() else ""
                # The stand-in logs STALL when it stops mid-body and STALL-END when it goes on: between
                # the two the sync is inside the document's download.
                if '"STALL"' in asked and '"STALL-END"' not in asked:
                    open_while_fetching.append(observer.execute(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND application_name = 'almamirror-sync' AND xact_start IS NOT NULL"
                    )).scalar_one())
                time.sleep(0.05)
    finally:
        worker.join()
        observing.dispose()
    assert outcome["summary"].documents.fetched == 1
    assert len(open_while_fetching) >= 3
    assert set(open_while_fetching) == {0}
    assert status_of(synced_mirror, seed)["calibration_record"] == "agrees"


def test_an_eb_moved_to_another_session_after_calibration_leaves_the_archive_as_the_key(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    case = FIXED_CASES["seed_first"]  # sessions 2 / 1 / 1
    moved = case.expected_sessions[0][1]
    target = case.expected_sessions[1][0]
    with connect(source_copy) as source:
        session_id = source.execute(
            select(execblocks.c.sessionid).where(execblocks.c.execblockuid == target)
        ).scalar_one()
        source.execute(
            update(execblocks).where(execblocks.c.execblockuid == moved).values(sessionid=session_id)
        )
    summary = sync(source_copy, synced_mirror, test_home)  # the documents are held: no archive needed
    row = status_of(synced_mirror, case.mous_uid)
    # The calibration's own key (manifest, script, PPR and caltables agree) wins over AQUA's change.
    assert (row["calibration_record"], row["reason_code"]) == ("follows_archive", None)
    found = open_issues(synced_mirror, case.mous_uid)
    [detail] = [d for kind, _, d in found if kind == "archive_key_differs"]
    assert f"EB {moved} is in SESSION_2 in the mirror but in session_1 in the manifest" in detail
    [change] = rows(synced_mirror, select(events).where(
        events.c.run_id == summary.run_id, events.c.table_name == "mous_status",
        events.c.row_key == case.mous_uid,
    ))
    assert (change["old_values"]["calibration_record"], change["new_values"]["calibration_record"]) == (
        "agrees", "follows_archive"
    )


def test_documents_an_older_parser_read_are_parsed_again(
    synced_mirror: URL, demo_source: URL, test_home: Path
) -> None:
    with connect(synced_mirror) as connection:
        connection.execute(
            update(documents).where(documents.c.state == "fetched").values(parser_version=0, parsed=None)
        )
    summary = sync(demo_source, synced_mirror, test_home)
    assert summary.documents.reparsed == len(rows(synced_mirror, select(documents).where(
        documents.c.state == "fetched"
    )))
    assert rows(synced_mirror, select(documents).where(documents.c.parser_version == 0)) == []
    assert status_of(synced_mirror, FIXED_CASES["seed_example"].mous_uid)["calibration_record"] == "agrees"


def test_the_json_summary_says_what_the_document_step_did(
    synced_mirror: URL, demo_source: URL, test_home: Path, stand_in: Any,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    cli_environment(monkeypatch, demo_source, synced_mirror, test_home)
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", stand_in.url)
    assert main(["-q", "sync", "--format", "json"]) == 0
    documents_step = json.loads(capsys.readouterr().out)["documents"]
    assert documents_step["configured"] is True
    assert documents_step["skipped_reason"] is None
    assert (documents_step["fetched"], documents_step["missing"]) == (0, 1)
    assert documents_step["held"] == documents_step["listed"] - 1
    monkeypatch.delenv("ALMAMIRROR_NGAS_URL")
    assert main(["-q", "sync", "--format", "json"]) == 0
    skipped = json.loads(capsys.readouterr().out)["documents"]
    assert skipped["configured"] is False
    assert "no NGAS archive is configured" in skipped["skipped_reason"]


def test_a_url_that_is_not_ngas_during_the_recheck_never_fails_the_sync(
    synced_mirror: URL, demo_source: URL, test_home: Path, stand_in: RunningStandIn
) -> None:
    # Held documents are asked about first (the recheck): a URL that answers "Command not found"
    # there stops the step as it does the fetch, and the records stay as they were.
    before = mirror_fingerprints(synced_mirror, skip=frozenset({"sync_run", "sync_run_table"}))
    summary = sync(demo_source, synced_mirror, test_home, ALMAMIRROR_NGAS_URL=f"{stand_in.url}/not-ngas")
    assert summary.documents.fetched == 0
    assert "does not look like an NGAS server" in (summary.documents.stopped or "")
    # Only the document the archive lacks is recorded anew (unavailable now, not missing).
    after = mirror_fingerprints(synced_mirror, skip=frozenset({"sync_run", "sync_run_table"}))
    assert {name for name in before if before[name] != after[name]} <= {
        "calibration_document", "calibration_record", "data_quality_issue", "change_event",
        "mous_last_change",
    }
    assert summary.documents.unavailable == 1


def test_records_judged_a_few_mouses_at_a_time_are_those_judged_all_at_once(
    mirror_db: URL, synced_mirror: URL, demo_source: URL, test_home: Path, stand_in: RunningStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The session's synced mirror judged every MOUS in one chunk; this one, 7 at a time.
    monkeypatch.setattr(calibration_record, "JUDGED_AT_ONCE", 7)
    sync(demo_source, mirror_db, test_home, ALMAMIRROR_NGAS_URL=stand_in.url)
    for table in (records, record_sessions, record_products):
        columns = [column for column in table.columns if not column.name.endswith(("_run_id", "_at"))]
        ordered = select(*columns).order_by(*table.primary_key.columns)
        chunked, at_once = rows(mirror_db, ordered), rows(synced_mirror, ordered)
        assert len(chunked) > 7, table.name
        assert chunked == at_once, table.name

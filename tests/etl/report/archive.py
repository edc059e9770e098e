"""A small mirror built by hand, row by row, with known answers for every view.

Times are relative to the moment the rows are written, because the views compare with now(): release
dates a year ago and a year ahead, runs a month, ten days, five days and a day ago.

| MOUS        | project | array/band | verdict                 | release            | last change |
|-------------|---------|------------|-------------------------|--------------------|-------------|
| OK          | A       | 12m B7     | restorable since run 1  | earlier this year  | run 2       |
| DELETED     | A       | 12m B7     | deleted_ous             | a year ago         | run 1       |
| MANUAL      | A       | 12m B3     | manual_calibration      | a year ago         | run 1       |
| NO_PASS     | B       | 7m B6      | no_pass_ebs             | never              | run 1       |
| NO_CAL      | B       | 7m B6      | no_calibration_products | a year ahead       | run 1       |
| MULTI       | B       | TP B6      | multiple_sbs            | a year ago         | run 4       |
| MISMATCH    | B       | 12m B6     | session_mismatch        | a year ago         | run 1       |
| NEW         | B       | 7m B6      | restorable since run 4  | never              | run 4       |
| FUTURE      | A       | 12m B7     | restorable since run 2  | a year ahead       | run 2       |
| LAST_YEAR   | A       | 12m B7     | restorable since run 1  | last year          | run 1       |
| NO_ARRAY    | B       | – B6       | unknown_array           | a year ago         | run 1       |
| BAD_EB      | B       | 12m B6     | malformed_eb_uid        | a year ago         | run 1       |
| BAD_REF     | B       | 12m B6     | malformed_reference     | a year ago         | run 1       |
| UNSAFE      | B       | 12m B6     | unsafe_product_name     | a year ago         | run 1       |
| CLASH       | B       | 12m B6     | product_name_clash      | a year ago         | run 1       |
| DISAGREES   | B       | 12m B6     | archive_record_disagrees| a year ago         | run 1       |
| EXTRA_STEPS | B       | TP B6      | restore_needs_extra_steps | a year ago       | run 1       |
| POST_STEPS  | B       | 12m B6     | manual_post_calibration | a year ago         | run 1       |
| MANIFEST_GAP| B       | 12m B6     | manifest_file_missing   | a year ago         | run 1       |

Each restorable MOUS is complete enough for its restore PPR to be written (references, sessions,
caltables): the PPR generator must write one for every MOUS the view calls restorable.

Calibration records: OK (MPI CASA 6.5.4-9), LAST_YEAR (serial CASA 6.5.4-9), FUTURE (MPI 6.4.1-12),
DISAGREES (MPI 6.5.4-9, disagrees), EXTRA_STEPS (serial 5.6.1-8); the others have none (absent).

Runs: 1 baseline, 2 succeeded, 3 failed, 4 succeeded (the latest succeeded), 5 still running.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert

from etl.derive.restorability import RULES_VERSION
from etl.mirror import (
    ChangeEvent,
    DataQualityIssue,
    MousStatus,
    Ous,
    ProductFile,
    Project,
    Proposal,
    SessionAssignment,
    SyncRun,
    SyncRunTable,
    table_of,
)

PROJECT_A = "uid://A001/X10/X1"
PROJECT_B = "uid://A001/X20/X1"
CODE_A = "2017.1.00001.S"
CODE_B = "2018.1.00002.S"


def mous(number: int) -> str:
    return f"uid://A001/X1/X{number}"


(
    OK, DELETED, MANUAL, NO_PASS, NO_CAL, MULTI, MISMATCH, NEW, FUTURE, LAST_YEAR,
    NO_ARRAY, BAD_EB, BAD_REF, UNSAFE, CLASH, DISAGREES, EXTRA_STEPS, POST_STEPS, MANIFEST_GAP,
) = (mous(n) for n in range(1, 20))
ALL_MOUS = (
    OK, DELETED, MANUAL, NO_PASS, NO_CAL, MULTI, MISMATCH, NEW, FUTURE, LAST_YEAR,
    NO_ARRAY, BAD_EB, BAD_REF, UNSAFE, CLASH, DISAGREES, EXTRA_STEPS, POST_STEPS, MANIFEST_GAP,
)
RESTORABLE = (OK, NEW, FUTURE, LAST_YEAR)
REASONS = {
    DELETED: "deleted_ous",
    MANUAL: "manual_calibration",
    NO_PASS: "no_pass_ebs",
    NO_CAL: "no_calibration_products",
    MULTI: "multiple_sbs",
    MISMATCH: "session_mismatch",
    NO_ARRAY: "unknown_array",
    BAD_EB: "malformed_eb_uid",
    BAD_REF: "malformed_reference",
    UNSAFE: "unsafe_product_name",
    CLASH: "product_name_clash",
    DISAGREES: "archive_record_disagrees",
    EXTRA_STEPS: "restore_needs_extra_steps",
    POST_STEPS: "manual_post_calibration",
    MANIFEST_GAP: "manifest_file_missing",
}
# (calibration_record, casa_version, pipeline_version, mpi_servers) of the MOUSes that have a record.
PROVENANCE = {
    OK: ("agrees", "6.5.4-9", "2023.1.0.124", 8),
    LAST_YEAR: ("agrees", "6.5.4-9", "2023.1.0.124", 0),
    FUTURE: ("agrees", "6.4.1-12", "2022.2.0.64", 8),
    DISAGREES: ("disagrees", "6.5.4-9", "2023.1.0.124", 8),
    EXTRA_STEPS: ("agrees", "5.6.1-8", "r42866 (Pipeline-CASA56-P1-B)", 0),
}

# The EBs of OK, in observation order: the first two in SESSION_1 (UIDs deliberately not in sorted
# order), a QA0 Fail alone in SESSION_2 (which stays, empty), one in SESSION_3.
OK_EBS = ("uid://A002/Xb/X2", "uid://A002/Xa/X1", "uid://A002/Xc/X3", "uid://A002/Xd/X4")
MULTI_EB = "uid://A002/Xe/X5"
LATEST_RUN = 4


@dataclass(frozen=True)
class Clock:
    """The moments every time in the archive is placed at."""

    now: datetime

    @property
    def start_of_year(self) -> datetime:
        return datetime(self.now.year, 1, 1, tzinfo=UTC)

    def run_finished(self, run_id: int) -> datetime:
        return self.now - RUN_FINISHED_AGO[run_id]

    def released_this_year(self) -> datetime:
        # Public already, and inside this calendar year even on 1 January.
        return max(self.start_of_year, self.now - timedelta(hours=1))


RUN_FINISHED_AGO = {1: timedelta(days=30), 2: timedelta(days=10), 3: timedelta(days=5), 4: timedelta(days=1)}


def naive_utc(moment: datetime) -> datetime:
    """How the mirror stores ALMA times: UTC without an offset."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def build_archive(connection: Connection) -> Clock:
    """Write the whole archive; returns the clock its times were placed by."""
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    _runs(connection, clock)
    _projects(connection)
    _ous(connection)
    _statuses(connection, clock)
    _sessions(connection)
    _products(connection)
    _events(connection)
    _issues(connection)
    return clock


def _insert(connection: Connection, model: type[Any], rows: Sequence[Mapping[str, Any]]) -> None:
    connection.execute(insert(table_of(model)), list(rows))


def _runs(connection: Connection, clock: Clock) -> None:
    def run(run_id: int, status: str, finished: datetime | None) -> dict[str, Any]:
        started = (finished or clock.now) - timedelta(minutes=3)
        return {
            "run_id": run_id, "started_at": started, "finished_at": finished, "status": status,
            "error": "source unavailable" if status == "failed" else None, "full": run_id == 1,
            "baseline": run_id == 1, "host": "testhost", "pid": 100 + run_id, "source": "test",
            "mous_derived": 10 if status == "succeeded" else None,
            "newly_restorable": {1: 2, 2: 1, 4: 1}.get(run_id),
            "quality_opened": 1 if status == "succeeded" else None,
            "quality_resolved": 0 if status == "succeeded" else None,
        }

    _insert(connection, SyncRun, [
        run(1, "succeeded", clock.run_finished(1)),
        run(2, "succeeded", clock.run_finished(2)),
        run(3, "failed", clock.run_finished(3)),
        run(4, "succeeded", clock.run_finished(4)),
        run(5, "running", None),
    ])
    _insert(connection, SyncRunTable, [
        {"run_id": run_id, "table_name": table, "rows_read": 10, "inserted": inserted, "updated": 1,
         "deleted": 0, "seconds": 0.25}
        for run_id, inserted in ((1, 10), (2, 2), (4, 3))
        for table in ("execution_block", "mous_status")
    ])


def _projects(connection: Connection) -> None:
    _insert(connection, Project, [
        {"project_uid": PROJECT_A, "code": CODE_A, "title": "A", "pi_account": "ada", "deleted": 0},
        {"project_uid": PROJECT_B, "code": CODE_B, "title": "B", "pi_account": "bea", "deleted": 0},
    ])
    # Project A has two proposal rows; the view takes the earliest cycle's. Project B was resubmitted:
    # its first proposal row has no PI, and the proposal with the lowest UID is a later cycle's, so
    # only "a proposal with a PI, earliest cycle first, then the lowest UID" gives Bea Ortiz.
    _insert(connection, Proposal, [
        {"proposal_uid": "uid://A001/X10/X9", "project_uid": PROJECT_A, "cycle": "2018.1",
         "pi_name": "Later Proposal"},
        {"proposal_uid": "uid://A001/X10/X8", "project_uid": PROJECT_A, "cycle": "2017.1",
         "pi_name": "Ada Lovelace"},
        {"proposal_uid": "uid://A001/X20/X8", "project_uid": PROJECT_B, "cycle": "2018.1",
         "pi_name": "Bea Ortiz"},
        {"proposal_uid": "uid://A001/X20/X7", "project_uid": PROJECT_B, "cycle": "2018.1",
         "pi_name": None},
        {"proposal_uid": "uid://A001/X20/X6", "project_uid": PROJECT_B, "cycle": "2019.1",
         "pi_name": "Lowest Uid"},
    ])


def project_of(mous_uid: str) -> str:
    return PROJECT_A if mous_uid in (OK, DELETED, MANUAL, FUTURE, LAST_YEAR) else PROJECT_B


def number_of(mous_uid: str) -> int:
    return ALL_MOUS.index(mous_uid) + 1


def sb_of(mous_uid: str) -> str:
    return f"uid://A001/X3/X{number_of(mous_uid)}"


def sb_status_of(mous_uid: str) -> str:
    return f"uid://A001/X4/X{number_of(mous_uid)}"


def pass_ebs_of(mous_uid: str) -> tuple[str, ...]:
    """The QA0 Pass EBs (one session) of every MOUS but OK, which has its own OK_EBS."""
    return tuple(f"uid://A002/Xf{number_of(mous_uid):x}/X{eb}" for eb in (1, 2))


def _ous(connection: Connection) -> None:
    _insert(connection, Ous, [
        {"ous_uid": uid, "part_id": f"X{n}", "state": "Deleted" if uid == DELETED else "Verified",
         "project_uid": project_of(uid), "project_status_uid": f"{project_of(uid)}0",
         "recipe": "PipelineCalibration"}
        for n, uid in enumerate(ALL_MOUS, start=1)
    ])


SCRIPT_KINDS = {"restore_needs_extra_steps": "pipeline_script"}


def _statuses(connection: Connection, clock: Clock) -> None:
    year_ago = naive_utc(clock.now - timedelta(days=365))
    year_ahead = naive_utc(clock.now + timedelta(days=365))
    last_year = naive_utc(clock.start_of_year - timedelta(days=1))
    this_year = naive_utc(clock.released_this_year())

    def status(
        uid: str, array: str, band: int, release: datetime | None, *, since_run: int | None = None,
        derived_run: int = 1, kind: str = "pipeline", **overrides: Any,
    ) -> dict[str, Any]:
        code = REASONS.get(uid)
        record, casa, pipeline, mpi = PROVENANCE.get(uid, ("absent", None, None, None))
        row = {
            "mous_uid": uid, "project_uid": project_of(uid), "sous_uid": "uid://A001/X2/X1",
            "gous_uid": "uid://A001/X2/X2", "state": "Deleted" if uid == DELETED else "Verified",
            "sb_count": 1, "sb_uid": sb_of(uid), "sb_status_uid": sb_status_of(uid),
            "obs_project_uid": project_of(uid), "ous_part_id": f"X{number_of(uid)}",
            "project_status_uid": f"{project_of(uid)}0", "array_family": array,
            "receiver_band": f"ALMA_RB_{band:02d}", "eb_count": 2,
            "pass_eb_count": 2, "session_count": 1, "empty_session_count": 0, "calibration_kind": kind,
            "caltables_sessions": [1], "sessions_match_caltables": True, "status_xml_session_count": 1,
            "sessions_match_status_xml": True, "release_date": release, "restorable": code is None,
            "reason_code": code, "reason_codes": [code] if code else [],
            # The kind the sync would derive (no MOUS here has a scriptForPI.py).
            "restore_kind": "pipeline_ppr" if code is None else SCRIPT_KINDS.get(code, "none"),
            "reason": f"because {code}" if code else None,
            "restorable_since": clock.run_finished(since_run) - timedelta(minutes=3) if since_run else None,
            "restorable_since_run_id": since_run, "derived_run_id": derived_run,
            "rules_version": RULES_VERSION,
            "calibration_record": record, "casa_version": casa, "pipeline_version": pipeline,
            "mpi_servers": mpi,
        }
        return {**row, **overrides}

    _insert(connection, MousStatus, [
        status(OK, "12m", 7, this_year, since_run=1, eb_count=4, pass_eb_count=3, session_count=3,
               empty_session_count=1, caltables_sessions=[1, 3]),
        status(DELETED, "12m", 7, year_ago),
        status(MANUAL, "12m", 3, year_ago, kind="manual"),
        status(NO_PASS, "7m", 6, None, pass_eb_count=0, empty_session_count=1),
        status(NO_CAL, "7m", 6, year_ahead, kind="none", caltables_sessions=[]),
        status(MULTI, "TP", 6, year_ago, sb_count=2, sb_uid=None, derived_run=2),
        status(MISMATCH, "12m", 6, year_ago, caltables_sessions=[2], sessions_match_caltables=False),
        status(NEW, "7m", 6, None, since_run=4, derived_run=4),
        status(FUTURE, "12m", 7, year_ahead, since_run=2, derived_run=2),
        status(LAST_YEAR, "12m", 7, last_year, since_run=1),
        status(NO_ARRAY, None, 6, year_ago),
        status(BAD_EB, "12m", 6, year_ago),
        status(BAD_REF, "12m", 6, year_ago, sb_status_uid=None),
        status(UNSAFE, "12m", 6, year_ago),
        status(CLASH, "12m", 6, year_ago),
        status(DISAGREES, "12m", 6, year_ago),
        status(EXTRA_STEPS, "TP", 6, year_ago),
        status(POST_STEPS, "12m", 6, year_ago, kind="pipeline_then_manual"),
        status(MANIFEST_GAP, "12m", 6, year_ago),
    ])


def _sessions(connection: Connection) -> None:
    numbers_and_qa0 = ((1, "Pass"), (1, "Pass"), (2, "Fail"), (3, "Pass"))
    _insert(connection, SessionAssignment, [
        {"mous_uid": OK, "eb_uid": eb, "session_number": number, "session_id": 700 + number,
         "qa0_status": qa0, "eb_start_time": datetime(2018, 3, 1, position), "position": position}
        for position, (eb, (number, qa0)) in enumerate(zip(OK_EBS, numbers_and_qa0, strict=True), start=1)
    ])
    # The other restorable MOUSes: two Pass EBs in SESSION_1, as their status rows say.
    _insert(connection, SessionAssignment, [
        {"mous_uid": uid, "eb_uid": eb, "session_number": 1, "session_id": 800 + number_of(uid),
         "qa0_status": "Pass", "eb_start_time": datetime(2019, 5, number_of(uid), position),
         "position": position}
        for uid in (NEW, FUTURE, LAST_YEAR)
        for position, eb in enumerate(pass_ebs_of(uid), start=1)
    ])


def disk_form(uid: str) -> str:
    return uid.replace(":", "_").replace("/", "_")


def caltables_name(mous_uid: str, session: int, suffix: str = "tgz") -> str:
    return f"member.{disk_form(mous_uid)}.session_{session}.caltables.{suffix}"


def _products(connection: Connection) -> None:
    _insert(connection, ProductFile, [
        {"mous_uid": OK, "file_name": caltables_name(OK, 1), "size_bytes": 10, "file_class": None},
        {"mous_uid": OK, "file_name": caltables_name(OK, 3), "size_bytes": 10, "file_class": None},
        {"mous_uid": OK, "file_name": caltables_name(OK, 1).replace(".caltables", ".auxcaltables"),
         "size_bytes": 10, "file_class": None},
        {"mous_uid": OK, "file_name": f"{disk_form(OK_EBS[0])}.ms.calapply.txt", "size_bytes": 1,
         "file_class": None},
        *({"mous_uid": uid, "file_name": caltables_name(uid, 1), "size_bytes": 10, "file_class": None}
          for uid in (NEW, FUTURE, LAST_YEAR)),
    ])


def _event(
    run_id: int, table: str, key: str, mous_uid: str | None, kind: str, changed: list[str] | None,
    old: dict[str, Any] | None, new: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "run_id": run_id, "table_name": table, "row_key": key, "mous_uid": mous_uid, "kind": kind,
        "changed_columns": changed, "old_values": old, "new_values": new,
    }


# In event_id order (the order they are inserted).
EVENTS = (
    _event(2, "execution_block", OK_EBS[1], OK, "update", ["qa0_status"],
           {"qa0_status": "Pending", "sb_uid": sb_of(OK)}, {"qa0_status": "Pass", "sb_uid": sb_of(OK)}),
    _event(2, "product_file", f"{OK} {caltables_name(OK, 3)}", OK, "insert", None, None,
           {"kind": "caltables", "session_number": 3, "mous_uid": OK}),
    _event(2, "mous_status", FUTURE, FUTURE, "update", ["restorable", "reason_code"],
           {"restorable": False, "reason_code": "no_calibration_products"},
           {"restorable": True, "reason_code": None}),
    _event(4, "product_file", f"{NEW} {caltables_name(NEW, 1)}", NEW, "insert", None, None,
           {"kind": "caltables", "session_number": 1, "mous_uid": NEW}),
    _event(4, "mous_status", NEW, NEW, "update", ["restorable", "reason_code", "calibration_kind"],
           {"restorable": False, "reason_code": "no_calibration_products", "calibration_kind": "none"},
           {"restorable": True, "reason_code": None, "calibration_kind": "pipeline"}),
    _event(4, "execution_block", MULTI_EB, MULTI, "update", ["qa0_status", "end_time"],
           {"qa0_status": "Pass", "end_time": None},
           {"qa0_status": "Fail", "end_time": "2018-03-01T05:00:00"}),
    _event(4, "delivery", "99", MULTI, "delete", None, {"release_date": None, "mous_uid": MULTI}, None),
    _event(4, "project", PROJECT_B, None, "update", ["letter_grade"], {}, {}),
)
EVENTS_OF_RUN = {2: 3, 4: 5}


def _events(connection: Connection) -> None:
    _insert(connection, ChangeEvent, EVENTS)


def _issues(connection: Connection) -> None:
    _insert(connection, DataQualityIssue, [
        {"kind": "eb_null_end_time", "mous_uid": OK, "subject": OK_EBS[2], "detail": "EB has no end time",
         "first_seen_run_id": 1, "last_seen_run_id": 4, "resolved_run_id": None},
        {"kind": "duplicate_shiftlog", "mous_uid": MULTI, "subject": MULTI_EB, "detail": "2 shift log rows",
         "first_seen_run_id": 1, "last_seen_run_id": 2, "resolved_run_id": 4},
        {"kind": "sb_unknown_mous", "mous_uid": None, "subject": "sb-orphan", "detail": "unknown MOUS",
         "first_seen_run_id": 2, "last_seen_run_id": 4, "resolved_run_id": None},
    ])


def last_change_run(mous_uid: str) -> int:
    """The run of the MOUS's latest change event, else the run that last derived it."""
    runs = [int(event["run_id"]) for event in EVENTS if event["mous_uid"] == mous_uid]
    if runs:
        return max(runs)
    return {MULTI: 2, NEW: 4, FUTURE: 2}.get(mous_uid, 1)

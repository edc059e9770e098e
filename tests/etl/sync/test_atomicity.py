"""A sync commits everything or nothing, and only one runs at a time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.engine import URL

from etl.cli import main
from etl.demo.fixed_cases import FIXED_CASES
from etl.errors import SourceUnavailable, SyncAlreadyRunning
from etl.mirror import SyncRun, table_of
from etl.source.contract import CONTRACT, contract_table
from etl.sync.run_record import start_run, take_sync_lock
from tests.conftest import cli_environment, open_engine
from tests.helpers import connect, mirror_fingerprints, rows, sync

runs = table_of(SyncRun)
products = contract_table(CONTRACT, "asa_product_files")

# A real PostgreSQL failure in the middle of the merges: the trigger fires on the product-file merge,
# after every table before it in the load order has been merged.
FAILING_TRIGGER = """
CREATE FUNCTION fail_on_new_product() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'injected failure while merging product_file'; END $$;
CREATE TRIGGER fail_on_new_product BEFORE INSERT ON product_file
FOR EACH ROW EXECUTE FUNCTION fail_on_new_product();
"""


def add_product(source: URL) -> None:
    case = FIXED_CASES["seed_example"]
    with connect(source) as connection:
        connection.execute(insert(products).values(
            asa_ous_id=case.mous_uid, ngas_file_id="member.uid___A001_X129e_Xb6.extra.fits", stored_size=1,
        ))


def test_a_failure_in_the_middle_of_a_merge_leaves_the_mirror_unchanged(
    source_copy: URL, synced_mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Also change an EB, merged before product_file, so the failure has something to undo.
    execblocks = contract_table(CONTRACT, "aqua_execblock")
    with connect(source_copy) as connection:
        connection.execute(execblocks.update().where(
            execblocks.c.execblockuid == FIXED_CASES["seed_first"].expected_sessions[0][0]
        ).values(qa0status="Fail"))
    add_product(source_copy)
    with connect(synced_mirror) as connection:
        connection.exec_driver_sql(FAILING_TRIGGER)
    before = mirror_fingerprints(synced_mirror)

    cli_environment(monkeypatch, source_copy, synced_mirror, test_home)
    assert main(["sync"]) == 1
    error = capsys.readouterr().err.splitlines()[-1]
    assert error == "almamirror: the mirror rejected the sync: injected failure while merging product_file"

    assert mirror_fingerprints(synced_mirror) == before
    failed = rows(synced_mirror, select(runs).order_by(runs.c.run_id.desc()).limit(1))[0]
    assert failed["status"] == "failed"
    assert failed["finished_at"] is not None
    assert "injected failure" in failed["error"]


def test_an_unreachable_source_fails_cleanly_and_is_recorded(
    synced_mirror: URL, databases: object, test_home: Path
) -> None:
    from tests.conftest import DatabaseFactory

    assert isinstance(databases, DatabaseFactory)
    missing = databases.url("no_such_source_database")
    before = mirror_fingerprints(synced_mirror)
    with pytest.raises(SourceUnavailable, match="no_such_source_database"):
        sync(missing, synced_mirror, test_home)
    assert mirror_fingerprints(synced_mirror) == before
    failed = rows(synced_mirror, select(runs).where(runs.c.status == "failed"))
    assert len(failed) == 1
    assert "no_such_source_database" in failed[0]["error"]


def test_a_second_sync_while_one_holds_the_lock_exits_3_naming_it(
    synced_mirror: URL, demo_source: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = open_engine(synced_mirror)
    try:
        with engine.connect() as holder, holder.begin():
            take_sync_lock(holder)
            running = start_run(engine, full=False, source="test")
            cli_environment(monkeypatch, demo_source, synced_mirror, test_home)
            assert main(["sync"]) == 3
            error = capsys.readouterr().err.splitlines()[-1]
            assert error.startswith("almamirror: another sync is running")
            assert f"run {running.run_id}" in error
            assert f"pid {os.getpid()}" in error
            with pytest.raises(SyncAlreadyRunning):
                sync(demo_source, synced_mirror, test_home)
    finally:
        engine.dispose()
    # Once the lock is free, a sync runs, and marks the abandoned run as interrupted.
    assert main(["sync"]) == 0
    statuses = {row["run_id"]: (row["status"], row["error"]) for row in rows(synced_mirror, select(runs))}
    assert statuses[running.run_id][0] == "interrupted"
    assert "interrupted" in statuses[running.run_id][1]


@pytest.mark.alone
def test_two_concurrent_sync_processes_one_exits_3(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    """Two real processes: the first is held inside its transaction by a table lock the test owns."""
    add_product(source_copy)
    env = {
        **os.environ,
        "ALMAMIRROR_HOME": str(test_home),
        "ALMAMIRROR_SOURCE_URL": source_copy.render_as_string(hide_password=False),
        "ALMAMIRROR_MIRROR_URL": synced_mirror.render_as_string(hide_password=False),
    }
    command = [sys.executable, "-m", "etl.cli", "sync"]
    blocker = open_engine(synced_mirror)
    try:
        with blocker.connect() as connection, connection.begin():
            connection.execute(text("LOCK TABLE product_file IN ACCESS EXCLUSIVE MODE"))
            first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            _wait_for_running_run(synced_mirror, first)
            second = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=120, check=False
            )
            assert second.returncode == 3, second.stderr
            assert "another sync is running" in second.stderr
        _out, err = first.communicate(timeout=300)
    finally:
        blocker.dispose()
    assert first.returncode == 0, err
    statuses = [row["status"] for row in rows(synced_mirror, select(runs).order_by(runs.c.run_id))]
    assert statuses == ["succeeded", "succeeded"]


def _wait_for_running_run(mirror: URL, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rows(mirror, select(runs.c.run_id).where(runs.c.status == "running")):
            return
        if process.poll() is not None:
            raise AssertionError(f"the first sync ended early: {process.stderr.read()!r}")  # type: ignore[union-attr]
        time.sleep(0.2)
    raise AssertionError("the first sync never started")

"""A run ends once: running → succeeded | failed | interrupted, and what it committed it keeps."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from etl.mirror import ProductFile, SyncRun, table_of
from etl.sync.run_record import end_run, start_run
from tests.conftest import open_engine
from tests.etl.sync.faults import (
    cli_env,
    finish,
    locked,
    start,
    terminate_backends,
    wait_for_lock_wait,
)
from tests.etl.sync.test_atomicity import add_product
from tests.helpers import connect, mirror_fingerprints, rows, scalar

runs = table_of(SyncRun)
product_files = table_of(ProductFile)


def last_run(mirror: URL) -> dict[str, object]:
    return dict(rows(mirror, select(runs).order_by(runs.c.run_id.desc()).limit(1))[0])


def test_a_source_dropping_after_the_last_read_does_not_split_the_run_from_its_commit(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    """The source's connection is killed while the sync works on the mirror, after reading everything.

    Whatever happens, the run's record and the mirror must agree: succeeded with the change, or
    failed without it (the source snapshot is closed before the mirror commits).
    """
    add_product(source_copy)
    products_before = scalar(synced_mirror, select(func.count()).select_from(product_files))
    # The derivation's first table: only reached once every source table has been read.
    with locked(synced_mirror, "LOCK TABLE ous_status_document IN ACCESS EXCLUSIVE MODE"):
        process = start(["sync"], cli_env(source_copy, synced_mirror, test_home))
        wait_for_lock_wait(synced_mirror, "almamirror-sync", process)
        terminate_backends(source_copy, "almamirror-source")
    code, _out, err = finish(process)

    run = last_run(synced_mirror)
    products_after = scalar(synced_mirror, select(func.count()).select_from(product_files))
    if run["status"] == "succeeded":
        assert code == 0, err
        assert products_after == products_before + 1
    else:
        assert run["status"] == "failed"
        assert products_after == products_before
    # The snapshot was closed before the wait: the killed connection was an idle one in the pool.
    assert run["status"] == "succeeded", run["error"]


def test_an_ended_run_keeps_its_state(synced_mirror: URL) -> None:
    engine = open_engine(synced_mirror)
    try:
        end_run(engine, 1, "failed", "a late failure")  # run 1 is the baseline, succeeded
        assert last_run(synced_mirror)["status"] == "succeeded"
        assert last_run(synced_mirror)["error"] is None
        interrupted = start_run(engine, full=False, source="test")
        start_run(engine, full=False, source="test")  # finds it running: its process must have died
        end_run(engine, interrupted.run_id, "failed", "too late")
    finally:
        engine.dispose()
    states = {r["run_id"]: r["status"] for r in rows(synced_mirror, select(runs.c.run_id, runs.c.status))}
    assert states[interrupted.run_id] == "interrupted"


def test_the_run_states_are_checked_by_the_database(synced_mirror: URL) -> None:
    refused = pytest.raises(IntegrityError, match="ck_sync_run_status_known")
    with refused, connect(synced_mirror) as connection:
        connection.execute(update(runs).values(status="paused"))
    with connect(synced_mirror) as connection:
        connection.execute(insert(runs).values(status="interrupted", full=False, host="h", pid=1, source="s"))


@pytest.mark.alone
def test_sigterm_during_a_sync_rolls_it_back_and_records_it_interrupted(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    add_product(source_copy)
    before = mirror_fingerprints(synced_mirror)
    with locked(source_copy, "LOCK alma.asa_product_files IN ACCESS EXCLUSIVE MODE"):
        process = start(["sync"], cli_env(source_copy, synced_mirror, test_home))
        wait_for_lock_wait(source_copy, "almamirror-source", process)
        process.send_signal(signal.SIGTERM)
        code, _out, err = finish(process, timeout=30)
    assert code == 130, err
    assert mirror_fingerprints(synced_mirror) == before
    run = last_run(synced_mirror)
    assert run["status"] == "interrupted"
    assert str(run["error"]).startswith("interrupted")
    assert scalar(synced_mirror, text("SELECT count(*) FROM sync_run WHERE status = 'running'")) == 0

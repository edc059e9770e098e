"""The document fetch runs before the sync's writing transaction and its lock, so two syncs may fetch
at once: neither fails, and the run that commits claims what was fetched."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from etl.database import mirror_engine, source_engine
from etl.demo.fixed_cases import FIXED_CASES
from etl.errors import SyncAlreadyRunning
from etl.load import documents as document_step
from etl.load.documents import DocumentFetch, fetch_calibration_documents
from etl.mirror import CalibrationDocument, CalibrationRecord, MousStatus, SyncRun, table_of
from etl.sync.run_record import take_sync_lock
from tests.conftest import open_engine, settings_for
from tests.etl.ngas.conftest import RunningStandIn
from tests.helpers import connect, rows, scalar, sync

cache = table_of(CalibrationDocument)
status = table_of(MousStatus)
runs = table_of(SyncRun)
records = table_of(CalibrationRecord)


def test_two_fetches_of_the_same_documents_at_once_both_succeed_and_the_next_run_claims_them(
    mirror_db: URL, demo_source: URL, test_home: Path, stand_in: RunningStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Small batches, so that the two writers' transactions interleave on the same rows many times.
    monkeypatch.setattr(document_step, "FLUSH_ROWS", 5)
    ngas = stand_in
    settings = settings_for(demo_source, mirror_db, test_home, {"ALMAMIRROR_NGAS_URL": ngas.url})
    start = threading.Barrier(2)
    results: list[DocumentFetch] = []
    failures: list[BaseException] = []

    def fetch() -> None:
        try:
            with mirror_engine(settings, "almamirror-sync") as mirror, source_engine(settings) as source:
                start.wait()
                results.append(fetch_calibration_documents(mirror, source, settings.source, settings.archive))
        except BaseException as exc:  # reported by the assertion below, with its traceback in the message
            failures.append(exc)

    workers = [threading.Thread(target=fetch) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    assert len(results) == 2
    listed = results[0].listed
    assert listed > 100
    for result in results:  # each saw an empty cache, so each fetched everything the archive has
        assert (result.listed, result.fetched, result.missing) == (listed, listed - 1, 1)
    cached = rows(mirror_db, select(cache.c.file_id, cache.c.state, cache.c.updated_run_id,
                                    cache.c.fetched_run_id))
    assert len(cached) == listed
    assert sum(row["state"] == "fetched" for row in cached) == listed - 1
    # Written before any run had the lock: no run is named yet.
    assert {(row["updated_run_id"], row["fetched_run_id"]) for row in cached} == {(None, None)}

    # A sync without an archive fetches nothing, but claims the cache and derives the records from it.
    summary = sync(demo_source, mirror_db, test_home)
    assert not summary.documents.configured
    claimed = rows(mirror_db, select(cache.c.state, cache.c.updated_run_id, cache.c.fetched_run_id))
    assert {row["updated_run_id"] for row in claimed} == {summary.run_id}
    assert {row["fetched_run_id"] for row in claimed if row["state"] == "fetched"} == {summary.run_id}
    assert {row["fetched_run_id"] for row in claimed if row["state"] != "fetched"} == {None}
    seed = FIXED_CASES["seed_example"].mous_uid
    assert scalar(mirror_db, select(status.c.calibration_record).where(status.c.mous_uid == seed)) == "agrees"


def test_a_sync_that_finds_the_lock_taken_fetches_nothing(
    mirror_db: URL, demo_source: URL, test_home: Path, stand_in: RunningStandIn,
) -> None:
    ngas = stand_in
    engine = open_engine(mirror_db)
    try:
        with engine.connect() as holder, holder.begin():
            take_sync_lock(holder)
            with pytest.raises(SyncAlreadyRunning):
                sync(demo_source, mirror_db, test_home, ALMAMIRROR_NGAS_URL=ngas.url)
    finally:
        engine.dispose()
    assert ngas.requests(None) == []
    assert scalar(mirror_db, select(func.count()).select_from(cache)) == 0
    assert scalar(mirror_db, select(func.count()).select_from(runs)) == 0


def test_documents_fetched_by_a_sync_that_did_not_commit_are_claimed_by_the_next(
    synced_mirror: URL, demo_source: URL, test_home: Path, stand_in: RunningStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sync that fetched and then failed leaves its documents unclaimed; the next sync re-derives
    their MOUSes' records although it fetched nothing itself."""
    seed = FIXED_CASES["seed_example"].mous_uid
    manifest = cache.c.file_id.like("%X129e_Xb6.hifa_calimage.pipeline_manifest.xml")
    with connect(synced_mirror) as connection:
        connection.execute(cache.delete().where(manifest))
        connection.execute(records.delete().where(records.c.mous_uid == seed))
    ngas = stand_in

    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr("etl.sync.pipeline.check_shrink", fail)
    with pytest.raises(RuntimeError, match="the disk is full"):
        sync(demo_source, synced_mirror, test_home, ALMAMIRROR_NGAS_URL=ngas.url)
    [fetched] = rows(synced_mirror, select(cache.c.state, cache.c.updated_run_id).where(manifest))
    assert (fetched["state"], fetched["updated_run_id"]) == ("fetched", None)
    assert scalar(synced_mirror, select(func.count()).where(records.c.mous_uid == seed)) == 0
    monkeypatch.undo()

    summary = sync(demo_source, synced_mirror, test_home)  # no archive: nothing is fetched
    assert scalar(synced_mirror, select(cache.c.fetched_run_id).where(manifest)) == summary.run_id
    [record] = rows(synced_mirror, select(records).where(records.c.mous_uid == seed))
    assert (record["state"], record["derived_run_id"]) == ("agrees", summary.run_id)

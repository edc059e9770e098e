"""The scheduler: its job lives in the mirror, it survives failed runs and stops cleanly."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select, text
from sqlalchemy.engine import URL

from etl.cli import main
from etl.mirror import SyncRun, table_of
from etl.schedule import EXIT_ON_SECOND_SIGNAL, JOB_ID, build_scheduler
from tests.conftest import cli_environment, open_engine, settings_for
from tests.etl.sync.faults import (
    cli_env,
    locked,
    start_logged,
    wait_for_exit,
    wait_for_lock_wait,
    wait_for_text,
)
from tests.etl.sync.test_atomicity import add_product
from tests.helpers import mirror_fingerprints, rows, scalar

runs = table_of(SyncRun)


def run_statuses(mirror: URL) -> list[str]:
    return [row["status"] for row in rows(mirror, select(runs.c.status).order_by(runs.c.run_id))]


def test_the_job_is_stored_in_the_mirror_with_the_configured_cron(
    synced_mirror: URL, demo_source: URL, test_home: Path
) -> None:
    settings = settings_for(demo_source, synced_mirror, test_home)
    engine = open_engine(synced_mirror)
    scheduler = build_scheduler(engine, settings, None, scheduler_class=BackgroundScheduler)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(JOB_ID)
        assert isinstance(job.trigger, CronTrigger)
        assert str(job.trigger) == str(CronTrigger.from_crontab("17 3 * * *", timezone="UTC"))
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 3600)
        assert job.func_ref == "etl.schedule:scheduled_sync"
        stored = scalar(synced_mirror, text("SELECT count(*) FROM apscheduler_jobs WHERE id = :id")
                        .bindparams(id=JOB_ID))
        assert stored == 1
    finally:
        scheduler.shutdown(wait=False)
        engine.dispose()


def test_a_failed_run_is_logged_and_the_next_run_happens(
    synced_mirror: URL, databases: Any, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    source = databases.url("scheduled_source")  # does not exist yet: the first runs fail
    cli_environment(monkeypatch, source, synced_mirror, test_home)
    settings = settings_for(source, synced_mirror, test_home)
    engine = open_engine(synced_mirror)
    scheduler = build_scheduler(engine, settings, None, trigger=IntervalTrigger(seconds=0.3),
                                scheduler_class=BackgroundScheduler)
    scheduler.start()
    try:
        _wait_until(lambda: "failed" in run_statuses(synced_mirror))
        assert scheduler.running
        databases.create("scheduled_source", template="source_small")
        _wait_until(lambda: run_statuses(synced_mirror)[-1] == "succeeded"
                    and "failed" in run_statuses(synced_mirror)[1:])
    finally:
        scheduler.shutdown(wait=True)
        engine.dispose()
    assert "schedule.sync_failed" in caplog.text
    assert "at the next scheduled time" in caplog.text
    assert "schedule.sync_done" in caplog.text


def test_once_runs_a_single_sync(
    synced_mirror: URL, demo_source: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_environment(monkeypatch, demo_source, synced_mirror, test_home)
    assert main(["-q", "schedule", "--once"]) == 0
    assert run_statuses(synced_mirror) == ["succeeded", "succeeded"]


@pytest.mark.alone
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_the_scheduler_process_stops_cleanly_on_a_signal(
    synced_mirror: URL, demo_source: URL, test_home: Path, stop: signal.Signals
) -> None:
    env = {
        **os.environ,
        "ALMAMIRROR_HOME": str(test_home),
        "ALMAMIRROR_SOURCE_URL": demo_source.render_as_string(hide_password=False),
        "ALMAMIRROR_MIRROR_URL": synced_mirror.render_as_string(hide_password=False),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "etl.cli", "schedule"], env=env, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    started = ""
    deadline = time.monotonic() + 60
    while "schedule.started" not in started and time.monotonic() < deadline:
        started += process.stderr.readline()
    assert "next_sync=" in started
    process.send_signal(stop)
    remaining = process.communicate(timeout=30)[1]
    assert process.returncode == 0, remaining
    assert "schedule.stopped" in remaining


@pytest.mark.alone
def test_sigterm_during_a_sync_lets_it_finish_then_the_scheduler_exits_0(
    source_copy: URL, synced_mirror: URL, test_home: Path, tmp_path: Path
) -> None:
    """The sync is held on a source lock when systemd stops the service."""
    add_product(source_copy)
    log = tmp_path / "schedule.log"
    with locked(source_copy, "LOCK alma.asa_product_files IN ACCESS EXCLUSIVE MODE"):
        process = start_logged(["schedule", "--now"], cli_env(source_copy, synced_mirror, test_home), log)
        wait_for_lock_wait(source_copy, "almamirror-source", process)
        process.send_signal(signal.SIGTERM)
        wait_for_text(log, "schedule.stopping", process)
        time.sleep(0.5)
        assert process.poll() is None  # waiting for the sync, which waits for the lock
    # The lock is gone: the sync finishes, and the process ends by itself within seconds.
    assert wait_for_exit(process, timeout=30) == 0, log.read_text()
    assert "schedule.stopped" in log.read_text()
    assert run_statuses(synced_mirror) == ["succeeded", "succeeded"]
    added = text("SELECT count(*) FROM product_file WHERE file_name LIKE '%extra.fits'")
    assert scalar(synced_mirror, added) == 1


@pytest.mark.alone
def test_a_second_sigterm_rolls_the_sync_back_and_exits_143(
    source_copy: URL, synced_mirror: URL, demo_source: URL, test_home: Path, tmp_path: Path
) -> None:
    add_product(source_copy)
    before = mirror_fingerprints(synced_mirror)
    log = tmp_path / "schedule.log"
    with locked(source_copy, "LOCK alma.asa_product_files IN ACCESS EXCLUSIVE MODE"):
        process = start_logged(["schedule", "--now"], cli_env(source_copy, synced_mirror, test_home), log)
        wait_for_lock_wait(source_copy, "almamirror-source", process)
        process.send_signal(signal.SIGTERM)
        wait_for_text(log, "schedule.stopping", process)
        process.send_signal(signal.SIGTERM)
        assert wait_for_exit(process, timeout=15) == EXIT_ON_SECOND_SIGNAL, log.read_text()
    assert "schedule.killed" in log.read_text()
    assert mirror_fingerprints(synced_mirror) == before
    # The process had no time to record its end: the next sync records it.
    assert main_in_process(demo_source, synced_mirror, test_home) == 0
    assert run_statuses(synced_mirror)[1] == "interrupted"


def main_in_process(source: URL, mirror: URL, home: Path) -> int:
    from tests.etl.sync.faults import run

    return run(["-q", "sync"], cli_env(source, mirror, home)).returncode


def _wait_until(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _site_file(tmp_path: Path, status_page_dir: Path) -> Path:
    site = tmp_path / "site.toml"
    site.write_text(f'[schedule]\nstatus_page_dir = "{status_page_dir}"\n', encoding="utf-8")
    return site


def test_once_writes_the_status_page_when_configured(
    synced_mirror: URL, demo_source: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cli_environment(monkeypatch, demo_source, synced_mirror, test_home)
    out_dir = tmp_path / "www"
    assert main(["-q", "--config", str(_site_file(tmp_path, out_dir)), "schedule", "--once"]) == 0
    page = (out_dir / "index.html").read_text(encoding="utf-8")
    assert "Run 2 succeeded: incremental" in page


def test_a_scheduled_sync_writes_the_page_even_when_it_fails(
    synced_mirror: URL, databases: Any, test_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from etl.schedule import scheduled_sync

    caplog.set_level(logging.INFO)
    cli_environment(monkeypatch, databases.url("no_such_source"), synced_mirror, test_home)
    out_dir = tmp_path / "www"
    scheduled_sync(str(_site_file(tmp_path, out_dir)))
    assert "schedule.sync_failed" in caplog.text
    page = (out_dir / "index.html").read_text(encoding="utf-8")
    assert "Run 2 failed" in page
    assert "The latest successful sync is run 1" in page


def test_a_status_page_that_cannot_be_written_is_a_warning(
    synced_mirror: URL, demo_source: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from etl.schedule import scheduled_sync

    caplog.set_level(logging.INFO)
    cli_environment(monkeypatch, demo_source, synced_mirror, test_home)
    taken = tmp_path / "taken"
    taken.write_text("not a directory", encoding="utf-8")
    scheduled_sync(str(_site_file(tmp_path, taken)))
    assert "schedule.sync_done" in caplog.text
    assert "schedule.status_page_failed" in caplog.text
    assert "is a file" in caplog.text
    assert run_statuses(synced_mirror) == ["succeeded", "succeeded"]

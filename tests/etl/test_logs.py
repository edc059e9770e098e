"""Log lines: every one is ``time level logger event key=value …``, APScheduler's own included."""

from __future__ import annotations

import re
import threading
import time

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from etl.logs import configure_logging

LINE = re.compile(
    r"^\S+Z (INFO|WARNING|ERROR|DEBUG) (\S+) ([a-z_]+(\.[a-z_]+)+)( [a-z_]+=(\"[^\"]*\"|\S+))*$"
)


def test_apscheduler_lines_read_like_every_other_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    done = threading.Event()
    scheduler = BackgroundScheduler()
    scheduler.add_job(done.set, "date", id="almamirror-sync", name="almamirror sync")
    scheduler.start()
    assert done.wait(30)
    # A one-off job is removed by the scheduler's thread after it ran: shutting down before that
    # makes the removal fail in that thread.
    for _ in range(300):
        if not scheduler.get_jobs():
            break
        time.sleep(0.01)
    scheduler.shutdown(wait=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if " apscheduler." in line]
    events = [LINE.match(line) for line in lines]
    assert all(events), lines
    names = [match[3] for match in events if match]
    assert "apscheduler.started" in names
    assert "apscheduler.job_added" in names
    assert "apscheduler.shut_down" in names
    added = next(line for line in lines if "apscheduler.job_added" in line)
    assert added.endswith('job="almamirror sync" job_store=default')


def test_an_apscheduler_message_without_an_event_keeps_its_words(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    configure_logging("INFO")
    logging.getLogger("apscheduler.jobstores.default").warning("Unable to restore job %s", "x -- removing")
    [line] = capsys.readouterr().err.splitlines()
    assert LINE.match(line), line
    assert line.endswith('apscheduler.message text="Unable to restore job x -- removing"')

"""The stand-in NGAS as a separate server process over loopback, with the faults a test asks for."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from etl.demo.ngas_bodies import body
from etl.demo.ngas_process import StandInProcess, start_stand_in
from etl.settings import ArchiveSettings
from tests.conftest import open_engine

SEED_MOUS_DISK = "uid___A001_X129e_Xb6"


class RunningStandIn:
    """A stand-in process and the requests it logged."""

    def __init__(self, process: StandInProcess, request_log: Path) -> None:
        self.process = process
        self.url = process.url
        self.request_log = request_log

    def requests(self, command: str | None = "RETRIEVE") -> list[dict[str, Any]]:
        """The logged requests, once the log has stopped growing (a handler logs after its reply)."""
        text, previous = self._read(), None
        while text != previous:
            time.sleep(0.1)
            previous, text = text, self._read()
        lines = [json.loads(line) for line in text.splitlines()]
        return [line for line in lines if command is None or line["command"] == command]


    def _read(self) -> str:
        return self.request_log.read_text("utf-8") if self.request_log.exists() else ""


StandInFactory = Callable[..., RunningStandIn]


@pytest.fixture
def stand_in_factory(demo_source: URL, test_home: Path, tmp_path: Path) -> Iterator[StandInFactory]:
    """Start stand-ins: ``factory("--fault", "drop-mid-body")``; every one is stopped at the end."""
    started: list[StandInProcess] = []

    def factory(*arguments: str) -> RunningStandIn:
        log = tmp_path / f"requests-{len(started)}.jsonl"
        environment = {
            "ALMAMIRROR_SOURCE_URL": demo_source.render_as_string(hide_password=False),
            "ALMAMIRROR_HOME": str(test_home),
            "ALMAMIRROR_LOG_LEVEL": "WARNING",
        }
        process = start_stand_in(environment, ["--request-log", str(log), *arguments])
        started.append(process)
        return RunningStandIn(process, log)

    yield factory
    for process in started:
        process.stop()


@pytest.fixture
def stand_in(stand_in_factory: StandInFactory) -> RunningStandIn:
    """A stand-in without faults."""
    return stand_in_factory()


def archive_settings(*urls: str, read_timeout: float = 10.0, retries: int = 2, workers: int = 4,
                     asdm_command: str = "asdmExportLight {eb_uid}", min_transfer_rate: float = 0.1,
                     node_hosts: tuple[str, ...] = ()) -> ArchiveSettings:
    return ArchiveSettings(tuple(urls), 2.0, read_timeout, workers, retries, asdm_command,
                           min_transfer_rate=min_transfer_rate, node_hosts=node_hosts)


def catalogue(demo_source: URL, where: str, **parameters: Any) -> list[Any]:
    """Rows of the stand-in's catalogue matching a SQL condition."""
    engine = open_engine(demo_source)
    try:
        with engine.connect() as connection:
            return list(connection.execute(
                text(f"SELECT * FROM alma.ngas_file WHERE {where} ORDER BY file_id"), parameters
            ).mappings())
    finally:
        engine.dispose()


def served(entry: Any) -> bytes:
    """The bytes the stand-in serves for a catalogue row: its stored content, or its generated body."""
    if entry["content"] is not None:
        return bytes(entry["content"])
    return body(entry["file_id"], int(entry["file_size"]))


def served_bytes(demo_source: URL, file_id: str) -> bytes:
    (entry,) = catalogue(demo_source, "file_id = :file_id", file_id=file_id)
    return served(entry)

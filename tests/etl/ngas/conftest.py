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
# A product no catalogue holds.
MISSING_FILE = "member.uid___A001_X1_X2.session_1.caltables.tgz"


class RunningStandIn:
    """A stand-in process and the requests it logged (from byte ``start`` of its log on)."""

    def __init__(self, process: StandInProcess, request_log: Path, start: int = 0) -> None:
        self.process = process
        self.url = process.url
        self.request_log = request_log
        self.start = start

    def requests(self, command: str | None = "RETRIEVE") -> list[dict[str, Any]]:
        """The logged requests in the order they arrived, once the log has stopped growing (a handler
        logs after its reply, so the lines of two nodes can be written in another order)."""
        self._settled_size()
        lines = sorted((json.loads(line) for line in self._read().splitlines()),
                       key=lambda line: line["arrived"])
        return [line for line in lines if command is None or line["command"] == command]

    def from_now_on(self) -> RunningStandIn:
        """The same process, whose ``requests()`` are only those logged from now on."""
        return RunningStandIn(self.process, self.request_log, self._settled_size())

    def _settled_size(self) -> int:
        """The log's size once it has not grown for 0.1 s (it is only ever appended to)."""
        size, previous = self._size(), None
        while size != previous:
            time.sleep(0.1)
            previous, size = size, self._size()
        return size

    def _size(self) -> int:
        return self.request_log.stat().st_size if self.request_log.exists() else 0

    def _read(self) -> str:
        if not self.request_log.exists():
            return ""
        with self.request_log.open("rb") as log:
            log.seek(self.start)
            return log.read().decode("utf-8")


StandInFactory = Callable[..., RunningStandIn]


def stand_in_environment(source: URL, test_home: Path) -> dict[str, str]:
    """The environment of a stand-in serving ``source``'s catalogue."""
    return {
        "ALMAMIRROR_SOURCE_URL": source.render_as_string(hide_password=False),
        "ALMAMIRROR_HOME": str(test_home),
        "ALMAMIRROR_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def stand_in_factory(demo_source: URL, test_home: Path, tmp_path: Path) -> Iterator[StandInFactory]:
    """Start stand-ins with faults or node states: ``factory("--fault", "drop-mid-body")``, each a
    process of its own (faults are per process); every one is stopped at the end."""
    started: list[StandInProcess] = []

    def factory(*arguments: str) -> RunningStandIn:
        log = tmp_path / f"requests-{len(started)}.jsonl"
        process = start_stand_in(stand_in_environment(demo_source, test_home),
                                 ["--request-log", str(log), *arguments])
        started.append(process)
        return RunningStandIn(process, log)

    yield factory
    for process in started:
        process.stop()


# The run's one shared stand-in: its fixture is imported by the conftest of each directory that uses it
# (tests/ppr, tests/etl/calibration), which makes a fixture of each; the first of them to run starts it.
_shared: list[RunningStandIn] = []


@pytest.fixture(scope="session")
def shared_stand_in(databases: Any, demo_source: URL, test_home: Path,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStandIn]:
    """One stand-in without faults for the whole run: it serves a copy of the demo source that nothing
    writes and keeps no state a test could see, so each test reads only the requests logged since it
    began (``stand_in``). A copy, because the source's own database is the template of the tests'
    copies (``source_copy``), and a template is copied only while nobody is connected to it."""
    if _shared:
        yield _shared[0]
        return
    served = databases.create("source_served", template="source_small")
    log = tmp_path_factory.mktemp("shared-stand-in") / "requests.jsonl"
    process = start_stand_in(stand_in_environment(served, test_home), ["--request-log", str(log)])
    _shared.append(RunningStandIn(process, log))
    try:
        yield _shared[0]
    finally:
        _shared.clear()
        process.stop()


@pytest.fixture
def stand_in(shared_stand_in: RunningStandIn) -> RunningStandIn:
    """A stand-in without faults: the run's shared process, its requests counted from this test on.

    A test asking for a second one without faults, to tell apart the requests of two runs, takes
    another ``stand_in.from_now_on()``.
    """
    return shared_stand_in.from_now_on()


def archive_settings(*urls: str, read_timeout: float = 10.0, retries: int = 2, workers: int = 4,
                     asdm_command: str = "asdmExportLight {eb_uid}", min_transfer_rate: float = 0.1,
                     node_hosts: tuple[str, ...] = (), connect_timeout: float = 2.0) -> ArchiveSettings:
    return ArchiveSettings(tuple(urls), connect_timeout, read_timeout, workers, retries, asdm_command,
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


def seed_files(demo_source: URL, count: int) -> list[str]:
    """The first ``count`` file ids of the seed MOUS's products in the catalogue, in order."""
    rows = catalogue(demo_source, "file_id LIKE :pattern", pattern=f"member.{SEED_MOUS_DISK}.%")
    return sorted(str(row["file_id"]) for row in rows)[:count]

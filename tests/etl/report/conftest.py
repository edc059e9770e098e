"""Fixtures for the reporting tests: the hand-built archive in a fresh mirror, and the CLI pointed at it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.conftest import DatabaseFactory, cli_environment
from tests.etl.report.archive import Clock, build_archive
from tests.helpers import connect


@dataclass(frozen=True)
class ArchiveMirror:
    url: URL
    clock: Clock


@pytest.fixture(scope="module")
def shared_synced_mirror(
    databases: DatabaseFactory, synced_template: str, request: pytest.FixtureRequest
) -> Iterator[URL]:
    """A copy of the mirror synced from the small demo archive, shared by a module's tests that only
    read it (reports and ``explain`` open read-only transactions); a test that changes the mirror takes
    ``synced_mirror``, a copy of its own."""
    name = "ro_" + hashlib.blake2s(request.node.nodeid.encode()).hexdigest()[:10]
    yield databases.create(name, template=synced_template)
    databases.discard(name)


@pytest.fixture(scope="module")
def shared_archive(
    databases: DatabaseFactory, migrated_template: str, request: pytest.FixtureRequest
) -> Iterator[ArchiveMirror]:
    """The hand-built archive, built once for a module whose tests only read it (reports run in a
    read-only snapshot: test_commands.py's test_reports_are_read_only). Its times are placed by the
    clock of the moment it is built, as ``archive``'s are."""
    name = "ra_" + hashlib.blake2s(request.node.nodeid.encode()).hexdigest()[:10]
    url = databases.create(name, template=migrated_template)
    with connect(url) as connection:
        clock = build_archive(connection)
    yield ArchiveMirror(url, clock)
    databases.discard(name)


@pytest.fixture
def own_archive(mirror_db: URL) -> ArchiveMirror:
    """A fresh mirror holding the hand-built archive of ``archive.py``, for a test that changes it."""
    with connect(mirror_db) as connection:
        clock = build_archive(connection)
    return ArchiveMirror(mirror_db, clock)


@pytest.fixture
def archive(own_archive: ArchiveMirror) -> ArchiveMirror:
    """The archive the reporting tests read: a fresh one each, unless a module that only reads it makes
    this ``shared_archive``."""
    return own_archive


@dataclass(frozen=True)
class Outcome:
    status: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


Almamirror = Callable[..., Outcome]


@pytest.fixture
def almamirror(
    archive: ArchiveMirror, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    test_home: Path,
) -> Almamirror:
    """Run ``almamirror ARGS…`` in process against the archive mirror."""
    return cli_runner(archive.url, monkeypatch, capsys, test_home)


def cli_runner(
    mirror: URL, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], home: Path
) -> Almamirror:
    from etl.cli import main

    cli_environment(monkeypatch, None, mirror, home)

    def run(*args: str) -> Outcome:
        capsys.readouterr()
        status = main(list(args))
        captured = capsys.readouterr()
        return Outcome(status, captured.out, captured.err)

    return run

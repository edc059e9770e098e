"""A bulk run's building in worker processes and writing in threads reports and writes exactly what
one process writing one directory at a time would."""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from etl.settings import PprSettings
from ppr import writer
from ppr.bulk import in_order
from ppr.layout import RequestFiles, write_request_directory
from ppr.query import restore_requests, verdicts
from ppr.service import build_all_restorable, build_requests
from tests.conftest import open_engine

CREATED = datetime(2026, 12, 1, 12, 0, 0, 123_456)


@pytest.fixture(scope="module")
def mirror(databases: Any, synced_template: str) -> URL:
    return databases.create("ppr_bulk", template=synced_template)


def chosen(mirror: URL) -> list[Any]:
    engine = open_engine(mirror)
    try:
        with engine.connect() as connection:
            found = verdicts(connection)
            requests = restore_requests(connection, sorted(found))
    finally:
        engine.dispose()
    return [(requests[uid], found[uid]) for uid in sorted(requests)]


def test_worker_processes_write_what_this_process_writes(
    mirror: URL, site: PprSettings, tmp_path: Path
) -> None:
    items = chosen(mirror)
    here = list(in_order(functools.partial(build_requests, tmp_path / "here", site, False, False, CREATED),
                         items, parallel_from=len(items) + 1))
    in_workers = list(in_order(
        functools.partial(build_requests, tmp_path / "workers", site, False, False, CREATED),
        items, parallel_from=1,
    ))
    assert [uid for uid, _ in here] == [request.mous_uid for request, _ in items]
    assert [relative(outcome, tmp_path / "workers") for _, outcome in in_workers] == [
        relative(outcome, tmp_path / "here") for _, outcome in here
    ]
    assert files_under(tmp_path / "workers") == files_under(tmp_path / "here")
    assert any(isinstance(outcome, Path) for _, outcome in here)
    assert any(isinstance(outcome, str) and outcome.startswith("proprietary: ") for _, outcome in here)


def relative(outcome: Path | str, base: Path) -> Path | str:
    return outcome.relative_to(base) if isinstance(outcome, Path) else outcome


def files_under(base: Path) -> dict[str, bytes]:
    """Each file's bytes; restore.json and run-restore.sh name the base by its absolute path."""
    return {
        str(path.relative_to(base)): path.read_bytes().replace(str(base).encode(), b"<base>")
        for path in sorted(base.rglob("*")) if path.is_file()
    }


def test_threads_write_the_same_files_and_report_in_the_same_order(
    mirror: URL, site: PprSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ppr.service.utc_now", lambda: CREATED)
    engine = open_engine(mirror)
    try:
        with engine.connect() as connection:
            threaded = build_all_restorable(connection, tmp_path / "threads", site)
            monkeypatch.setattr(writer, "WRITER_THREADS", 1)
            monkeypatch.setattr(writer, "MAX_PENDING", 0)
            one_by_one = build_all_restorable(connection, tmp_path / "one", site)
            again = build_all_restorable(connection, tmp_path / "threads", site, force=False)
    finally:
        engine.dispose()
    assert files_under(tmp_path / "threads") == files_under(tmp_path / "one")
    assert [path.relative_to(tmp_path / "threads") for path in threaded.written] == [
        path.relative_to(tmp_path / "one") for path in one_by_one.written
    ]
    assert list(threaded.refused.items()) == list(one_by_one.refused.items())
    # Already built: nothing written again, nothing refused but what was refused before.
    assert again.written == []
    assert sorted(again.already_built.values()) == sorted(threaded.written)


def test_a_directory_taken_meanwhile_is_refused_in_order(site: PprSettings, tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    (taken / "working").mkdir(parents=True)
    files = RequestFiles(taken, "PPR_x.xml", b"<x/>", b"{}\n")
    refused: list[str] = []
    written: list[str] = []
    with writer.RequestWriter(
        False,
        on_written=lambda uid, _path: written.append(uid),
        on_exists=lambda uid, _exists: refused.append(uid),
    ) as bulk:
        bulk.submit("a", RequestFiles(tmp_path / "a", "PPR_a.xml", b"<a/>", b"{}\n"))
        bulk.submit("taken", files)
        bulk.submit("b", RequestFiles(tmp_path / "b", "PPR_b.xml", b"<b/>", b"{}\n"))
    assert written == ["a", "b"]
    assert refused == ["taken"]
    assert write_request_directory(files, force=True) == taken
    assert (taken / "working" / "PPR_x.xml").read_bytes() == b"<x/>"

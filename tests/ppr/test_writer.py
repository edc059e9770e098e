"""The bulk writer: directories written under hidden names, one flush of the file system per batch, then
renamed into place in submission order; nothing written but not put in place outlives an error."""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ppr import writer
from ppr.errors import OutputExists
from ppr.layout import RequestFiles

COUNT = 10


@pytest.fixture(autouse=True)
def flush_mode() -> Iterator[writer.FlushMode]:
    # The process's mode, as a bulk run's worker keeps it: a slow flush in an earlier test of this
    # worker process may have set it.
    writer.flush_mode.each_file = False
    yield writer.flush_mode
    writer.flush_mode.each_file = False


@dataclass
class SyncfsCalls:
    """What was in place under the test's directory at each call of the real syncfs."""

    in_place: list[list[str]] = field(default_factory=list)


@pytest.fixture
def syncfs_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SyncfsCalls:
    real = writer._syncfs()
    if real is None:
        pytest.skip("no syncfs here (not Linux)")
    calls = SyncfsCalls()

    def observed(descriptor: int) -> int:
        calls.in_place.append(sorted(path.name for path in tmp_path.glob("run_*/m*")))
        return real(descriptor)

    monkeypatch.setattr(writer, "_syncfs", lambda: observed)
    monkeypatch.setattr(writer, "BATCH", 4)
    # No flush counts as slow on a loaded machine, unless the test says so: the calls are counted.
    monkeypatch.setattr(writer, "SLOW_FLUSH_SECONDS", float("inf"))
    return calls


def request_files(base: Path, count: int = COUNT) -> list[tuple[str, RequestFiles]]:
    return [
        (f"m{number}", RequestFiles(
            base / f"run_{number % 3}" / f"m{number}", f"PPR_{number}.xml", f"<ppr n='{number}'/>".encode(),
            b"{}\n", (("README.txt", f"request {number}\n".encode()),),
        ))
        for number in range(count)
    ]


def write_all(
    base: Path, on_written: Callable[[str, Path], None] | None = None, count: int = COUNT
) -> list[tuple[str, Path | OutputExists]]:
    outcomes: list[tuple[str, Path | OutputExists]] = []

    def written(uid: str, path: Path) -> None:
        outcomes.append((uid, path))
        if on_written is not None:
            on_written(uid, path)

    with writer.RequestWriter(False, on_written=written,
                              on_exists=lambda uid, exists: outcomes.append((uid, exists))) as bulk:
        for uid, files in request_files(base, count):
            bulk.submit(uid, files)
    return outcomes


def hidden(base: Path) -> list[Path]:
    return list(base.rglob(".*"))


def assert_complete(base: Path, numbers: range) -> None:
    for number in numbers:
        directory = base / f"run_{number % 3}" / f"m{number}"
        assert (directory / "working" / f"PPR_{number}.xml").read_bytes() == f"<ppr n='{number}'/>".encode()
        assert (directory / "README.txt").read_bytes() == f"request {number}\n".encode()
        assert sorted(path.name for path in directory.iterdir()) == [
            "README.txt", "fetch-manifest.json", "products", "rawdata", "working",
        ]


def test_every_directory_is_put_in_place_complete_and_reported_in_order(
    tmp_path: Path, syncfs_calls: SyncfsCalls
) -> None:
    outcomes = write_all(tmp_path)
    assert [uid for uid, _ in outcomes] == [f"m{number}" for number in range(COUNT)]
    assert_complete(tmp_path, range(COUNT))
    assert hidden(tmp_path) == []
    # Batches of 4: three flushes, each before its batch was renamed, after the batches before it.
    assert syncfs_calls.in_place == [
        [],
        sorted(f"m{number}" for number in range(4)),
        sorted(f"m{number}" for number in range(8)),
    ]


def test_a_slow_flush_makes_the_process_flush_each_file(
    tmp_path: Path, syncfs_calls: SyncfsCalls, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(writer, "SLOW_FLUSH_SECONDS", -1.0)  # every flush counts as slow
    # Each directory collected as it is submitted: the mode changes between two submissions.
    monkeypatch.setattr(writer, "MAX_PENDING", 0)
    with caplog.at_level(logging.INFO, logger="ppr.writer"):
        write_all(tmp_path)
    assert writer.flush_mode.each_file
    # Only the first batch: every directory after it was flushed file by file.
    assert len(syncfs_calls.in_place) == 1
    assert [record.message.split()[0] for record in caplog.records] == ["ppr.flush_each_file"]
    assert_complete(tmp_path, range(COUNT))
    assert hidden(tmp_path) == []
    # The next writer of this process flushes each file from the start.
    write_all(tmp_path / "next")
    assert len(syncfs_calls.in_place) == 1
    assert_complete(tmp_path / "next", range(COUNT))


def test_without_syncfs_each_file_is_flushed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "_syncfs", lambda: None)
    outcomes = write_all(tmp_path)
    assert [uid for uid, _ in outcomes] == [f"m{number}" for number in range(COUNT)]
    assert_complete(tmp_path, range(COUNT))
    assert hidden(tmp_path) == []


def test_a_failed_flush_puts_nothing_of_its_batch_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(_descriptor: int) -> int:
        ctypes.set_errno(errno.EIO)
        return -1

    monkeypatch.setattr(writer, "_syncfs", lambda: failing)
    with pytest.raises(OSError, match="flushing the file system") as raised:
        write_all(tmp_path)
    assert raised.value.errno == errno.EIO
    assert not any(path.name.startswith("m") for path in tmp_path.rglob("*"))
    assert hidden(tmp_path) == []


def test_an_error_while_reporting_removes_what_is_not_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "BATCH", 4)

    def stop_at_the_sixth(uid: str, _path: Path) -> None:
        if uid == "m5":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_all(tmp_path, on_written=stop_at_the_sixth)
    in_place = sorted(path.name for path in tmp_path.glob("run_*/m*"))
    assert in_place == sorted(f"m{number}" for number in range(6))
    assert_complete(tmp_path, range(6))
    assert hidden(tmp_path) == []


def test_a_taken_directory_is_refused_in_its_place_in_the_order(tmp_path: Path) -> None:
    taken = tmp_path / "run_1" / "m4"
    (taken / "working").mkdir(parents=True)
    outcomes = write_all(tmp_path)
    assert [uid for uid, _ in outcomes] == [f"m{number}" for number in range(COUNT)]
    assert isinstance(dict(outcomes)["m4"], OutputExists)
    assert_complete(tmp_path, range(4))
    assert_complete(tmp_path, range(5, COUNT))
    assert hidden(tmp_path) == []


def test_a_batch_on_two_file_systems_flushes_both(tmp_path: Path, syncfs_calls: SyncfsCalls) -> None:
    # The run's temporary files may be in memory or on disk (tests/scratch.py): the other of the two.
    candidates = [Path(tempfile.gettempdir()), Path("/dev/shm"), Path("/var/tmp")]  # noqa: S108
    others = [path for path in candidates if path.is_dir() and os.access(path, os.W_OK)
              and path.stat().st_dev != tmp_path.stat().st_dev]
    if not others:
        pytest.skip("no second file system to write to")
    elsewhere = Path(tempfile.mkdtemp(dir=others[0]))
    try:
        files = request_files(tmp_path, 2)
        uid, moved = request_files(elsewhere, 3)[2]
        outcomes: list[str] = []
        with writer.RequestWriter(False, on_written=lambda uid, _path: outcomes.append(uid),
                                  on_exists=lambda uid, _exists: outcomes.append(f"exists {uid}")) as bulk:
            for submitted, requested in [*files, (uid, moved)]:
                bulk.submit(submitted, requested)
        assert outcomes == ["m0", "m1", "m2"]
        assert len(syncfs_calls.in_place) == 2  # one batch, two file systems
        assert_complete(tmp_path, range(2))
        assert_complete(elsewhere, range(2, 3))
    finally:
        shutil.rmtree(elsewhere)

"""A request directory is written by one fetch at a time, and never through a symbolic link planted in it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from etl.cli import main
from ppr.request_lock import request_lock
from tests.etl.ngas.conftest import RunningStandIn, StandInFactory
from tests.ppr.test_fetch import (
    SEED_MOUS,
    add_large_product,
    assert_products_verified,
    fetch_manifest,
    request_dir,
)

__all__ = ["request_dir"]  # the fixture, shared with test_fetch.py

PRECIOUS = b"someone else's file\n"


def _fetch_command(directory: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "etl.cli", "fetch", str(directory), "--products-only", *options]


def _environment(ngas_url: str, demo_source: URL, home: Path) -> dict[str, str]:
    return {**os.environ, "ALMAMIRROR_NGAS_URL": ngas_url, "ALMAMIRROR_HOME": str(home),
            "ALMAMIRROR_SOURCE_URL": demo_source.render_as_string(hide_password=False)}


def _wait_for_part(products: Path, least: int = 1) -> Path:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for part in products.glob("*.part"):
            try:
                if part.stat().st_size >= least:
                    return part
            except FileNotFoundError:
                continue
        time.sleep(0.05)
    raise AssertionError("no download started within 60 s")


# --- one fetch at a time ----------------------------------------------------------------------------------


@pytest.mark.alone
def test_a_second_fetch_of_a_directory_being_fetched_exits_3_and_the_first_ends_verified(
    request_dir: Path, stand_in_factory: StandInFactory, demo_source: URL, test_home: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    add_large_product(request_dir, demo_source)
    slow = stand_in_factory("--throttle", "0.5")
    environment = _environment(slow.url, demo_source, test_home)
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", slow.url)
    first = subprocess.Popen(_fetch_command(request_dir, "--workers", "4"), env=environment,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_part(request_dir / "products")
        # Held mid-fetch, its lock taken, for as long as the second fetch takes to start and be refused
        # (here, in this process): how long that takes on a busy machine decides nothing.
        first.send_signal(signal.SIGSTOP)
        try:
            second = main(["fetch", str(request_dir), "--products-only"])
            refused = capsys.readouterr().err
            assert first.poll() is None  # the second was refused while the first still worked
        finally:
            first.send_signal(signal.SIGCONT)
        assert second == 3, refused
        (line,) = refused.splitlines()
        assert f"another fetch (pid {first.pid} on " in line
        assert first.wait(timeout=300) == 0
    finally:
        first.kill()
        first.wait()
    assert_products_verified(request_dir, demo_source, 49)
    # The lock went with the first fetch: a third one runs, and finds everything there.
    assert main(["fetch", str(request_dir), "--products-only", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["present"] == 49


def test_a_part_file_another_writer_appended_to_is_never_put_in_place(
    request_dir: Path, stand_in_factory: StandInFactory, demo_source: URL, test_home: Path
) -> None:
    add_large_product(request_dir, demo_source)
    # 1.4 MB at 0.5 MB/s: the large file's .part is written for almost 3 s, while the test appends to it.
    slow = stand_in_factory("--throttle", "0.5")
    environment = _environment(slow.url, demo_source, test_home)
    fetch = subprocess.Popen([*_fetch_command(request_dir, "--workers", "1", "--format", "json")],
                             env=environment, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    part = _wait_for_part(request_dir / "products", least=100_000)
    with part.open("ab") as other_writer:  # as a second fetch without the lock did
        other_writer.write(b"bytes of another download")
    out, _ = fetch.communicate(timeout=300)
    summary = json.loads(out)
    target = f"products/{part.name.removesuffix('.part')}"
    (failure,) = [f for f in summary["files"] if f["state"] == "failed"]
    assert failure["target"] == target
    assert "changed while it was written" in failure["reason"]
    assert not (request_dir / target).exists()
    assert target not in json.loads((request_dir / "fetch-record.json").read_text("utf-8"))["products"]
    assert fetch.returncode == 1


# --- no write through a planted symbolic link ---------------------------------------------------------------


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "outside" / "victim.txt"
    victim.parent.mkdir()
    victim.write_bytes(PRECIOUS)
    return victim


def _one_refusal(capsys: pytest.CaptureFixture[str], link: Path) -> None:
    lines = capsys.readouterr().err.splitlines()
    refusals = [line for line in lines if "is a symbolic link" in line]
    assert refusals == [f"almamirror: {link} is a symbolic link: almamirror writes nothing through what it "
                        "did not create; remove it and run the command again"], lines


@pytest.mark.usefixtures("stand_in")
def test_a_link_planted_as_the_record_s_partial_file_is_refused(
    request_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = _victim(tmp_path)
    link = request_dir / ".fetch-record.json.partial"
    link.symlink_to(victim)
    assert main(["fetch", str(request_dir), "--products-only", "--workers", "1"]) == 1
    _one_refusal(capsys, link)
    assert victim.read_bytes() == PRECIOUS


@pytest.mark.usefixtures("stand_in")
def test_a_link_planted_as_a_part_file_is_refused(
    request_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = _victim(tmp_path)
    first = fetch_manifest(request_dir)["products"][0]["target"]
    link = request_dir / f"{first}.part"
    link.symlink_to(victim)
    assert main(["fetch", str(request_dir), "--products-only", "--workers", "1"]) == 1
    _one_refusal(capsys, link)
    assert victim.read_bytes() == PRECIOUS


def _rebuild(request_dir: Path, spool: Path) -> int:
    """``ppr --build --force`` of the same request directory (the same relative path)."""
    relative = request_dir.relative_to(spool).as_posix()
    return main(["-q", "ppr", SEED_MOUS, "--build", str(spool), "--relative-path", relative, "--force"])


def _plant_directory_link(request_dir: Path, name: str, tmp_path: Path) -> tuple[Path, Path]:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (request_dir / name).rmdir()
    (request_dir / name).symlink_to(elsewhere, target_is_directory=True)
    return request_dir / name, elsewhere


@pytest.mark.usefixtures("stand_in")
@pytest.mark.parametrize("name", ["products", "rawdata", "working"])
def test_a_request_subdirectory_that_is_a_link_stops_the_fetch(
    name: str, request_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if name == "working":
        (request_dir / "working").rename(tmp_path / "working-before")
        (request_dir / "working").mkdir()
    link, elsewhere = _plant_directory_link(request_dir, name, tmp_path)
    assert main(["fetch", str(request_dir), "--products-only"]) == 1
    _one_refusal(capsys, link)
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("name", ["products", "rawdata", "working"])
def test_ppr_build_force_refuses_a_request_subdirectory_that_is_a_link(
    name: str, request_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if name == "working":
        (request_dir / "working").rename(tmp_path / "working-before")
        (request_dir / "working").mkdir()
    link, elsewhere = _plant_directory_link(request_dir, name, tmp_path)
    capsys.readouterr()
    assert _rebuild(request_dir, tmp_path / "spool") == 1
    _one_refusal(capsys, link)
    assert list(elsewhere.iterdir()) == []


def test_ppr_build_force_rewrites_a_directory_without_links(
    request_dir: Path, tmp_path: Path, stand_in: RunningStandIn
) -> None:
    (ppr,) = (request_dir / "working").glob("PPR_*.xml")
    ppr.unlink()
    assert _rebuild(request_dir, tmp_path / "spool") == 0
    assert ppr.exists()
    assert stand_in.requests(command=None) == []


# --- no --force under a fetch -------------------------------------------------------------------------------


def test_ppr_build_force_waits_for_no_fetch_and_replaces_nothing_under_one(
    request_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fetch read the manifest that --force would replace: while one holds the directory's lock (here
    this process, as a fetch does), --force is refused with exit 3 and every file stays as it was."""
    (ppr,) = (request_dir / "working").glob("PPR_*.xml")
    ppr.unlink()
    manifest = (request_dir / "fetch-manifest.json").read_bytes()
    capsys.readouterr()
    with request_lock(request_dir):
        assert _rebuild(request_dir, tmp_path / "spool") == 3
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        f"almamirror: a fetch (pid {os.getpid()} on {socket.gethostname()}) is working in request "
        f"directory {request_dir}; wait for it to end, then build it again with --force"
    )
    assert not ppr.exists()
    assert (request_dir / "fetch-manifest.json").read_bytes() == manifest
    assert _rebuild(request_dir, tmp_path / "spool") == 0  # the lock went with the fetch
    assert ppr.exists()


"""``almamirror fetch`` and ``ppr --build --fetch`` against the stand-in NGAS as a separate process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from etl.cli import main
from etl.demo.job import exporter_command
from etl.ngas.checksums import checksum_of_file, expected_checksum
from tests.conftest import cli_environment
from tests.etl.ngas.conftest import RunningStandIn, StandInFactory, catalogue

SEED_MOUS = "uid://A001/X129e/Xb6"


def _build(base: Path, monkeypatch: pytest.MonkeyPatch, source: URL, mirror: URL, home: Path,
           ngas_url: str, *extra: str) -> tuple[int, Path]:
    cli_environment(monkeypatch, source, mirror, home)
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", ngas_url)
    status = main(["-q", "ppr", SEED_MOUS, "--build", str(base), *extra])
    (manifest,) = base.rglob("fetch-manifest.json")
    return status, manifest.parent


@pytest.fixture
def request_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_source: URL, fetch_mirror: URL,
                test_home: Path, stand_in: RunningStandIn) -> Path:
    status, directory = _build(tmp_path / "spool", monkeypatch, demo_source, fetch_mirror, test_home,
                               stand_in.url)
    assert status == 0
    return directory


def fetch_manifest(directory: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((directory / "fetch-manifest.json").read_text("utf-8"))
    return loaded


def add_large_product(directory: Path, demo_source: URL) -> None:
    """What a restore fetches is a few kB per file: add a larger product of the MOUS (1.4 MB), so that
    a throttled fetch is still under way when a test acts on it."""
    manifest = fetch_manifest(directory)
    large = "member.uid___A001_X129e_Xb6.qa2_report.pdf"
    (entry,) = catalogue(demo_source, "file_id = :large", large=large)
    manifest["products"].append(dict(
        manifest["products"][0], target=f"products/{large}", kind="qa_report", size_bytes=entry["file_size"],
        source={"via": "ngas", "ngas_file_id": large},
    ))
    (directory / "fetch-manifest.json").write_text(json.dumps(manifest), "utf-8")


def assert_products_verified(directory: Path, demo_source: URL, count: int = 48) -> None:
    products = fetch_manifest(directory)["products"]
    assert len(products) == count
    entries = {row["file_id"]: row for row in catalogue(demo_source, "file_id LIKE '%'")}
    for product in products:
        entry = entries[product["source"]["ngas_file_id"]]
        path = directory / product["target"]
        assert path.stat().st_size == entry["file_size"] == product["size_bytes"]
        expected = expected_checksum(entry["checksum_plugin"], entry["checksum"])
        assert expected.matches(checksum_of_file(path, expected.algorithm)), path
    assert not list(directory.rglob("*.part"))


def _fetch_json(directory: Path, capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, Any]:
    status = main(["fetch", str(directory), "--format", "json", *options])
    return status, json.loads(capsys.readouterr().out)


def test_fetch_downloads_every_product_verified_and_a_rerun_downloads_nothing(
    request_dir: Path, stand_in: RunningStandIn, demo_source: URL, capsys: pytest.CaptureFixture[str]
) -> None:
    status, summary = _fetch_json(request_dir, capsys, "--products-only")
    assert (status, summary["fetched"], summary["failed"]) == (0, 48, 0)
    assert_products_verified(request_dir, demo_source)
    assert summary["bytes"] == sum(p["size_bytes"] for p in fetch_manifest(request_dir)["products"])
    requests = len(stand_in.requests(command=None))
    assert len(stand_in.requests()) >= 48

    status, summary = _fetch_json(request_dir, capsys, "--products-only")
    assert (status, summary["fetched"], summary["present"]) == (0, 0, 48)
    assert len(stand_in.requests(command=None)) == requests  # recognised from the record: no request at all


def test_a_file_copied_in_by_hand_is_verified_against_ngas_not_downloaded(
    request_dir: Path, stand_in: RunningStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _fetch_json(request_dir, capsys, "--products-only")[0] == 0
    (request_dir / "fetch-record.json").unlink()
    before = len(stand_in.requests())
    status, summary = _fetch_json(request_dir, capsys, "--products-only")
    assert (status, summary["present"]) == (0, 48)
    assert len(stand_in.requests()) == before
    assert len(stand_in.requests("STATUS")) >= 96


def test_dry_run_lists_what_would_be_fetched_and_contacts_nothing(
    request_dir: Path, stand_in: RunningStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fetch", str(request_dir), "--dry-run"]) == 0
    out = capsys.readouterr().out
    total = sum(p["size_bytes"] for p in fetch_manifest(request_dir)["products"])
    assert f"fetch --dry-run: 64 to fetch ({total:,} bytes and 16 ASDM(s) of unknown size)" in out
    assert "products/uid___A001_X129e_Xb6.session_1.caltables.tgz" in out
    assert stand_in.requests(command=None) == []
    assert not any((request_dir / "products").iterdir())


def test_a_product_the_archive_lacks_fails_alone_named_with_ngas_message(
    request_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = fetch_manifest(request_dir)
    lost = dict(manifest["products"][0], target="products/lost.session_99.caltables.tgz",
                source={"via": "ngas",
                        "ngas_file_id": "member.uid___A001_X129e_Xb6.session_99.caltables.tgz"},
                size_bytes=10)
    manifest["products"].append(lost)
    (request_dir / "fetch-manifest.json").write_text(json.dumps(manifest), "utf-8")
    assert main(["fetch", str(request_dir), "--products-only"]) == 1
    out = capsys.readouterr().out
    assert "48 fetched, 0 already there, 1 failed" in out
    (failure,) = [line for line in out.splitlines() if line.startswith("  failed:")]
    assert "member.uid___A001_X129e_Xb6.session_99.caltables.tgz" in failure
    assert "NGAMS_ER_UNAVAIL_FILE" in failure


@pytest.mark.parametrize("directory", ["missing", "empty"])
def test_not_a_request_directory_is_exit_2(
    directory: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", "http://127.0.0.1:9")
    assert main(["fetch", str(tmp_path / directory)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "is not a request directory" in err[0]


def test_no_archive_configured_is_one_line(request_dir: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", "")
    assert main(["fetch", str(request_dir)]) == 1
    assert "no NGAS server is configured" in capsys.readouterr().err


@pytest.mark.alone
def test_a_fetch_killed_with_sigkill_resumes_its_partial_file(
    request_dir: Path, stand_in_factory: StandInFactory, stand_in: RunningStandIn, demo_source: URL,
    test_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add_large_product(request_dir, demo_source)
    slow = stand_in_factory("--throttle", "0.5")
    environment = {**os.environ, "ALMAMIRROR_NGAS_URL": slow.url, "ALMAMIRROR_HOME": str(test_home),
                   "ALMAMIRROR_SOURCE_URL": demo_source.render_as_string(hide_password=False)}
    command = [sys.executable, "-m", "etl.cli", "fetch", str(request_dir), "--products-only",
               "--workers", "2"]
    fetch = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    parts: list[Path] = []
    while time.monotonic() < deadline and not any(_size_now(p) > 100_000 for p in parts):
        time.sleep(0.2)
        parts = list((request_dir / "products").glob("*.part"))
    fetch.send_signal(signal.SIGKILL)
    fetch.wait()
    held = {p.name.removesuffix(".part"): size for p in parts if (size := _size_now(p))}
    assert held
    fast = stand_in.from_now_on()
    # The resuming fetch is any fetch: this process's own.
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", fast.url)
    assert main(["-q", *command[3:-2], "--workers", "4"]) == 0, capsys.readouterr().err
    assert_products_verified(request_dir, demo_source, 49)
    ranges = {r["file_id"]: r["range"] for r in fast.requests() if r["range"]}
    resumed = [name for name in held if any(range_.startswith("bytes=") for range_ in ranges.values())]
    assert resumed
    # Each resumed file asked for the rest after at least the bytes its .part held when killed.
    starts = sorted(int(range_[len("bytes="):-1]) for range_ in ranges.values())
    assert min(starts) >= min(held.values())


def _size_now(part: Path) -> int:
    """The size of a .part file that the fetch may complete (and rename away) at any moment."""
    try:
        return part.stat().st_size
    except FileNotFoundError:
        return 0


def test_asdms_are_exported_with_the_configured_command_and_recognised_on_rerun(
    request_dir: Path, stand_in: RunningStandIn, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(f"[archive]\nasdm_command = {json.dumps(exporter_command())}\n", "utf-8")
    monkeypatch.setenv("ALMAMIRROR_CONFIG", str(site))
    status, summary = _fetch_json(request_dir, capsys)
    assert (status, summary["fetched"], summary["failed"]) == (0, 64, 0)
    for asdm in fetch_manifest(request_dir)["asdms"]:
        exported = request_dir / asdm["target"]
        assert (exported / "ASDM.xml").read_bytes().startswith(b"<?xml")
        assert len(list((exported / "ASDMBinary").iterdir())) == 1
    status, summary = _fetch_json(request_dir, capsys)
    assert (status, summary["present"]) == (0, 64)
    # An ASDM directory the record does not know is not overwritten: exit 1, named.
    (request_dir / "rawdata" / "uid___A002_Xc733ea_X179e").rename(request_dir / "rawdata" / "kept")
    (request_dir / "rawdata" / "uid___A002_Xc733ea_X179e").mkdir()
    status, summary = _fetch_json(request_dir, capsys)
    assert status == 1
    (failure,) = [f for f in summary["files"] if f["state"] == "failed"]
    assert "no completed export of it is recorded" in failure["reason"]


def test_a_failing_asdm_command_fails_that_eb_with_its_output(
    request_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    site = tmp_path / "site.toml"
    command = f"{sys.executable} -c \"import sys; print('ERROR: no such EB {{eb_uid}}'); sys.exit(3)\""
    site.write_text(f"[archive]\nasdm_command = {json.dumps(command)}\n", "utf-8")
    monkeypatch.setenv("ALMAMIRROR_CONFIG", str(site))
    status, summary = _fetch_json(request_dir, capsys)
    assert (status, summary["fetched"], summary["failed"]) == (1, 48, 16)
    reasons = {f["reason"] for f in summary["files"] if f["state"] == "failed"}
    assert "EB uid://A002/Xc733ea/X179e: " in next(iter(sorted(reasons)))
    assert all("exited with status 3: ERROR: no such EB uid://" in reason for reason in reasons)


def test_an_export_past_its_timeout_is_killed_with_what_it_started_and_fails_that_eb(
    request_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # An exporter that hangs, and a child of its that holds its output open: both are killed, or the
    # fetch would wait ten minutes for each EB.
    hang = "import subprocess, time; subprocess.Popen(['sleep', '600']); time.sleep(600)"
    command = f"{sys.executable} -c {json.dumps(hang)} {{eb_uid}}"
    site = tmp_path / "site.toml"
    site.write_text(f"[archive]\nasdm_command = {json.dumps(command)}\nasdm_timeout = 0.5\n", "utf-8")
    monkeypatch.setenv("ALMAMIRROR_CONFIG", str(site))
    started = time.monotonic()
    status, summary = _fetch_json(request_dir, capsys)
    assert time.monotonic() - started < 300  # 16 EBs on 4 workers, each given up after 0.5 s
    assert (status, summary["fetched"], summary["failed"]) == (1, 48, 16)
    reasons = {f["reason"].split(": ", 1)[1] for f in summary["files"] if f["state"] == "failed"}
    assert reasons == {
        f"{sys.executable} did not finish within 0.5 s ([archive] asdm_timeout); it was killed"
    }
    assert list((request_dir / "rawdata").iterdir()) == []


def test_ppr_build_fetch_builds_and_fetches_in_one_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_source: URL, fetch_mirror: URL, test_home: Path,
    stand_in: RunningStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    status, directory = _build(tmp_path / "spool", monkeypatch, demo_source, fetch_mirror, test_home,
                               stand_in.url, "--fetch", "--products-only")
    assert status == 0
    assert "48 fetched, 0 already there, 0 failed" in capsys.readouterr().out
    assert len(list((directory / "products").iterdir())) == 48


def test_no_credential_in_any_output(
    request_dir: Path, stand_in_factory: StandInFactory, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    down = stand_in_factory("--fault", "unavailable=1000")
    # One retry: its log line names the server too, without the default's four backoffs per file.
    site = tmp_path / "site.toml"
    site.write_text("[archive]\nretries = 1\n", "utf-8")
    monkeypatch.setenv("ALMAMIRROR_CONFIG", str(site))
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", down.url.replace("http://", "http://ops:pa55-word@"))
    monkeypatch.setenv("ALMAMIRROR_LOG_LEVEL", "DEBUG")
    assert main(["fetch", str(request_dir), "--products-only", "--workers", "8"]) == 1
    captured = capsys.readouterr()
    assert "pa55-word" not in captured.out + captured.err
    assert "ops:***@" in captured.out
    assert "ngas.retry" in captured.err  # the retries' log lines were written, masked as well
    record = request_dir / "fetch-record.json"
    assert not record.exists() or "pa55-word" not in record.read_text("utf-8")


def test_a_request_from_nodes_answering_http10_as_real_ngas_is_fetched_asking_each_status_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_source: URL, fetch_mirror: URL, test_home: Path,
    stand_in_factory: StandInFactory, capsys: pytest.CaptureFixture[str],
) -> None:
    # Real NGAS v12 closes the connection after every reply (HTTP/1.0): the STATUS asked ahead go one
    # per connection, none dropped, none asked twice (observed on the real server, docs/fetch.md).
    node = stand_in_factory("--http10")
    status, directory = _build(tmp_path / "spool", monkeypatch, demo_source, fetch_mirror, test_home,
                               node.url)
    assert status == 0
    status, summary = _fetch_json(directory, capsys, "--products-only")
    assert (status, summary["fetched"], summary["failed"]) == (0, 48, 0)
    assert_products_verified(directory, demo_source)
    asked = [request["file_id"] for request in node.requests(command="STATUS")]
    assert sorted(asked) == sorted(p["source"]["ngas_file_id"] for p in fetch_manifest(directory)["products"])
    retrieved = node.requests()
    assert {r["status"] for r in retrieved} <= {200, 303}
    assert len({r["client_port"] for r in node.requests(command=None)}) == len(node.requests(command=None))

"""``almamirror fetch`` when the archive is down, is not NGAS, or the export tool is missing: one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from etl.cli import main
from tests.conftest import cli_environment
from tests.etl.ngas.conftest import RunningStandIn, StandInFactory
from tests.ppr.test_fetch import request_dir  # noqa: F401 (the fixture)


def _site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    site = tmp_path / "site.toml"
    site.write_text(text, "utf-8")
    monkeypatch.setenv("ALMAMIRROR_CONFIG", str(site))


def _fetched(directory: Path) -> list[str]:
    return sorted(path.name for path in (directory / "products").iterdir())


def test_an_outage_is_one_line_naming_the_servers_and_the_files_not_fetched(
    request_dir: Path, stand_in_factory: StandInFactory, capsys: pytest.CaptureFixture[str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    down = stand_in_factory("--stopped", "1", "--stopped", "2")
    _site(tmp_path, monkeypatch, "[archive]\nretries = 1\n")
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", f"{down.url},{down.process.second_url}")
    for quiet in (["-q"], []):
        assert main([*quiet, "fetch", str(request_dir), "--products-only"]) == 1
        captured = capsys.readouterr()
        # Under -q that one line is all; without, the INFO log goes on, with no warning per file.
        lines = captured.err.splitlines() if quiet else [
            line for line in captured.err.splitlines() if " INFO " not in line
        ]
        (line,) = lines
        assert line.startswith("almamirror: the archive is down: every NGAS server refused connections: ")
        assert down.url in line
        assert down.process.second_url in line
        assert "48 file(s) not fetched" in line
        assert captured.out == ""
    assert _fetched(request_dir) == []


def test_a_url_that_is_not_ngas_is_said_once(
    request_dir: Path, stand_in: RunningStandIn, capsys: pytest.CaptureFixture[str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", stand_in.url + "/ngas")
    assert main(["-q", "fetch", str(request_dir), "--products-only"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    wrong = f"{stand_in.url}/ngas"
    assert f"{wrong} does not look like an NGAS server: it answered 404 (Command not found)" in line
    assert len(stand_in.requests(command=None)) <= 4  # one per worker at most, not one per file


def test_a_url_that_is_not_ngas_before_one_that_is_is_a_warning_once_at_the_end(
    request_dir: Path, stand_in: RunningStandIn, capsys: pytest.CaptureFixture[str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other URL serves the fetch, so it succeeds; the configuration is still wrong: said under -q."""
    wrong = f"{stand_in.url}/ngas"
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", f"{wrong},{stand_in.url}")
    assert main(["-q", "fetch", str(request_dir), "--products-only"]) == 0
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert "ngas.url_skipped" in line
    assert f"server={wrong} " in line
    assert "does not look like an NGAS server (it answered 404 (Command not found)" in line
    assert "check [archive] ngas_urls / ALMAMIRROR_NGAS_URL" in line
    assert captured.out == ""
    assert len(_fetched(request_dir)) == 48


def test_a_missing_export_tool_is_one_line_before_any_eb_is_tried(
    request_dir: Path, stand_in: RunningStandIn, capsys: pytest.CaptureFixture[str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALMAMIRROR_ASDM_COMMAND", "no-such-asdm-exporter {eb_uid}")
    assert main(["-q", "fetch", str(request_dir)]) == 1
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert "[archive] asdm_command" in line
    assert "'no-such-asdm-exporter'" in line
    assert "ALMAMIRROR_ASDM_COMMAND" in line
    assert stand_in.requests(command=None) == []
    record = request_dir / "fetch-record.json"
    assert not record.exists() or json.loads(record.read_text("utf-8"))["asdms"] == {}


def test_a_wrong_file_found_unrecorded_costs_one_status_not_two(
    request_dir: Path, stand_in: RunningStandIn, capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:
    assert main(["-q", "fetch", str(request_dir), "--products-only"]) == 0
    (request_dir / "fetch-record.json").unlink()
    victim = sorted((request_dir / "products").iterdir())[0]
    damaged = bytearray(victim.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    victim.write_bytes(bytes(damaged))
    before = stand_in.requests(command=None)
    assert main(["fetch", str(request_dir), "--products-only", "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["fetched"], summary["present"]) == (1, 47)
    asked = [r for r in stand_in.requests(command=None)[len(before):] if victim.name in r["file_id"]]
    assert [r["command"] for r in asked].count("STATUS") == 1
    assert victim.read_bytes() != bytes(damaged)


def test_an_outage_during_ppr_all_restorable_fetch_is_one_line_for_the_whole_night(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_source: URL, fetch_mirror: URL, test_home: Path,
    stand_in_factory: StandInFactory, capsys: pytest.CaptureFixture[str],
) -> None:
    down = stand_in_factory("--stopped", "1", "--stopped", "2")
    cli_environment(monkeypatch, demo_source, fetch_mirror, test_home)
    _site(tmp_path, monkeypatch, "[archive]\nretries = 0\n")
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", f"{down.url},{down.process.second_url}")
    spool = tmp_path / "spool"
    status = main(["-q", "ppr", "--all-restorable", "--build", str(spool), "--fetch", "--products-only"])
    assert status == 1
    (line,) = capsys.readouterr().err.splitlines()
    manifests = list(spool.rglob("fetch-manifest.json"))
    assert len(manifests) > 1
    listed = sum(len(json.loads(path.read_text("utf-8"))["products"]) for path in manifests)
    assert f"; {listed:,} file(s) not fetched; try again later" in line
    assert "every NGAS server refused connections" in line

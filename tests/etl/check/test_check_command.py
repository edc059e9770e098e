"""``almamirror check`` end to end: the synced demo mirror, its source, the stand-in NGAS as a process."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from etl.cli import main
from etl.demo.ngas_process import StandInProcess
from tests.conftest import DatabaseFactory, cli_environment
from tests.etl.check.conftest import site_file
from tests.helpers import connect, mirror_fingerprints

Run = tuple[int, list[str]]


@pytest.fixture(scope="module")
def shared_synced_mirror(databases: DatabaseFactory, synced_template: str) -> Iterator[URL]:
    """One copy of the synced demo mirror for the module: the check writes nothing to it (the first
    test below proves it)."""
    yield databases.create("check_command_mirror", template=synced_template)
    databases.discard("check_command_mirror")


@pytest.fixture
def synced_mirror(shared_synced_mirror: URL) -> URL:
    return shared_synced_mirror


def run_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], source: URL, mirror: URL,
    home: Path, config: Path, ngas_urls: list[str], *arguments: str,
) -> tuple[int, str]:
    cli_environment(monkeypatch, source, mirror, home)
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", ",".join(ngas_urls))
    status = main(["--config", str(config), "check", *arguments])
    return status, capsys.readouterr().out


@pytest.fixture
def checked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], demo_source: URL,
    synced_mirror: URL, test_home: Path, tmp_path: Path,
) -> Any:
    """``checked(ngas_urls, *arguments, asdm_command=None)`` → (exit status, stdout)."""

    def check(ngas_urls: list[str], *arguments: str, asdm_command: str | None = None) -> tuple[int, str]:
        config = site_file(tmp_path, asdm_command)
        return run_check(monkeypatch, capsys, demo_source, synced_mirror, test_home, config, ngas_urls,
                         *arguments)

    return check


def test_the_demo_passes_every_item_and_writes_nothing(
    checked: Any, stand_in: StandInProcess, synced_mirror: URL
) -> None:
    before = mirror_fingerprints(synced_mirror, skip=frozenset())
    status, out = checked([stand_in.url, stand_in.second_url])
    assert mirror_fingerprints(synced_mirror, skip=frozenset()) == before
    lines = out.splitlines()
    assert status == 0, out
    assert all(line.startswith("✓ ") for line in lines), out
    names = [line.split(": ")[0] for line in lines]
    for expected in ("✓ source connection", "✓ source AQUA_OUS", "✓ source ASA_PRODUCT_FILES",
                     "✓ source checksums (hash_record_extended)", "✓ source speed", "✓ mirror server",
                     "✓ mirror schema",
                     "✓ mirror reader role", "✓ mirror disk", f"✓ archive NGAS {stand_in.url}",
                     f"✓ archive NGAS {stand_in.second_url}", "✓ archive ASDM export tool"):
        assert expected in names, out
    assert sum(name.startswith("✓ source ") and name.split()[2].isupper() for name in names) == 13


def test_quiet_prints_nothing_when_everything_passes(checked: Any, stand_in: StandInProcess) -> None:
    assert checked([stand_in.url], "-q") == (0, "")


def test_json_lists_every_item_for_monitoring(checked: Any, stand_in: StandInProcess) -> None:
    status, out = checked([stand_in.url], "--format", "json", "-q")
    document = json.loads(out)
    assert status == 0
    assert document["ok"] is True
    assert {item["area"] for item in document["items"]} == {"source", "mirror", "archive"}
    assert all(set(item) == {"area", "name", "ok", "detail", "fix"} for item in document["items"])
    assert all(item["ok"] and item["fix"] is None for item in document["items"])


def test_a_missing_export_tool_fails_with_exit_1_and_only_its_line_under_quiet(
    checked: Any, stand_in: StandInProcess
) -> None:
    status, out = checked([stand_in.url], "-q", asdm_command="/nonexistent/asdmExportLight {eb_uid}")
    assert status == 1
    [line] = out.splitlines()
    assert line.startswith("✗ archive ASDM export tool: /nonexistent/asdmExportLight is not found")
    assert "fix: " in line
    assert "[archive] asdm_command" in line


def test_an_export_tool_that_fails_says_how(checked: Any, stand_in: StandInProcess) -> None:
    status, out = checked([stand_in.url], "--format", "json", asdm_command="false {eb_uid}")
    document = json.loads(out)
    [failed] = [item for item in document["items"] if not item["ok"]]
    assert status == 1
    assert document["ok"] is False
    assert failed["name"] == "ASDM export tool"
    assert failed["detail"].startswith("false --help exited with status 1")
    assert "asdm_command" in failed["fix"]


class _NotNgas(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>Not Found</body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def not_ngas() -> Iterator[str]:
    """A plain web server on loopback that answers 404 to everything."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotNgas)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_url_that_is_not_ngas_is_named_as_such(
    checked: Any, stand_in: StandInProcess, not_ngas: str
) -> None:
    status, out = checked([stand_in.url, not_ngas], "-q")
    assert status == 1
    [line] = out.splitlines()
    assert line.startswith(f"✗ archive NGAS {not_ngas}: does not look like an NGAS server")
    assert "http://host:port" in line


def test_an_offline_node_is_named_as_such(checked: Any, offline_stand_in: StandInProcess) -> None:
    status, out = checked([offline_stand_in.url], "-q")
    assert status == 1
    [line] = out.splitlines()
    # Real NGAS answers STATUS when OFFLINE (its own files as missing): its State says it.
    assert line.startswith(f'✗ archive NGAS {offline_stand_in.url}: the node is OFFLINE (its STATUS says '
                           'State="OFFLINE")')
    assert "bring the node ONLINE" in line


def test_an_unreachable_ngas_url_is_named(checked: Any, stand_in: StandInProcess) -> None:
    status, out = checked([stand_in.url, "http://127.0.0.1:9"], "-q")
    assert status == 1
    [line] = out.splitlines()
    assert line.startswith("✗ archive NGAS http://127.0.0.1:9: did not answer STATUS")


def test_no_ngas_configured_fails_with_the_setting_to_set(checked: Any) -> None:
    status, out = checked([], "-q")
    assert status == 1
    [line] = out.splitlines()
    assert line.startswith("✗ archive NGAS: no NGAS server is configured")
    assert "ALMAMIRROR_NGAS_URL" in line


def test_before_the_first_sync_ngas_is_asked_about_a_file_the_source_lists(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], demo_source: URL, mirror_db: URL,
    test_home: Path, tmp_path: Path, stand_in: StandInProcess,
) -> None:
    with connect(demo_source) as connection:
        first = connection.execute(text(
            "SELECT ngas_file_id FROM alma.asa_product_files ORDER BY asa_ous_id, ngas_file_id LIMIT 1"
        )).scalar_one()
    status, out = run_check(monkeypatch, capsys, demo_source, mirror_db, test_home, site_file(tmp_path),
                            [stand_in.url])
    assert status == 0, out
    assert f"✓ archive NGAS {stand_in.url}: answers STATUS as NGAS: {first} is " in out

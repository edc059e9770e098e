"""The stand-in answers as the real NGAS server does (docs/fetch.md's table), as the bytes on the wire."""

from __future__ import annotations

import base64
import gzip
import socket
import struct
import zlib
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import URL

from etl.ngas.status import parse_status
from tests.etl.ngas.conftest import SEED_MOUS_DISK, RunningStandIn, StandInFactory, catalogue, served

CALTABLES = f"member.{SEED_MOUS_DISK}.session_1.caltables.tgz"


def _raw(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[str, dict[str, str], bytes]:
    """One request over a plain socket: the status line, headers and body exactly as sent."""
    parts = urlsplit(url)
    lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close",
             *(f"{name}: {value}" for name, value in (headers or {}).items())]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        received = b""
        while chunk := connection.recv(1 << 16):
            received += chunk
    head, _, payload = received.partition(b"\r\n\r\n")
    status, *header_lines = head.decode("latin-1").split("\r\n")
    found = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    return status, found, payload


def _node2_file(demo_source: URL) -> dict[str, object]:
    (entry, *_) = catalogue(demo_source, "node = 2 AND file_size < 3000000 AND file_id LIKE 'member.%'")
    return dict(entry)


def test_a_missing_file_is_400_with_ngams_er_unavail_file(stand_in: RunningStandIn) -> None:
    status, _, payload = _raw(stand_in.url, "/RETRIEVE?file_id=member.nothing.tgz")
    assert status.split()[1] == "400"
    message = parse_status(payload).message
    assert message.startswith("NGAMS_ER_UNAVAIL_FILE:4019:ERROR: File with ID: member.nothing.tgz")
    status, _, payload = _raw(stand_in.url, "/STATUS?file_id=member.nothing.tgz")
    assert status.split()[1] == "400"


def test_404_only_for_an_unknown_command(stand_in: RunningStandIn) -> None:
    for path in ("/QARCHIVE?file_id=x", "/ngas/RETRIEVE?file_id=x", "/"):
        status, _, payload = _raw(stand_in.url, path)
        assert status.split()[1] == "404", path
        assert parse_status(payload).message == "Command not found"


def test_status_is_answered_by_either_node_and_retrieve_is_a_bare_http10_303(
    stand_in: RunningStandIn, demo_source: URL
) -> None:
    entry = _node2_file(demo_source)
    node2 = stand_in.process.second_url
    for url in (stand_in.url, node2):
        status, _, payload = _raw(url, f"/STATUS?file_id={entry['file_id']}")
        assert status.split()[1] == "200"
        assert parse_status(payload).files[0].file_size == entry["file_size"]
    status, headers, payload = _raw(stand_in.url, f"/RETRIEVE?file_id={entry['file_id']}")
    assert status.startswith("HTTP/1.0 303")
    assert headers["location"] == f"{node2}/RETRIEVE?file_id={entry['file_id']}"
    assert "content-length" not in headers
    assert payload == b""


def test_overload_is_a_bare_503_line_or_a_reset(stand_in_factory: StandInFactory) -> None:
    busy = stand_in_factory("--fault", "unavailable")
    status, headers, payload = _raw(busy.url, f"/STATUS?file_id={CALTABLES}")
    assert (status, headers, payload) == ("HTTP/1.0 503 Service Unavailable", {}, b"")
    reset = stand_in_factory("--fault", "reset")
    try:
        status, _, _ = _raw(reset.url, f"/STATUS?file_id={CALTABLES}")
    except ConnectionResetError:
        status = "reset"
    assert status in ("reset", "")


def test_a_range_at_or_past_the_end_is_200_with_nothing(stand_in: RunningStandIn, demo_source: URL) -> None:
    (entry,) = catalogue(demo_source, "file_id = :file_id", file_id=CALTABLES)
    size = entry["file_size"]
    for start in (size, size + 10):
        status, headers, payload = _raw(stand_in.url, f"/RETRIEVE?file_id={CALTABLES}",
                                        {"Range": f"bytes={start}-"})
        assert status.split()[1] == "200"
        assert headers["content-length"] == "0"
        assert payload == b""
    status, headers, payload = _raw(stand_in.url, f"/RETRIEVE?file_id={CALTABLES}", {"Range": "bytes=10-"})
    assert headers["content-range"] == f"bytes 10-{size - 1}/{size}"
    assert payload == served(entry)[10:]


def test_login_is_401_without_www_authenticate(stand_in_factory: StandInFactory) -> None:
    guarded = stand_in_factory("--login", "ops:pw")
    status, headers, _ = _raw(guarded.url, f"/STATUS?file_id={CALTABLES}")
    assert status.split()[1] == "401"
    assert "www-authenticate" not in headers
    token = base64.b64encode(b"ops:pw").decode()
    status, _, _ = _raw(guarded.url, f"/STATUS?file_id={CALTABLES}", {"Authorization": f"Basic {token}"})
    assert status.split()[1] == "200"


def test_a_plain_status_says_each_node_s_state(
    stand_in: RunningStandIn, stand_in_factory: StandInFactory
) -> None:
    offline = stand_in_factory("--offline", "2")
    for url, state in ((stand_in.url, "ONLINE"), (stand_in.process.second_url, "ONLINE"),
                       (offline.url, "ONLINE"), (offline.process.second_url, "OFFLINE")):
        status, _, payload = _raw(url, "/STATUS")
        assert status.split()[1] == "200", url
        answer = parse_status(payload)
        assert (answer.status, answer.state, answer.files) == ("SUCCESS", state, ()), url


def test_an_offline_node_answers_status_refuses_retrieve_and_its_files_are_unavailable_from_both(
    stand_in_factory: StandInFactory, demo_source: URL
) -> None:
    # As real NGAS with node 2 OFFLINE (/OFFLINE?force=1, 7 December 2026): its disks are unmounted in
    # the shared database, so both nodes answer STATUS of its files as of files the archive never had.
    offline = stand_in_factory("--offline", "2")
    node1, node2 = offline.url, offline.process.second_url
    held = _node2_file(demo_source)["file_id"]
    (elsewhere, *_) = catalogue(demo_source, "node = 1 AND file_id LIKE 'member.%'")
    for url in (node1, node2):
        status, _, payload = _raw(url, f"/STATUS?file_id={held}")
        assert status.split()[1] == "400", url
        assert parse_status(payload).message.startswith("NGAMS_ER_UNAVAIL_FILE"), url
        status, _, payload = _raw(url, f"/STATUS?file_id={elsewhere['file_id']}")
        assert status.split()[1] == "200", url
        assert [file.file_id for file in parse_status(payload).files] == [elsewhere["file_id"]]
    status, _, payload = _raw(node2, f"/RETRIEVE?file_id={elsewhere['file_id']}")
    assert status.split()[1] == "400"
    answer = parse_status(payload)
    assert answer.message.startswith("NGAMS_ER_IMPROPER_STATE")
    assert answer.state == "OFFLINE"
    status, _, payload = _raw(node1, f"/RETRIEVE?file_id={held}")
    assert status.split()[1] == "400"
    assert parse_status(payload).message.startswith("NGAMS_ER_UNAVAIL_FILE")


def test_a_stopped_node_does_not_listen_and_the_other_says_its_files_are_unavailable(
    stand_in_factory: StandInFactory, demo_source: URL
) -> None:
    entry = _node2_file(demo_source)
    stopped = stand_in_factory("--stopped", "2")
    status, _, payload = _raw(stopped.url, f"/RETRIEVE?file_id={entry['file_id']}")
    assert status.split()[1] == "400"
    assert parse_status(payload).message.startswith("NGAMS_ER_UNAVAIL_FILE")
    # Its disks are unmounted in the shared database: STATUS says the same (real NGAS, 7 December 2026).
    status, _, payload = _raw(stopped.url, f"/STATUS?file_id={entry['file_id']}")
    assert status.split()[1] == "400"
    assert parse_status(payload).message.startswith("NGAMS_ER_UNAVAIL_FILE")
    parts = urlsplit(stopped.process.second_url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=5).close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    assert refused


def test_a_compressed_file_is_described_and_sent_compressed(
    stand_in_factory: StandInFactory, demo_source: URL
) -> None:
    packed = stand_in_factory("--compressed", "*caltables.tgz")
    (entry,) = catalogue(demo_source, "file_id = :file_id", file_id=CALTABLES)
    _, _, payload = _raw(packed.url, f"/STATUS?file_id={CALTABLES}")
    (described,) = parse_status(payload).files
    assert (described.compression, described.uncompressed_size) == ("gzip", entry["file_size"])
    _, headers, sent = _raw(packed.url, f"/RETRIEVE?file_id={CALTABLES}")
    assert int(headers["content-length"]) == described.file_size == len(sent)
    assert gzip.decompress(sent) == served(entry)
    assert described.checksum is not None
    if described.checksum_plugin != "crc32c":
        assert int(described.checksum) & 0xFFFFFFFF == zlib.crc32(sent)


def test_crc32_is_unsigned_from_the_current_server_and_signed_on_old_rows(demo_source: URL) -> None:
    old = catalogue(demo_source, "checksum_plugin = 'ngamsGenCrc32' AND checksum LIKE '-%'")
    current = catalogue(demo_source, "checksum_plugin = 'crc32' AND checksum::bigint >= 2147483648")
    assert old
    assert current
    assert not catalogue(demo_source, "checksum_plugin = 'crc32' AND checksum LIKE '-%'")


def test_a_client_resetting_its_kept_alive_connection_leaves_no_traceback(
    capfd: pytest.CaptureFixture[str], stand_in_factory: StandInFactory,
) -> None:
    # A pooled client ends by closing its idle connections, possibly with a reset: the node, waiting
    # for the next request on it, must not print a traceback where an operator reads the logs.
    running = stand_in_factory()  # after capfd: the process writes its stderr into the capture
    parts = urlsplit(running.process.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(f"GET /STATUS HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        assert connection.recv(1 << 16).startswith(b"HTTP/1.1 200")
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    status, _, _ = _raw(running.process.url, "/STATUS")  # the node still answers
    assert status.endswith("200 OK")
    running.process.stop()  # its stderr is complete once it has ended
    assert "Traceback" not in capfd.readouterr().err

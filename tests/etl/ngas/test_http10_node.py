"""A node that speaks HTTP as real NGAS v12 does: its server (Python's ``http.server``) answers HTTP/1.0
and closes the connection after every reply, dropping the requests pipelined behind the first. Observed
on the real server on 7 December 2026 (docs/fetch.md); the stand-in's ``--http10`` answers the same."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import URL

from etl.errors import ArchiveFileMissing
from etl.ngas.client import NgasClient
from tests.etl.ngas.conftest import MISSING_FILE, StandInFactory, archive_settings, seed_files


def test_three_requests_in_one_write_get_one_http10_reply_and_the_connection_closed(
    stand_in_factory: StandInFactory, demo_source: URL
) -> None:
    node = stand_in_factory("--http10")
    files = seed_files(demo_source, 3)
    parts = urlsplit(node.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(b"".join(f"GET /STATUS?file_id={file_id} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n"
                                    .encode() for file_id in files))
        received = b""
        try:
            while chunk := connection.recv(1 << 16):
                received += chunk
        except ConnectionResetError:
            pass  # closed with requests unread: the kernel may reset instead (real NGAS alike)
    assert received.startswith(b"HTTP/1.0 200 ")
    assert received.count(b"HTTP/1.") == 1
    assert [request["file_id"] for request in node.requests(command="STATUS")] == files[:1]


def test_statuses_asked_ahead_of_an_http10_node_are_each_asked_once_one_per_connection(
    stand_in_factory: StandInFactory, demo_source: URL
) -> None:
    node = stand_in_factory("--http10")
    files = [*seed_files(demo_source, 6), MISSING_FILE]
    with NgasClient(archive_settings(node.url), backoff_seconds=0.05, max_backoff_seconds=0.2) as client:  # type: ignore[arg-type]
        answers = list(client.status_answers(files))
        assert [answer.status.file_id for answer in answers[:-1] if answer and answer.status] == files[:-1]
        with pytest.raises(ArchiveFileMissing, match="NGAMS_ER_UNAVAIL_FILE"):
            client.status(MISSING_FILE, answer=answers[-1])
    # Each asked once, in order: none dropped unanswered, none asked twice.
    # (The missing file's verdict also asks the node's own STATUS, no file_id: not one of these.)
    asked = [request for request in node.requests(command="STATUS") if request["file_id"]]
    assert [request["file_id"] for request in asked] == files
    assert len({request["client_port"] for request in asked}) == len(files)  # one per connection

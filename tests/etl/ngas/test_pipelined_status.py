"""STATUS asked ahead, pipelined on one connection (``NgasClient.status_answers``), and its answers taken
as each server's first attempt (``NgasClient.status(answer=...)``)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import URL

from etl.errors import ArchiveFileMissing, NotAnArchive
from etl.ngas.client import NgasClient
from tests.etl.ngas.conftest import (
    MISSING_FILE,
    RunningStandIn,
    StandInFactory,
    archive_settings,
    seed_files,
)


def _client(*urls: str) -> NgasClient:
    return NgasClient(archive_settings(*urls), backoff_seconds=0.05, max_backoff_seconds=0.2)  # type: ignore[arg-type]



def _file_statuses(stand_in: RunningStandIn) -> list[dict[str, Any]]:
    """The STATUS requests of a file: a missing file's verdict also asks the node's own (no file_id)."""
    return [request for request in stand_in.requests(command="STATUS") if request["file_id"]]


def test_pipelined_answers_are_the_statuses_one_request_each(
    stand_in: RunningStandIn, demo_source: URL
) -> None:
    files = [*seed_files(demo_source, 6), MISSING_FILE]
    with _client(stand_in.url) as client:
        answers = list(client.status_answers(files))
        asked = _file_statuses(stand_in)
        statuses = [client.status(file_id, answer=answer) for file_id, answer in zip(files[:-1], answers,
                                                                                       strict=False)]
        assert statuses == [client.status(file_id) for file_id in files[:-1]]
        with pytest.raises(ArchiveFileMissing, match="NGAMS_ER_UNAVAIL_FILE"):
            client.status(MISSING_FILE, answer=answers[-1])
    assert [request["file_id"] for request in asked] == files  # in order, once each
    # Asked again only by the plain status() calls: the answers taken were not asked twice.
    assert len(_file_statuses(stand_in)) == len(asked) + len(files) - 1


def test_a_url_that_is_not_ngas_is_asked_once(stand_in: RunningStandIn, demo_source: URL) -> None:
    files = seed_files(demo_source, 6)
    with _client(stand_in.url + "/ngas") as client:
        answers = list(client.status_answers(files))
        assert answers[1:] == [None] * 5  # not asked: nothing more after the node's own trouble
        with pytest.raises(NotAnArchive, match="answered 404"):
            client.status(files[0], answer=answers[0])
    assert len(stand_in.requests(command=None)) == 1


def test_an_overloaded_node_answers_the_first_and_each_file_is_then_retried(
    stand_in_factory: StandInFactory, demo_source: URL
) -> None:
    busy = stand_in_factory("--fault", "unavailable=1")
    files = seed_files(demo_source, 3)
    with _client(busy.url) as client:
        answers = list(client.status_answers(files))
        assert answers[0] is not None
        assert "HTTP 503" in str(answers[0].problem)
        assert answers[1:] == [None, None]
        # The 503 counts as the first attempt: the retry is the second request of that file.
        found = [client.status(file_id, answer=answer)
                 for file_id, answer in zip(files, answers, strict=True)]
    assert [status.file_id for status in found] == files
    assert [(r["file_id"], r["status"]) for r in busy.requests(command="STATUS")] == [
        (files[0], 503), (files[0], 200), (files[1], 503), (files[1], 200), (files[2], 503), (files[2], 200),
    ]


_STATUS = (
    '<?xml version="1.0" ?><NgamsStatus><Status Message="Successfully handled command STATUS" '
    'Status="SUCCESS"/><DiskStatus><FileStatus FileId="{0}" FileVersion="1" FileSize="10" '
    'Checksum="1" ChecksumPlugIn="crc32c"/></DiskStatus></NgamsStatus>'
)


@pytest.fixture
def closing_node(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[int], list[threading.Thread]]]:
    """A node that answers STATUS and closes each connection after ``request.param`` replies (the requests
    it read beyond those unanswered); yields its URL, the replies per connection, its connections' threads."""
    per_connection: int = request.param
    listener = socket.create_server(("127.0.0.1", 0))
    replies: list[int] = []
    threads: list[threading.Thread] = []

    def serve(connection: socket.socket) -> None:
        answered = 0
        with connection, connection.makefile("rb") as reader:
            while answered < per_connection:
                line = reader.readline()
                if not line:
                    break
                file_id = line.split(b"file_id=", 1)[1].split(b" ", 1)[0].decode()
                while reader.readline() not in (b"\r\n", b""):
                    pass
                body = _STATUS.format(file_id).encode()
                answered += 1
                close = b"Connection: close\r\n" if answered == per_connection else b""
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n" + close
                                   + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        replies.append(answered)

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threads.append(threading.Thread(target=serve, args=(connection,), daemon=True))
            threads[-1].start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", replies, threads
    finally:
        listener.close()


@pytest.mark.parametrize(("closing_node", "connections"), [(2, 4), (1, 7)], indirect=["closing_node"])
def test_a_node_that_closes_the_connection_is_asked_the_rest_again(
    closing_node: tuple[str, list[int], list[threading.Thread]], connections: int
) -> None:
    url, replies, threads = closing_node
    files = [f"file_{number}" for number in range(7)]
    with _client(url) as client:
        answers = list(client.status_answers(files))
    for thread in threads:
        thread.join(5)
    assert [answer.status.file_id for answer in answers if answer and answer.status] == files
    assert sum(replies) == 7  # no request asked twice, none left out
    assert len(replies) == connections

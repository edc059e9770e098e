"""The NGAS client against the stand-in NGAS running as a separate process over loopback."""

from __future__ import annotations

import logging
import time
import zlib
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from etl.errors import ArchiveFileMissing, ArchiveUnavailable, DownloadNotVerified
from etl.ngas.client import NgasClient, part_path
from tests.etl.ngas.conftest import (
    SEED_MOUS_DISK,
    RunningStandIn,
    StandInFactory,
    archive_settings,
    catalogue,
    served,
)

CALTABLES = f"member.{SEED_MOUS_DISK}.session_1.caltables.tgz"
MANIFEST = f"member.{SEED_MOUS_DISK}.hifa_calimage.pipeline_manifest.xml"


def _client(*urls: str, **options: float) -> NgasClient:
    return NgasClient(archive_settings(*urls, **options), backoff_seconds=0.05, max_backoff_seconds=0.2)  # type: ignore[arg-type]


def _large_entry(demo_source: URL) -> dict[str, object]:
    """A generated file of the seed MOUS of more than 1 MB: long enough to be cut, resumed or stalled."""
    (entry, *_) = catalogue(demo_source, "content IS NULL AND file_size > 1000000 AND file_id LIKE :pattern",
                            pattern=f"member.{SEED_MOUS_DISK}.%")
    return dict(entry)


def _expected(entry: dict[str, object]) -> bytes:
    return served(entry)


def _entry(demo_source: URL, file_id: str) -> dict[str, object]:
    (row,) = catalogue(demo_source, "file_id = :file_id", file_id=file_id)
    return dict(row)


def test_a_download_is_the_file_and_leaves_no_part(stand_in: RunningStandIn, demo_source: URL,
                                                   tmp_path: Path) -> None:
    entry = _entry(demo_source, CALTABLES)
    target = tmp_path / "caltables.tgz"
    with _client(stand_in.url) as client:
        download = client.download(CALTABLES, target, expected_size=int(entry["file_size"]))  # type: ignore[call-overload]
    assert target.read_bytes() == _expected(entry)
    assert download.resumed_from == 0
    assert not part_path(target).exists()
    (request,) = stand_in.requests()
    assert request["range"] is None


def test_the_first_node_redirects_to_the_node_that_holds_the_file(
    stand_in: RunningStandIn, demo_source: URL, tmp_path: Path
) -> None:
    (entry, *_) = catalogue(demo_source, "node = 2 AND file_id LIKE :pattern AND content IS NULL",
                            pattern=f"%{SEED_MOUS_DISK}%caltables%")
    with _client(stand_in.url) as client:
        client.download(entry["file_id"], tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == _expected(dict(entry))
    # Any node answers STATUS (as real NGAS does: it reads the shared database); RETRIEVE is redirected.
    assert [(r["node"], r["status"]) for r in stand_in.requests("STATUS")] == [(1, 200)]
    assert [(r["node"], r["status"]) for r in stand_in.requests()] == [(1, 303), (2, 200)]


def test_a_dropped_connection_is_resumed_from_where_it_broke(
    stand_in_factory: StandInFactory, demo_source: URL, tmp_path: Path
) -> None:
    stand_in = stand_in_factory("--fault", "drop-mid-body")
    entry = _entry(demo_source, CALTABLES)
    with _client(stand_in.url) as client:
        download = client.download(CALTABLES, tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == _expected(entry)
    first, second = stand_in.requests()
    assert first["fault"] == "drop-mid-body"
    assert 0 < first["sent"] < entry["file_size"]  # type: ignore[operator]
    assert second["range"] == f"bytes={first['sent']}-"
    assert download.received == entry["file_size"]


def test_a_stalled_body_times_out_and_is_resumed(
    stand_in_factory: StandInFactory, demo_source: URL, tmp_path: Path
) -> None:
    stand_in = stand_in_factory("--fault", "stall", "--stall-seconds", "2")
    entry = _entry(demo_source, CALTABLES)
    with _client(stand_in.url, read_timeout=0.5) as client:
        client.download(CALTABLES, tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == _expected(entry)
    deadline = time.monotonic() + 10
    while len(stand_in.requests()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # the stalled request is logged when its handler gives up
    first, second = stand_in.requests()  # in the order they arrived
    # (The stalled handler's last write may still fit the socket's buffer after the client left: a
    # file of a few kB does not show the client gone.)
    assert first["fault"] == "stall"
    assert second["range"] is not None
    assert second["range"] != "bytes=0-"


def test_an_existing_part_is_resumed_with_a_range(stand_in: RunningStandIn, demo_source: URL,
                                                  tmp_path: Path) -> None:
    entry = _large_entry(demo_source)
    large = str(entry["file_id"])
    expected = _expected(entry)
    target = tmp_path / "f"
    part_path(target).write_bytes(expected[:100_000])
    with _client(stand_in.url) as client:
        download = client.download(large, target)
    assert target.read_bytes() == expected
    assert download.resumed_from == 100_000
    assert [r["range"] for r in stand_in.requests()] == ["bytes=100000-"]


def test_a_server_that_ignores_the_range_is_fetched_again_from_the_start(
    stand_in_factory: StandInFactory, demo_source: URL, tmp_path: Path
) -> None:
    stand_in = stand_in_factory("--fault", "ignore-range")
    entry = _large_entry(demo_source)
    large = str(entry["file_id"])
    expected = _expected(entry)
    target = tmp_path / "f"
    part_path(target).write_bytes(expected[:5_000])
    with _client(stand_in.url) as client:
        download = client.download(large, target)
    assert target.read_bytes() == expected
    assert download.resumed_from == 0
    assert [r["fault"] for r in stand_in.requests()] == ["ignore-range"]


@pytest.mark.parametrize("fault", ["corrupt-body", "html-200"])
def test_a_reply_that_is_not_the_file_is_discarded_and_fetched_again(
    fault: str, stand_in_factory: StandInFactory, demo_source: URL, tmp_path: Path
) -> None:
    stand_in = stand_in_factory("--fault", fault)
    entry = _entry(demo_source, CALTABLES)
    with _client(stand_in.url) as client:
        client.download(CALTABLES, tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == _expected(entry)
    assert [r["fault"] for r in stand_in.requests()] == [fault, None]
    assert all(r["range"] is None for r in stand_in.requests())  # discarded: never resumed


def test_a_file_that_is_never_right_fails_after_a_bounded_number_of_attempts(
    stand_in_factory: StandInFactory, tmp_path: Path
) -> None:
    stand_in = stand_in_factory("--fault", "corrupt-body=10")
    with _client(stand_in.url) as client, pytest.raises(DownloadNotVerified) as raised:
        client.download(CALTABLES, tmp_path / "f")
    assert CALTABLES in str(raised.value)
    assert "checksum mismatch" in str(raised.value)
    assert len(stand_in.requests()) == 3
    assert sorted(path.name for path in tmp_path.iterdir()) == ["requests-0.jsonl"]  # no file, no .part


def test_503_is_retried_with_backoff(stand_in_factory: StandInFactory, tmp_path: Path) -> None:
    stand_in = stand_in_factory("--fault", "unavailable=2")
    with _client(stand_in.url) as client:
        client.download(MANIFEST, tmp_path / "m.xml")
    statuses = [r["status"] for r in stand_in.requests(command=None)]
    assert statuses[:2] == [503, 503]
    assert (tmp_path / "m.xml").read_bytes().startswith(b"<?xml")


def test_an_unavailable_server_is_left_for_the_next_url(
    stand_in_factory: StandInFactory, stand_in: RunningStandIn, tmp_path: Path
) -> None:
    down = stand_in_factory("--fault", "unavailable=100")
    with _client(down.url, stand_in.url) as client:
        client.download(MANIFEST, tmp_path / "m.xml")
    # STATUS: one try and two retries on the first URL before the second, which answers; RETRIEVE
    # asks the server that answered first.
    assert [r["command"] for r in down.requests(command=None)] == ["STATUS"] * 3
    assert [(r["command"], r["status"]) for r in stand_in.requests(command=None)] == [
        ("STATUS", 200), ("RETRIEVE", 200)
    ]
    with _client(down.url) as client, pytest.raises(ArchiveUnavailable, match="HTTP 503"):
        client.status(MANIFEST)
    assert len(down.requests(command=None)) == 6


def test_a_file_the_archive_does_not_have_names_the_file_and_ngas_message(
    stand_in: RunningStandIn, tmp_path: Path
) -> None:
    with _client(stand_in.url) as client, pytest.raises(ArchiveFileMissing) as raised:
        client.download("member.uid___A001_X1_X2.session_1.caltables.tgz", tmp_path / "f")
    message = str(raised.value)
    assert "member.uid___A001_X1_X2.session_1.caltables.tgz" in message
    assert "NGAMS_ER_UNAVAIL_FILE" in message
    assert not (tmp_path / "f").exists()
    assert not part_path(tmp_path / "f").exists()


@pytest.mark.parametrize(("plugin", "condition"), [
    ("ngamsGenCrc32", "checksum LIKE '-%'"),
    ("crc32", "checksum NOT LIKE '-%' AND checksum::bigint >= 2147483648"),
    ("crc32c", "TRUE"),
])
def test_signed_and_unsigned_crc32_and_crc32c_are_verified(
    plugin: str, condition: str, stand_in: RunningStandIn, demo_source: URL, tmp_path: Path
) -> None:
    (entry, *_) = catalogue(
        demo_source,
        f"checksum_plugin = :plugin AND checksum IS NOT NULL AND file_size < 3000000 AND {condition}",
        plugin=plugin,
    )
    with _client(stand_in.url) as client:
        status = client.status(entry["file_id"])
        download = client.download(entry["file_id"], tmp_path / "f", expected_size=entry["file_size"])
    assert (status.checksum, status.checksum_plugin) == (entry["checksum"], plugin)
    assert download.checksum is not None
    assert download.checksum.stored == entry["checksum"]
    held = (tmp_path / "f").read_bytes()
    if plugin != "crc32c":
        assert zlib.crc32(held) == int(entry["checksum"]) & 0xFFFFFFFF


def test_a_size_that_disagrees_with_the_archive_metadata_is_not_fetched(
    stand_in: RunningStandIn, tmp_path: Path
) -> None:
    with _client(stand_in.url) as client, pytest.raises(DownloadNotVerified, match="STORED_SIZE 12"):
        client.download(MANIFEST, tmp_path / "m.xml", expected_size=12)
    assert stand_in.requests() == []


def test_a_document_is_fetched_into_memory(stand_in: RunningStandIn, demo_source: URL) -> None:
    entry = _entry(demo_source, MANIFEST)
    with _client(stand_in.url) as client:
        document = client.fetch_document(MANIFEST, expected_size=entry["file_size"])
    assert document.content == bytes(entry["content"])  # type: ignore[arg-type]
    assert (document.status.file_version, document.status.file_size) == (1, entry["file_size"])
    assert document.status.ingestion_date == entry["ingestion_date"].strftime("%Y-%m-%dT%H:%M:%S.000")


def test_a_document_whose_size_disagrees_with_the_archive_metadata_is_not_fetched(
    stand_in: RunningStandIn,
) -> None:
    with _client(stand_in.url) as client, pytest.raises(DownloadNotVerified, match="STORED_SIZE 12"):
        client.fetch_document(MANIFEST, expected_size=12)
    assert stand_in.requests() == []


def test_credentials_in_a_url_appear_nowhere(
    stand_in_factory: StandInFactory, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    down = stand_in_factory("--fault", "unavailable=100")
    secret_url = down.url.replace("http://", "http://operator:s3cret-pw@")
    caplog.set_level(logging.DEBUG)
    with _client(secret_url) as client, pytest.raises(ArchiveUnavailable) as raised:
        client.download(MANIFEST, tmp_path / "m.xml")
    assert "s3cret-pw" not in str(raised.value)
    assert "operator:***@" in caplog.text
    assert "s3cret-pw" not in caplog.text

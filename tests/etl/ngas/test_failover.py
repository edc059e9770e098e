"""The client against what the real NGAS answers: failover, OFFLINE, stopped and crashed nodes, login,
compression, a URL that is not NGAS, an outage, checksums it cannot compute, hostile bodies, deadlines."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from etl.demo.ngas_bodies import body
from etl.errors import (
    ArchiveDown,
    ArchiveFileMissing,
    ArchiveRefused,
    ArchiveUnavailable,
    ChecksumUnknown,
    NotAnArchive,
)
from etl.ngas.client import NgasClient
from tests.etl.ngas.conftest import (
    SEED_MOUS_DISK,
    RunningStandIn,
    StandInFactory,
    archive_settings,
    catalogue,
    served_bytes,
)

CALTABLES = f"member.{SEED_MOUS_DISK}.session_1.caltables.tgz"
MANIFEST = f"member.{SEED_MOUS_DISK}.hifa_calimage.pipeline_manifest.xml"


def _client(*urls: str, **options: object) -> NgasClient:
    return NgasClient(archive_settings(*urls, **options), backoff_seconds=0.05,  # type: ignore[arg-type]
                      max_backoff_seconds=0.2)


def _node2_file(demo_source: URL) -> tuple[str, int]:
    (entry, *_) = catalogue(demo_source, "node = 2 AND file_size < 3000000 AND content IS NULL "
                            "AND file_id LIKE 'member.%'")
    return entry["file_id"], entry["file_size"]


def _size(demo_source: URL, file_id: str) -> int:
    (entry,) = catalogue(demo_source, "file_id = :file_id", file_id=file_id)
    return int(entry["file_size"])


def test_a_file_one_archive_lacks_is_fetched_from_the_next_in_either_order(
    stand_in_factory: StandInFactory, stand_in: RunningStandIn, demo_source: URL, tmp_path: Path
) -> None:
    lacking = stand_in_factory("--lacks", "*caltables.tgz")
    for order, urls in enumerate(((lacking.url, stand_in.url), (stand_in.url, lacking.url))):
        with _client(*urls) as client:
            client.download(CALTABLES, tmp_path / f"f{order}")
        assert (tmp_path / f"f{order}").read_bytes() == served_bytes(demo_source, CALTABLES)


def test_not_in_archive_only_when_every_server_that_answered_lacks_it(
    stand_in_factory: StandInFactory, tmp_path: Path
) -> None:
    first = stand_in_factory("--lacks", "*caltables.tgz")
    second = stand_in_factory("--lacks", "*caltables.tgz")
    with _client(first.url, second.url) as client, pytest.raises(ArchiveFileMissing) as raised:
        client.download(CALTABLES, tmp_path / "f")
    assert first.url in str(raised.value)
    assert second.url in str(raised.value)
    # A configured node OFFLINE: NGAS says its files are not available, its own STATUS says OFFLINE.
    offline = stand_in_factory("--offline", "1", "--offline", "2")
    with _client(first.url, offline.url) as client, pytest.raises(ArchiveUnavailable) as unavailable:
        client.download(CALTABLES, tmp_path / "f")
    assert not isinstance(unavailable.value, ArchiveFileMissing)
    assert f'OFFLINE: {offline.url} (its STATUS says State="OFFLINE")' in str(unavailable.value)


def test_an_offline_node_is_left_for_the_next_and_asked_last_for_the_rest_of_the_run(
    stand_in_factory: StandInFactory, demo_source: URL, tmp_path: Path
) -> None:
    archive = stand_in_factory("--offline", "1")
    first, second, *_ = catalogue(demo_source, "node = 2 AND file_size < 3000000 AND content IS NULL "
                                  "AND file_id LIKE 'member.%'")
    with _client(archive.url, archive.process.second_url) as client:
        client.download(first["file_id"], tmp_path / "a")
        client.download(second["file_id"], tmp_path / "b")
    assert (tmp_path / "a").read_bytes() == body(first["file_id"], first["file_size"])
    assert (tmp_path / "b").read_bytes() == body(second["file_id"], second["file_size"])
    asked_node1 = [r for r in archive.requests(command=None) if r["node"] == 1]
    # The OFFLINE node answers the first file's STATUS (its node is ONLINE), refuses its RETRIEVE; the
    # second file went to node 2 first.
    assert [(r["command"], r["status"]) for r in asked_node1] == [("STATUS", 200), ("RETRIEVE", 400)]


def test_a_file_held_by_an_offline_node_is_unavailable_and_the_node_is_asked_last(
    stand_in_factory: StandInFactory, demo_source: URL, tmp_path: Path
) -> None:
    # Real NGAS, node 2 OFFLINE (7 December 2026): both nodes answer STATUS of its files 400
    # NGAMS_ER_UNAVAIL_FILE, as of files never archived; only its own STATUS says State="OFFLINE".
    archive = stand_in_factory("--offline", "2")
    node1, node2 = archive.url, archive.process.second_url
    small = "file_size < 3000000 AND content IS NULL AND file_id LIKE 'member.%'"
    held = [row["file_id"] for row in catalogue(demo_source, f"node = 2 AND {small}")[:2]]
    (elsewhere, *_) = catalogue(demo_source, f"node = 1 AND {small}")
    with _client(node2, node1) as client:
        for number, file_id in enumerate(held):
            with pytest.raises(ArchiveUnavailable) as raised:
                client.download(file_id, tmp_path / f"h{number}")
            assert not isinstance(raised.value, ArchiveFileMissing)
            assert f'OFFLINE: {node2} (its STATUS says State="OFFLINE")' in str(raised.value)
            assert "try again later" in str(raised.value)
        client.download(elsewhere["file_id"], tmp_path / "e")
    assert (tmp_path / "e").read_bytes() == body(elsewhere["file_id"], elsewhere["file_size"])
    asked = [(r["node"], r["file_id"]) for r in archive.requests(command=None)]
    assert sorted(node for node, file_id in asked if not file_id) == [1, 2]  # plain STATUS, once each
    assert [node for node, file_id in asked if file_id == held[0]] == [2, 1]  # as configured
    assert [node for node, file_id in asked if file_id == held[1]] == [1, 2]  # the OFFLINE node last
    assert {node for node, file_id in asked if file_id == elsewhere["file_id"]} == {1}


def test_a_stopped_holding_node_is_said_of_a_missing_file_and_another_archive_serves_it(
    stand_in_factory: StandInFactory, stand_in: RunningStandIn, demo_source: URL, tmp_path: Path
) -> None:
    stopped = stand_in_factory("--stopped", "2")
    file_id, size = _node2_file(demo_source)
    # Real NGAS answers STATUS of a stopped node's file as of a file it never had: the message says both.
    with _client(stopped.url) as client, pytest.raises(ArchiveFileMissing) as raised:
        client.download(file_id, tmp_path / "f")
    assert "NGAMS_ER_UNAVAIL_FILE" in str(raised.value)
    assert "or the node holding it is stopped" in str(raised.value)
    with _client(stopped.url, stand_in.url) as client:
        client.download(file_id, tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == body(file_id, size)


def test_a_crashed_holding_node_is_named_in_the_error(
    stand_in_factory: StandInFactory, demo_source: URL, tmp_path: Path
) -> None:
    crashed = stand_in_factory("--crashed", "2")
    file_id, _ = _node2_file(demo_source)
    with _client(crashed.url, retries=1) as client, pytest.raises(ArchiveUnavailable) as raised:
        client.download(file_id, tmp_path / "f")
    message = str(raised.value)
    assert f"ConnectError from {crashed.process.second_url} (where {crashed.url} redirected)" in message
    assert not isinstance(raised.value, ArchiveDown)


def test_a_crashed_redirect_target_is_tried_once_per_file_after_it_refused_every_retry(
    stand_in_factory: StandInFactory, demo_source: URL, tmp_path: Path
) -> None:
    # Real NGAS (7 December 2026): a node killed with -9 stays in the shared database and the other
    # node still redirects to it; each of its files cost the whole backoff (17 s each at the defaults).
    crashed = stand_in_factory("--crashed", "2")
    first, second = (row["file_id"] for row in catalogue(
        demo_source, "node = 2 AND file_size < 3000000 AND content IS NULL AND file_id LIKE 'member.%'"
    )[:2])
    with _client(crashed.url, retries=3) as client:
        for number, file_id in enumerate((first, second)):
            with pytest.raises(ArchiveUnavailable, match=r"where .* redirected"):
                client.download(file_id, tmp_path / f"f{number}")
    redirects = [request["file_id"] for request in crashed.requests() if request["status"] == 303]
    assert (redirects.count(first), redirects.count(second)) == (4, 1)


def test_credentials_go_to_the_archives_other_node_and_to_no_other_host(
    stand_in_factory: StandInFactory, demo_source: URL, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    file_id, size = _node2_file(demo_source)
    guarded = stand_in_factory("--login", "ops:s3cret")
    secret = guarded.url.replace("http://", "http://ops:s3cret@")
    with _client(secret) as client:
        client.download(file_id, tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == body(file_id, size)
    assert [(r["node"], r["status"]) for r in guarded.requests()] == [(1, 303), (2, 200)]
    # A 303 naming another host name: the credentials stay behind (401) unless it is one of the archive's.
    elsewhere = stand_in_factory("--login", "ops:s3cret", "--redirect-host", "localhost")
    secret = elsewhere.url.replace("http://", "http://ops:s3cret@")
    with _client(secret) as client, pytest.raises(ArchiveRefused, match="HTTP 401") as raised:
        client.download(file_id, tmp_path / "g")
    assert "localhost" in str(raised.value)
    with _client(secret, node_hosts=("localhost",)) as client:
        client.download(file_id, tmp_path / "g")
    assert "s3cret" not in str(raised.value) + caplog.text


def test_a_compressed_file_is_verified_as_sent_and_saved_decompressed(
    stand_in_factory: StandInFactory, demo_source: URL, tmp_path: Path
) -> None:
    packed = stand_in_factory("--compressed", "*caltables.tgz", "--compressed", "*pipeline_manifest.xml")
    size = _size(demo_source, CALTABLES)
    with _client(packed.url) as client:
        download = client.download(CALTABLES, tmp_path / "caltables.tgz", expected_size=size)
        document = client.fetch_document(MANIFEST, expected_size=_size(demo_source, MANIFEST))
    assert (tmp_path / "caltables.tgz").read_bytes() == served_bytes(demo_source, CALTABLES)
    assert (download.size, download.compression) == (size, "gzip")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".jsonl") == ["caltables.tgz"]
    assert document.content.startswith(b"<?xml")
    assert len(document.content) == _size(demo_source, MANIFEST)


def test_a_corrupt_compressed_file_is_never_saved(stand_in_factory: StandInFactory, tmp_path: Path) -> None:
    packed = stand_in_factory("--compressed", "*caltables.tgz", "--fault", "corrupt-body=10")
    with _client(packed.url) as client, pytest.raises(Exception, match="checksum mismatch"):
        client.download(CALTABLES, tmp_path / "caltables.tgz")
    assert not [p for p in tmp_path.iterdir() if p.suffix != ".jsonl"]


def test_a_url_that_is_not_ngas_is_a_configuration_error_said_once(
    stand_in: RunningStandIn, tmp_path: Path
) -> None:
    wrong = stand_in.url + "/ngas"
    with _client(wrong) as client:
        with pytest.raises(NotAnArchive) as raised:
            client.download(CALTABLES, tmp_path / "f")
        assert str(raised.value).startswith(f"{wrong} does not look like an NGAS server: it answered 404")
        asked = len(stand_in.requests(command=None))
        with pytest.raises(NotAnArchive):
            client.status(MANIFEST)
        assert len(stand_in.requests(command=None)) == asked  # not asked again
    with _client(wrong, stand_in.url) as client:
        client.download(CALTABLES, tmp_path / "f")
        client.download(MANIFEST, tmp_path / "m")
    assert len([r for r in stand_in.requests(command=None) if r["status"] == 404]) == 2


@pytest.mark.alone
def test_every_server_refusing_connections_is_an_outage_said_at_once_for_later_files(
    stand_in_factory: StandInFactory, tmp_path: Path
) -> None:
    down = stand_in_factory("--stopped", "1", "--stopped", "2")
    urls = (down.url, down.process.second_url)
    with _client(*urls, retries=1) as client:
        with pytest.raises(ArchiveDown) as raised:
            client.download(CALTABLES, tmp_path / "f")
        assert all(url in str(raised.value) for url in urls)
        started = time.monotonic()
        with pytest.raises(ArchiveDown):
            client.download(MANIFEST, tmp_path / "m")
        assert time.monotonic() - started < 0.5


def test_an_unknown_checksum_plugin_refuses_the_file(
    stand_in_factory: StandInFactory, tmp_path: Path
) -> None:
    archive = stand_in_factory("--fault", "unknown-checksum")
    with _client(archive.url) as client, pytest.raises(ChecksumUnknown) as raised:
        client.download(CALTABLES, tmp_path / "f")
    assert raised.value.kind == "unverifiable"
    assert "'ngamsGenMd5'" in str(raised.value)
    assert archive.requests() == []  # not even fetched
    assert not (tmp_path / "f").exists()


@pytest.mark.alone
def test_a_trickling_transfer_is_given_up_at_its_deadline(
    stand_in_factory: StandInFactory, demo_source: URL, tmp_path: Path
) -> None:
    archive = stand_in_factory("--fault", "trickle")
    size = _size(demo_source, MANIFEST)
    # A byte every 0.2 s: never a read timeout of 1 s, and far below the rate the deadline allows.
    with _client(archive.url, read_timeout=1.0, connect_timeout=0.5,
                 min_transfer_rate=size / 0.5e6) as client:
        started = time.monotonic()
        with pytest.raises(ArchiveUnavailable, match="deadline") as raised:
            client.download(MANIFEST, tmp_path / "m.xml")
        seconds = time.monotonic() - started
    # 0.5 s for the file at the minimum rate, plus 2 x read_timeout + connect_timeout (0.5 s): 3 s.
    assert 2.5 < seconds < 5.0, seconds
    assert "min_transfer_rate" in str(raised.value)


# The child's own peak: VmHWM is this process image's high-water mark, whereas ru_maxrss carries over
# from the parent across exec (a large pytest process would be counted as the child's peak).
_CHILD = """
import re, sys
from pathlib import Path
from etl.ngas.client import NgasClient
from etl.settings import ArchiveSettings
settings = ArchiveSettings((sys.argv[1],), 2.0, 5.0, 1, 0, "x {eb_uid}")
with NgasClient(settings, backoff_seconds=0.01) as client:
    try:
        client.status(sys.argv[2])
        outcome = "accepted"
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {exc}"
print(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1), outcome)
"""


@pytest.mark.alone
@pytest.mark.parametrize("fault", ["gzip-bomb", "endless-status"])
def test_a_hostile_status_body_is_read_within_bounds(fault: str, stand_in_factory: StandInFactory) -> None:
    archive = stand_in_factory("--fault", f"{fault}=5")
    done = subprocess.run([sys.executable, "-c", _CHILD, archive.url, CALTABLES], capture_output=True,
                          text=True, timeout=120, check=True)
    peak_kib, outcome = done.stdout.split(" ", 1)
    # The bomb inflates to 512 MiB, the endless body never ends; the client holds at most ~1 MB of either.
    assert int(peak_kib) < 150 * 1024, peak_kib
    assert outcome.startswith("ArchiveUnavailable"), outcome
    assert "more than 1,048,576 bytes" in outcome
    assert json.dumps(outcome)


def test_a_server_that_refused_connections_is_asked_last_for_the_rest_of_the_run(
    stand_in_factory: StandInFactory, stand_in: RunningStandIn, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = stand_in_factory("--stopped", "1")
    caplog.set_level(logging.DEBUG, logger="etl.ngas")
    with _client(down.url, stand_in.url) as client:
        client.download(CALTABLES, tmp_path / "f")
        assert f"ConnectError from {down.url}" in caplog.text
        caplog.clear()
        client.download(MANIFEST, tmp_path / "m")
    assert down.url not in caplog.text  # the server that answers is asked first now
    assert [r["command"] for r in stand_in.requests(command=None)] == ["STATUS", "RETRIEVE"] * 2

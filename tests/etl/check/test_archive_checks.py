"""One NGAS URL's item against the stand-in process: what it answers for a file, checked against what
the mirror knows of it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL

from etl.check.archive import KnownFile, check_ngas_url
from etl.demo.ngas_process import StandInProcess
from etl.ngas.status import FileStatus
from etl.settings import ArchiveSettings
from tests.conftest import settings_for
from tests.helpers import connect

# A document of a fixed case: its checksum is stored in the catalogue.
_FILE = text(
    "SELECT file_id, file_size, checksum, checksum_plugin FROM alma.ngas_file "
    "WHERE checksum IS NOT NULL AND content IS NOT NULL ORDER BY file_id LIMIT 1"
)

# A document node 2 holds: the ONLINE node of the stand-in whose node 1 is OFFLINE.
_FILE_ON_NODE_2 = text(
    "SELECT file_id, file_size, checksum, checksum_plugin FROM alma.ngas_file "
    "WHERE checksum IS NOT NULL AND content IS NOT NULL AND node = 2 ORDER BY file_id LIMIT 1"
)


def archived(source: URL) -> KnownFile:
    with connect(source) as connection:
        return KnownFile(*connection.execute(_FILE).one())


def archive_settings(home: Path, url: str) -> ArchiveSettings:
    return settings_for(None, None, home, {"ALMAMIRROR_NGAS_URL": url}).archive


def test_the_file_as_the_mirror_knows_it_passes(
    stand_in: StandInProcess, demo_source: URL, test_home: Path
) -> None:
    probe = archived(demo_source)
    item = check_ngas_url(archive_settings(test_home, stand_in.url), stand_in.url, probe, [])
    assert item.ok, item.line()
    assert item.detail.startswith(f"answers STATUS as NGAS: {probe.file_id} is {probe.size:,} bytes")


def test_another_size_than_the_mirror_s_fails(
    stand_in: StandInProcess, demo_source: URL, test_home: Path
) -> None:
    probe = archived(demo_source)
    assert probe.size is not None
    wrong = KnownFile(probe.file_id, probe.size + 1)
    item = check_ngas_url(archive_settings(test_home, stand_in.url), stand_in.url, wrong, [])
    assert not item.ok
    said = f"STATUS says {probe.file_id} is {probe.size:,} bytes, the mirror {probe.size + 1:,}"
    assert item.detail == said


def test_another_checksum_than_an_earlier_answer_fails(
    stand_in: StandInProcess, demo_source: URL, test_home: Path
) -> None:
    probe = archived(demo_source)
    earlier = FileStatus(probe.file_id, 1, probe.size or 0, "12345", "crc32c", None)
    item = check_ngas_url(archive_settings(test_home, stand_in.url), stand_in.url, probe, [earlier])
    assert not item.ok
    assert item.detail.endswith("it was 12345 (crc32c) before")


def test_a_file_the_archive_lacks_is_told_apart_from_a_url_that_is_not_ngas(
    stand_in: StandInProcess, test_home: Path
) -> None:
    probe = KnownFile("member.uid___A001_X0_X0.not-archived.tgz", 1)
    item = check_ngas_url(archive_settings(test_home, stand_in.url), stand_in.url, probe, [])
    assert not item.ok
    assert item.detail.startswith(f"answers as NGAS but does not have {probe.file_id}: NGAMS_ER_UNAVAIL_FILE")


def test_an_offline_node_fails_as_offline_and_the_other_node_is_asked_the_file(
    offline_stand_in: StandInProcess, demo_source: URL, test_home: Path
) -> None:
    with connect(demo_source) as connection:
        probe = KnownFile(*connection.execute(_FILE_ON_NODE_2).one())
    offline, online = offline_stand_in.url, offline_stand_in.second_url
    item = check_ngas_url(archive_settings(test_home, offline), offline, probe, [])
    assert not item.ok
    assert item.detail.startswith('the node is OFFLINE (its STATUS says State="OFFLINE")')
    assert item.fix is not None
    assert "ONLINE" in item.fix
    assert "ngas_urls" in item.fix
    item = check_ngas_url(archive_settings(test_home, online), online, probe, [])
    assert item.ok, item.line()

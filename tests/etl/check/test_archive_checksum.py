"""A checksum plug-in the client cannot verify fails the NGAS URL's item. A module of its own: its
stand-in serves a copy of the demo source, which cannot be made while another stand-in reads the source."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL

from etl.check.archive import check_ngas_url
from etl.demo.ngas_process import start_stand_in
from tests.etl.check.conftest import stand_in_environment
from tests.etl.check.test_archive_checks import archive_settings, archived
from tests.helpers import connect


def test_a_checksum_the_client_cannot_verify_fails(source_copy: URL, test_home: Path) -> None:
    probe = archived(source_copy)
    with connect(source_copy) as connection:
        connection.execute(text("UPDATE alma.ngas_file SET checksum_plugin = 'md5' WHERE file_id = :id"),
                           {"id": probe.file_id})
    with start_stand_in(stand_in_environment(source_copy, test_home)) as process:
        item = check_ngas_url(archive_settings(test_home, process.url), process.url, probe, [])
    assert not item.ok
    assert item.detail.startswith(f"STATUS gives {probe.file_id} a checksum the client cannot verify")
    assert "'md5'" in item.detail

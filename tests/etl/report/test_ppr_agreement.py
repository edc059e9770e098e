"""On every MOUS of the hand-built report archive, ``report restorable`` and ``ppr`` agree."""

from __future__ import annotations

from pathlib import Path

from etl.settings import load_settings
from tests.agreement import disagreements
from tests.etl.report.conftest import ArchiveMirror


def test_report_and_ppr_agree_on_every_mous_of_the_report_archive(
    archive: ArchiveMirror, tmp_path: Path
) -> None:
    assert disagreements(archive.url, load_settings(environ={}).ppr, tmp_path) == []

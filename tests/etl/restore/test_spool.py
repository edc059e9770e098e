"""A spool's request directories as the request writer and the reports both list them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from etl.report.lost import spool_requests
from etl.restore.spool import MANIFEST_FILE, request_directories, spooled_requests

SEED = "uid://A001/X129e/Xb6"
OTHER = "uid://A001/X129e/Xb7"


def _request(spool: Path, relative: str, mous_uid: str) -> Path:
    directory = spool / relative
    (directory / "rawdata").mkdir(parents=True)
    (directory / MANIFEST_FILE).write_text(json.dumps({"mous_uid": mous_uid, "ppr": "working/PPR.xml"}))
    return directory


def test_a_request_directory_is_one_holding_a_manifest_and_is_not_walked_into(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    first = _request(spool, "2017.1.00895.S_2026_12_01T00_00_00.000/MOUS_b6", SEED)
    # A manifest below a request (a copy among its fetched data) is no request of its own.
    _request(first, "rawdata/copy", OTHER)
    second = _request(spool, "2018.1.00001.S_2026_12_02T00_00_00.000/MOUS_b7", OTHER)
    # A hidden directory is a request being written or replaced.
    _request(spool, ".2019.1.00001.S.partial-1234/MOUS_b7", OTHER)
    (spool / "empty").mkdir()

    assert list(request_directories(spool)) == [first, second]
    assert [(request.directory, request.mous_uid) for request in spooled_requests(spool)] == [
        (first, SEED), (second, OTHER)
    ]


def test_a_spool_that_is_not_there_holds_no_request(tmp_path: Path) -> None:
    assert list(spooled_requests(tmp_path / "missing")) == []
    assert spool_requests(tmp_path / "missing", [SEED]) == {}
    assert spool_requests(None, [SEED]) == {}


@pytest.mark.parametrize("manifest", ["{not json", "[1, 2]", '{"ppr": "working/PPR.xml"}'])
def test_an_unreadable_manifest_is_logged_and_passed_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, manifest: str
) -> None:
    spool = tmp_path / "spool"
    broken = spool / "broken"
    broken.mkdir(parents=True)
    (broken / MANIFEST_FILE).write_text(manifest)
    good = _request(spool, "good", SEED)

    with caplog.at_level(logging.WARNING):
        assert [request.directory for request in spooled_requests(spool)] == [good]
    [record] = caplog.records
    assert record.getMessage().startswith(f"ppr.spool_unreadable directory={broken} error=")


def test_the_report_names_the_newest_request_of_each_mous_asked_for(tmp_path: Path) -> None:
    """A request's path begins with its project code and creation time: the last by path is the newest."""
    spool = tmp_path / "spool"
    _request(spool, "2017.1.00895.S_2026_12_01T00_00_00.000/MOUS_b6", SEED)
    newest = _request(spool, "2017.1.00895.S_2026_12_05T00_00_00.000/MOUS_b6", SEED)
    _request(spool, "2018.1.00001.S_2026_12_02T00_00_00.000/MOUS_b7", OTHER)

    assert spool_requests(spool, [SEED]) == {SEED: newest}
    assert spool_requests(spool, []) == {}

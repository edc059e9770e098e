"""A request directory carries a pipeline manifest: the archive's, or one written from the mirror.

Through a real sync (the session's mirror, synced against the stand-in NGAS) and ``ppr --build
--fetch`` against the stand-in as a separate process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import delete, select
from sqlalchemy.engine import URL

from etl.archive_names import disk_name
from etl.calibration.manifest import parse_manifest
from etl.cli import main
from etl.demo.fixed_cases import FIXED_CASES
from etl.mirror import DataQualityIssue, MousStatus, table_of
from etl.source.contract import CONTRACT, contract_table
from tests.conftest import cli_environment
from tests.etl.ngas.conftest import RunningStandIn
from tests.helpers import connect, rows, sync

status = table_of(MousStatus)
issues = table_of(DataQualityIssue)
product_files = contract_table(CONTRACT, "asa_product_files")


def build(base: Path, monkeypatch: pytest.MonkeyPatch, source: URL, mirror: URL, home: Path,
          mous_uid: str, ngas_url: str | None = None, *extra: str) -> tuple[int, Path | None]:
    cli_environment(monkeypatch, source, mirror, home)
    if ngas_url is not None:
        monkeypatch.setenv("ALMAMIRROR_NGAS_URL", ngas_url)
    code = main(["-q", "ppr", mous_uid, "--build", str(base), *extra])
    found = list(base.rglob("fetch-manifest.json"))
    return code, found[0].parent if found else None


def fetch_manifest(directory: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((directory / "fetch-manifest.json").read_text("utf-8"))
    return loaded


@pytest.mark.parametrize(
    ("case_name", "why"),
    [
        ("older_delivery_no_record", "no pipeline manifest is archived with this calibration"),
        ("malformed_manifest", "does not parse"),
    ],
)
def test_without_a_usable_archived_manifest_the_request_carries_one_written_from_the_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_source: URL, synced_mirror: URL,
    test_home: Path, stand_in: RunningStandIn, case_name: str, why: str,
) -> None:
    case = FIXED_CASES[case_name]
    code, directory = build(tmp_path, monkeypatch, demo_source, synced_mirror, test_home, case.mous_uid,
                            stand_in.url, "--fetch", "--products-only")
    assert code == 0
    assert directory is not None
    plan = fetch_manifest(directory)
    assert [p for p in plan["products"] if p["kind"] == "manifest"] == []  # no archived one fetched
    name = f"{disk_name(case.mous_uid)}.almamirror.pipeline_manifest.xml"
    assert plan["pipeline_manifest"]["source"] == "almamirror"
    assert plan["pipeline_manifest"]["file"] == name
    assert why in plan["pipeline_manifest"]["why"]
    assert [p.name for p in (directory / "products").glob("*pipeline_manifest.xml")] == [name]
    manifest = parse_manifest((directory / "products" / name).read_bytes())
    # One session per session holding Pass EBs, each EB by its disk name, in the mirror's sessions.
    assert manifest.eb_sessions() == {
        number: tuple(disk_name(uid) for uid in ebs)
        for number, ebs in enumerate(case.expected_sessions, start=1) if ebs
    }
    listed = [s.caltables for s in manifest.sessions] + [
        file for s in manifest.sessions for a in s.asdms for file in (a.flagversions, a.calapply)
    ]
    fetched = {p.name for p in (directory / "products").iterdir()}
    assert listed
    assert all(file in fetched for file in listed)
    readme = (directory / "README.txt").read_text("utf-8")
    assert f"products/{name}: written by almamirror from the mirror, because " in readme
    assert why in readme
    if case_name == "malformed_manifest":  # the finding stays open
        found = rows(synced_mirror, select(issues.c.kind).where(
            issues.c.mous_uid == case.mous_uid, issues.c.resolved_run_id.is_(None)
        ))
        assert [row["kind"] for row in found] == ["calibration_document_malformed"]


def test_an_archived_manifest_that_parses_is_the_one_the_request_carries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_source: URL, synced_mirror: URL, test_home: Path,
) -> None:
    case = FIXED_CASES["seed_example"]
    code, directory = build(tmp_path, monkeypatch, demo_source, synced_mirror, test_home, case.mous_uid)
    assert code == 0
    assert directory is not None
    plan = fetch_manifest(directory)
    [archived] = [p for p in plan["products"] if p["kind"] == "manifest"]
    assert plan["pipeline_manifest"] == {
        "source": "archive", "file": archived["target"].removeprefix("products/"),
        "why": "the calibration's own pipeline manifest is archived and parses",
    }
    assert list((directory / "products").iterdir()) == []  # fetched later, nothing written
    assert "(fetched): the archive's own" in (directory / "README.txt").read_text("utf-8")
    # The title becomes part of the pipeline's product names: a token, by the restore task.
    [ppr] = (directory / "working").glob("PPR_*.xml")
    assert etree.parse(str(ppr)).findtext(".//ProcedureTitle") == "hifa_restore"
    code, tp_directory = build(tmp_path / "tp", monkeypatch, demo_source, synced_mirror, test_home,
                               FIXED_CASES["total_power_raster_scan"].mous_uid)
    assert code == 0
    assert tp_directory is not None
    [tp_ppr] = (tp_directory / "working").glob("PPR_*.xml")
    assert etree.parse(str(tp_ppr)).findtext(".//ProcedureTitle") == "hsd_restore"


def test_a_file_the_written_manifest_needs_but_the_archive_lacks_is_a_reason_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source_copy: URL, synced_mirror: URL, test_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = FIXED_CASES["older_delivery_no_record"]
    eb = disk_name(case.expected_sessions[1][0])
    with connect(source_copy) as source:
        deleted = source.execute(delete(product_files).where(
            product_files.c.asa_ous_id == case.mous_uid,
            product_files.c.ngas_file_id.like(f"%{eb}.ms.calapply.txt"),
        )).rowcount
    assert deleted == 1
    sync(source_copy, synced_mirror, test_home)
    [row] = rows(synced_mirror, select(status).where(status.c.mous_uid == case.mous_uid))
    assert (row["restorable"], row["reason_code"]) == (False, "manifest_file_missing")
    assert f"'{eb}.ms.calapply.txt'" in row["reason"]
    assert "no pipeline manifest is archived" in row["reason"]
    code, directory = build(tmp_path, monkeypatch, source_copy, synced_mirror, test_home, case.mous_uid)
    assert (code, directory) == (1, None)
    assert "manifest_file_missing" in capsys.readouterr().err

"""Restore PPRs and request directories from the archive's record of each calibration (in the mirror)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, update
from sqlalchemy.engine import URL

from etl.cli import main
from etl.demo.fixed_cases import FIXED_CASES
from etl.mirror import CalibrationRecordProduct, table_of
from etl.settings import PprSettings
from ppr.build import build_ppr, restore_task, serialize_ppr
from ppr.model import ArchivedRecord
from ppr.service import generate_ppr
from ppr.validate import validate_ppr
from tests.conftest import cli_environment, open_engine
from tests.helpers import connect
from tests.ppr.examples import small_request
from tests.ppr.pipeline_reader import read_ppr

products = table_of(CalibrationRecordProduct)


@pytest.fixture(scope="module")
def mirror(databases: Any, synced_template: str) -> URL:
    """The mirror synced against the stand-in NGAS: every calibration's record is in it."""
    return databases.create("ppr_record", template=synced_template)


@pytest.fixture
def connection(mirror: URL) -> Iterator[Connection]:
    engine = open_engine(mirror)
    try:
        with engine.connect() as opened:
            yield opened
    finally:
        engine.dispose()


@pytest.fixture
def cli(mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_environment(monkeypatch, None, mirror, test_home)


def commands(connection: Connection, site: PprSettings, case_name: str) -> list[tuple[str, dict[str, Any]]]:
    generated = generate_ppr(connection, FIXED_CASES[case_name].mous_uid, site, allow_proprietary=True)
    return read_ppr(generated.document).commands


def record(task: str | None, ocorr: str | None = None, raster: str | None = None) -> ArchivedRecord:
    return ArchivedRecord("agrees", task, ocorr, raster, None, None, None, None, None, None)


def test_total_power_restores_with_the_raster_scan_mode_of_its_script(
    connection: Connection, site: PprSettings
) -> None:
    assert commands(connection, site, "total_power_raster_scan") == [
        ("hsd_restoredata", {"ocorr_mode": "ao", "hm_rasterscan": "time"})
    ]
    # A script from before the raster-scan mode: today's default, nothing added.
    assert commands(connection, site, "total_power") == [("hsd_restoredata", {"ocorr_mode": "ao"})]


def test_a_legacy_hif_restoredata_script_gives_hifa_restoredata(
    connection: Connection, site: PprSettings
) -> None:
    assert commands(connection, site, "legacy_restore_task") == [("hifa_restoredata", {"ocorr_mode": "ca"})]


@pytest.mark.parametrize(
    ("array", "archived", "expected"),
    [
        ("12m", None, ("hifa_restoredata", (("ocorr_mode", "ca"),))),
        ("TP", None, ("hsd_restoredata", (("ocorr_mode", "ao"),))),
        ("12m", record("hif_restoredata", "ca"), ("hifa_restoredata", (("ocorr_mode", "ca"),))),
        ("TP", record("hsd_restoredata", "ao", "time"),
         ("hsd_restoredata", (("ocorr_mode", "ao"), ("hm_rasterscan", "time")))),
        # hm_rasterscan is hsd_restoredata's only; an unknown task keeps the array's.
        ("7m", record("hifa_restoredata", "ca", "time"), ("hifa_restoredata", (("ocorr_mode", "ca"),))),
        ("12m", record("hifv_restoredata", "ca"), ("hifa_restoredata", (("ocorr_mode", "ca"),))),
        ("TP", record("hsd_restoredata", None), ("hsd_restoredata", (("ocorr_mode", "ao"),))),
    ],
)
def test_restore_arguments_come_from_the_record_else_the_defaults(
    array: str, archived: ArchivedRecord | None, expected: tuple[str, tuple[tuple[str, str], ...]],
    site: PprSettings,
) -> None:
    request = small_request({1: ("uid://A002/Xc77d4f/X522",)}, array=array, record=archived)
    task = restore_task(request)
    assert (task.command, task.parameters) == expected
    validate_ppr(serialize_ppr(build_ppr(request, site, "a/b", datetime(2026, 11, 1, tzinfo=UTC))))


@pytest.mark.parametrize("case_name", ["record_documents_disagree", "restore_extra_steps"])
def test_the_two_record_reasons_refuse_in_one_line_exit_1_and_write_nothing(
    cli: None, case_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = FIXED_CASES[case_name]
    assert main(["-q", "ppr", case.mous_uid, "--build", str(tmp_path / "tree")]) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    assert error.startswith(f"almamirror: MOUS {case.mous_uid} cannot be restored ({case.expected_reason})")
    assert not (tmp_path / "tree").exists()


def test_the_request_directory_uses_the_names_the_manifest_lists(
    databases: Any, synced_template: str, test_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = FIXED_CASES["seed_example"]
    mirror = databases.create("ppr_record_names", template=synced_template)
    caltables = "member.uid___A001_X129e_Xb6.session_3.caltables.tgz"
    with connect(mirror) as connection:
        # As if the manifest named it otherwise than the archive does (the restore opens this name).
        connection.execute(
            update(products).where(products.c.mous_uid == seed.mous_uid, products.c.file_name == caltables)
            .values(restore_name="uid___A001_X129e_Xb6.session_3.caltables.tar.gz")
        )
    cli_environment(monkeypatch, None, mirror, test_home)
    assert main(["-q", "ppr", seed.mous_uid, "--build", str(tmp_path), "--relative-path", "r/seed"]) == 0
    manifest = json.loads((tmp_path / "r" / "seed" / "fetch-manifest.json").read_text())
    targets = {p["archived_name"]: p["target"] for p in manifest["products"]}
    assert targets[caltables] == "products/uid___A001_X129e_Xb6.session_3.caltables.tar.gz"
    assert targets["member.uid___A001_X129e_Xb6.session_1.caltables.tgz"] == (
        "products/uid___A001_X129e_Xb6.session_1.caltables.tgz"
    )


def test_two_calibrations_fetch_only_the_records_manifest(
    connection: Connection, site: PprSettings
) -> None:
    generated = generate_ppr(connection, FIXED_CASES["two_calibrations"].mous_uid, site)
    manifests = [p.archived_name for p in generated.request.products if p.kind == "manifest"]
    assert len(manifests) == 1
    assert manifests[0].endswith(".hifa_calimage.pipeline_manifest.xml")


def test_check_without_a_file_agrees_with_the_archived_record(
    cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = FIXED_CASES["seed_example"].mous_uid
    assert main(["-q", "ppr", seed, "--check"]) == 0
    out = capsys.readouterr().out
    assert "agree with the manifest member.uid___A001_X129e_Xb6.hifa_calimage.pipeline_manifest.xml" in out
    assert "the restore script" in out
    assert "the archived PPR" in out


def test_check_without_a_file_names_each_eb_the_record_places_elsewhere(
    cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only its restore script places the EB elsewhere: the documents are no key (record_disagrees'
    # agree with each other and are followed; --check still names the EB against the session rule).
    case = FIXED_CASES["record_documents_disagree"]
    moved = case.expected_sessions[1][0]
    assert main(["-q", "ppr", case.mous_uid, "--check"]) == 1
    first, summary = capsys.readouterr().out.strip().split("\n")
    expected = f"EB {moved} is in SESSION_2 in the mirror but in session_1 in the restore script "
    assert first.startswith(expected)
    assert "1 EB(s) placed differently" in summary


def test_check_without_a_file_says_what_it_could_not_compare(
    cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    lost = FIXED_CASES["document_not_on_ngas"].mous_uid
    assert main(["-q", "ppr", lost, "--check"]) == 0
    out = capsys.readouterr().out
    disk = lost.replace("://", "___").replace("/", "_")
    assert f"not compared: member.{disk}.hifa_calimage.casa_piperestorescript.py" in out


def test_check_without_a_record_is_refused_in_one_line(cli: None, capsys: pytest.CaptureFixture[str]) -> None:
    older = FIXED_CASES["older_delivery_no_record"].mous_uid
    assert main(["-q", "ppr", older, "--check"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "calibration_record absent" in error
    assert "--check FILE" in error

"""The preflight after a real sync and ``ppr --build --fetch`` against the stand-in NGAS (a real process).

The demo archive holds the real calibration's MOUS (etl/demo/real_mous.py): its products are the real
files, its ASDMs the real ones, unpacked by the demo's exporter. Fetched, its request directory passes
the preflight; the fetch reports the preflight, and exits 1 when it finds problems.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from etl.cli import main
from etl.demo.job import exporter_command
from etl.demo.real_files import REAL_ASDMS, REAL_MOUS, REAL_PRODUCTS
from ppr.verify import verify_request
from tests.conftest import cli_environment
from tests.etl.ngas.conftest import RunningStandIn

MOUS_DISK = "uid___A001_Xfe00_X10"
EB_DISKS = ("uid___A002_Xfe0001_X1", "uid___A002_Xfe0002_X2")


@pytest.fixture(scope="module")
def fetched_real_once(
    tmp_path_factory: pytest.TempPathFactory, demo_source: URL, fetch_mirror: URL, test_home: Path,
    shared_stand_in: RunningStandIn,
) -> tuple[int, Path, str]:
    """``ppr --build --fetch`` of the real MOUS, once for the module: its exit status, request directory
    and what it printed."""
    base = tmp_path_factory.mktemp("fetched-real")
    site = base / "site.toml"
    site.write_text(f"[archive]\nasdm_command = {json.dumps(exporter_command())}\n", "utf-8")
    with pytest.MonkeyPatch.context() as monkeypatch, contextlib.redirect_stdout(io.StringIO()) as out:
        cli_environment(monkeypatch, demo_source, fetch_mirror, test_home)
        monkeypatch.setenv("ALMAMIRROR_NGAS_URL", shared_stand_in.url)
        monkeypatch.setenv("ALMAMIRROR_CONFIG", str(site))
        status = main(["ppr", REAL_MOUS, "--build", str(base / "spool"), "--fetch"])
    (manifest,) = (base / "spool").rglob("fetch-manifest.json")
    return status, manifest.parent, out.getvalue()


@pytest.fixture
def fetched_real(
    fetched_real_once: tuple[int, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    demo_source: URL, fetch_mirror: URL, test_home: Path, stand_in: RunningStandIn,
) -> tuple[int, Path, str]:
    """That request directory copied for this test to change, at its relative path under a spool of
    its own (the PPR names that path), modification times kept (the fetch record names them); the
    settings it was fetched with are this test's."""
    cli_environment(monkeypatch, demo_source, fetch_mirror, test_home)
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", stand_in.url)
    site = tmp_path / "site.toml"
    site.write_text(f"[archive]\nasdm_command = {json.dumps(exporter_command())}\n", "utf-8")
    monkeypatch.setenv("ALMAMIRROR_CONFIG", str(site))
    status, built, out = fetched_real_once
    spool = next(parent for parent in built.parents if parent.name == "spool")
    directory = tmp_path / "spool" / built.relative_to(spool)
    shutil.copytree(built, directory, symlinks=True)
    return status, directory, out


def test_the_real_mous_fetched_from_the_stand_in_passes_the_preflight(
    fetched_real: tuple[int, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, directory, out = fetched_real
    assert status == 0, out
    assert "preflight" in out
    assert "the restore will find everything it opens (6 product(s) checked" in out
    # The stand-in served the real bytes, and the exporter unpacked the real ASDMs.
    for product in (directory / "products").iterdir():
        assert product.read_bytes() == (REAL_PRODUCTS / product.name).read_bytes()
    assert sorted(p.name for p in (directory / "rawdata").iterdir()) == list(EB_DISKS)
    for eb in EB_DISKS:
        assert (directory / "rawdata" / eb / "ASDM.xml").is_file()
        assert len(list((directory / "rawdata" / eb / "ASDMBinary").iterdir())) == 9
    assert (REAL_ASDMS / f"{EB_DISKS[0]}.tgz").is_file()
    assert main(["ppr", "--verify", str(directory)]) == 0
    capsys.readouterr()


def test_a_fetch_reports_the_preflight_and_exits_1_on_a_problem(
    fetched_real: tuple[int, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, directory, _ = fetched_real
    assert main(["fetch", str(directory), "--format", "json"]) == 0
    summary: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert summary["present"] == 9  # 7 products, 2 ASDMs
    assert summary["preflight"]["ok"] is True
    assert summary["preflight"]["manifest"] == f"products/{MOUS_DISK}.hifa_cal.pipeline_manifest.xml"

    # An ASDM directory lost since: the fetch cannot know it (the record says exported), the preflight can.
    shutil.rmtree(directory / "rawdata" / EB_DISKS[1])
    (directory / "rawdata" / EB_DISKS[1]).mkdir()
    status = main(["fetch", str(directory)])
    out = capsys.readouterr().out
    assert status == 1
    assert f"rawdata/{EB_DISKS[1]}: " in out
    assert "problem(s)" in out.splitlines()[-1]
    assert main(["ppr", "--verify", str(directory)]) == 1
    assert f"rawdata/{EB_DISKS[1]}: holds no ASDM.xml" in capsys.readouterr().out


def test_every_demo_request_passes_the_preflight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_source: URL, fetch_mirror: URL, test_home: Path,
    stand_in: RunningStandIn, capsys: pytest.CaptureFixture[str],
) -> None:
    from etl.demo.fixed_cases import FIXED_CASES
    from ppr.verify import verify_request

    cli_environment(monkeypatch, demo_source, fetch_mirror, test_home)
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", stand_in.url)
    main(["-q", "ppr", "--all-restorable", "--build", str(tmp_path / "spool"), "--fetch", "--products-only"])
    capsys.readouterr()
    directories = [path.parent for path in (tmp_path / "spool").rglob("fetch-manifest.json")]
    results = {
        json.loads((d / "fetch-manifest.json").read_text("utf-8"))["mous_uid"]: verify_request(d, asdms=False)
        for d in directories
    }
    assert len(results) >= 30  # every restorable MOUS of the small archive that is not proprietary
    failed = {uid: [p.line() for p in r.problems] for uid, r in results.items() if not r.ok}
    assert not failed
    # Those without an archived manifest that parses pass with the one almamirror wrote.
    written = {c.mous_uid for c in FIXED_CASES.values() if c.expected_record in ("absent", "malformed")}
    assert written & set(results)
    for uid in written & set(results):
        if results[uid].ppr is None:
            continue  # a delivery tree (scriptforpi): scriptForPI.py runs from the archive's scripts
        assert ".almamirror." in (results[uid].manifest or ""), uid
    assert results[REAL_MOUS].ok
    assert results["uid://A001/X129e/Xb6"].ok


def test_a_product_changed_since_its_download_is_read_again_even_when_just_verified(
    fetched_real: tuple[int, Path, str],
) -> None:
    """The fetch tells the preflight which files it just verified; one whose modification time moved
    since is read again, and its checksum found wrong."""
    _, directory, _ = fetched_real
    record = json.loads((directory / "fetch-record.json").read_text("utf-8"))
    target = next(name for name, entry in record["products"].items() if entry["size"] > 0)
    path = directory / target
    damaged = bytearray(path.read_bytes())
    damaged[0] ^= 0xFF
    path.write_bytes(bytes(damaged))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, record["products"][target]["mtime_ns"] + 1_000_000))

    found = verify_request(directory, just_verified=[target])
    said = [problem.text for problem in found.problems if problem.path == target]
    assert any("its checksum is not" in text for text in said), said

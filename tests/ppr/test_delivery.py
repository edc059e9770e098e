"""Kind scriptforpi through a real sync, ``ppr --build --fetch`` against the stand-in NGAS and exporter,
and run-restore.sh: a delivery tree in which scriptForPI.py's own look-ups find everything."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from etl.cli import main
from etl.demo.fixed_cases import FIXED_CASES
from etl.demo.job import exporter_command
from tests.conftest import cli_environment
from tests.etl.ngas.conftest import RunningStandIn
from tests.ppr.test_restore_run import calls, install_fake_casa, run

MANUAL = FIXED_CASES["manual_calibration"].mous_uid
POLARISATION = FIXED_CASES["pipeline_then_manual"].mous_uid


@pytest.fixture(scope="module")
def mirror(databases: Any, synced_template: str) -> URL:
    return databases.create("ppr_delivery", template=synced_template)


def scriptforpi_lookups(script: Path) -> dict[str, Any]:
    """What scriptForPI.py (v2.5) finds, by its own glob patterns and paths, started in ``script``."""

    def names(pattern: str, where: Path = script) -> list[str]:
        return sorted(path.name for path in where.glob(pattern))

    requests = names("*PPR*.xml") or names("*cal*pprequest.xml")
    request_asdms = []
    if requests:
        for line in (script / requests[0]).read_text().splitlines():
            if "<AsdmDiskName>" in line:
                request_asdms.append(line[line.index("uid"):line.index("</")])
    calibration_scripts = names("*uid*.ms.scriptForCalibration.py")
    script_asdms = []
    for name in calibration_scripts:
        stem = name.replace(".ms.scriptForCalibration.py", "")
        script_asdms.append(stem[stem.rfind("uid__"):])
    return {
        "started_in_script": script.name == "script",
        "calibration_exists": (script / ".." / "calibration").is_dir(),
        "calibration_scripts": calibration_scripts,
        "script_asdms": script_asdms,
        "restore_scripts": names("*casa_piperestorescript.py"),
        "pol_scripts": names("*scriptForPolCalibration.py"),
        "flux_scripts": names("*scriptForFluxCalibration.py"),
        "requests": requests,
        "request_asdms": request_asdms,
        "manifests": names("*pipeline_manifest.xml"),
        "raw_asdms": [
            name.replace(".asdm.sdm", "") for name in names("uid*.asdm.sdm", script / ".." / "raw")
        ],
    }


def build_and_fetch(
    mous_uid: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_source: URL, mirror: URL,
    home: Path, stand_in: RunningStandIn, casa: str = "",
) -> Path:
    cli_environment(monkeypatch, demo_source, mirror, home)
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", stand_in.url)
    site = tmp_path / "site.toml"
    site.write_text(f"[archive]\nasdm_command = {json.dumps(exporter_command())}\n\n[restore.casa]\n{casa}")
    monkeypatch.setenv("ALMAMIRROR_CONFIG", str(site))
    spool = tmp_path / "spool"
    assert main(["-q", "ppr", mous_uid, "--build", str(spool), "--fetch"]) == 0
    (manifest,) = spool.rglob("fetch-manifest.json")
    return manifest.parent


def test_a_manual_calibration_is_a_delivery_tree_scriptforpi_finds_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_source: URL, mirror: URL, test_home: Path,
    stand_in: RunningStandIn, capsys: pytest.CaptureFixture[str],
) -> None:
    home = install_fake_casa(tmp_path, "5.1.1-5")
    directory = build_and_fetch(MANUAL, tmp_path, monkeypatch, demo_source, mirror, test_home, stand_in,
                                f'"5.1.1-5" = {{ path = "{home}" }}\n')
    assert "0 failed" in capsys.readouterr().out
    assert sorted(path.name for path in directory.iterdir() if path.is_dir()) == ["calibration", "raw",
                                                                                  "script"]
    found = scriptforpi_lookups(directory / "script")
    assert found["started_in_script"]
    assert found["calibration_exists"]
    assert len(found["calibration_scripts"]) == 2
    # Every EB with a calibration script has its ASDM in raw/, and no ASDM lacks one.
    assert found["raw_asdms"] == sorted(found["script_asdms"])
    for asdm in found["raw_asdms"]:
        assert (directory / "raw" / f"{asdm}.asdm.sdm" / "ASDM.xml").is_file()
    assert (found["restore_scripts"], found["requests"]) == ([], [])
    # The scripts are the archive's, the version check they begin with intact.
    script = (directory / "script" / found["calibration_scripts"][0]).read_text()
    assert "PLEASE USE THE SAME VERSION OF CASA THAT YOU USED FOR GENERATING THE SCRIPT: 5.1.1" in script
    # Nothing the restore does not need: no images, weblog or QA report.
    fetched = [path.name for sub in ("script", "calibration") for path in (directory / sub).iterdir()]
    assert not [name for name in fetched if re.search(r"\.fits|weblog|qa2_report", name)]

    described = json.loads((directory / "restore.json").read_text())
    assert described["kind"] == "scriptforpi"
    assert described["casa"]["needed"] == "exactly 5.1.1"
    assert described["casa"]["chosen"]["how"] == "exact"
    finished = run(directory, tmp_path)
    assert finished.returncode == 0, finished.stderr
    (call,) = calls(home)
    assert call["cwd"] == str(directory / "script")
    assert call["argv"][-2:] == ["-c", described["inputs"]["script"].removeprefix("script/")]
    assert "--pipeline" not in call["argv"]  # a manual calibration needs no pipeline


@pytest.mark.parametrize(("case", "casa", "post_step"), [
    ("pipeline_then_manual", "5.6.1-8", "pol_scripts"),
    ("pipeline_then_flux_renormalisation", "5.4.0-70", "flux_scripts"),
])
def test_a_pipeline_then_hand_calibration_carries_the_pipeline_restore_and_the_post_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_source: URL, mirror: URL, test_home: Path,
    stand_in: RunningStandIn, capsys: pytest.CaptureFixture[str], case: str, casa: str, post_step: str,
) -> None:
    home = install_fake_casa(tmp_path, casa)
    directory = build_and_fetch(FIXED_CASES[case].mous_uid, tmp_path, monkeypatch, demo_source, mirror,
                                test_home, stand_in, f'"{casa}" = {{ path = "{home}", pipeline = true }}\n')
    assert "0 failed" in capsys.readouterr().out
    found = scriptforpi_lookups(directory / "script")
    assert len(found["restore_scripts"]) == 1
    (script,) = found[post_step]
    if post_step == "flux_scripts":  # scriptForPI.py knows the renormalisation by this name
        assert "ACreNorm" in (directory / "script" / script).read_text()
    assert len(found["requests"]) == 1
    assert len(found["manifests"]) == 1
    assert found["calibration_scripts"] == []
    # The pipeline request's ASDMs are all in raw/ (scriptForPI.py links them into rawdata/).
    assert sorted(found["request_asdms"]) == found["raw_asdms"]
    # The pipeline restore reads calibration/ as products/: the caltables under the manifest's names.
    manifest = (directory / "script" / found["manifests"][0]).read_text()
    caltables = sorted(path.name for path in (directory / "calibration").glob("*caltables.tgz"))
    assert caltables
    assert all(f'name="{name}"' in manifest for name in caltables)
    assert not list((directory / "calibration").glob("*auxcaltables*"))  # never read by a restore

    assert main(["ppr", "--verify", str(directory), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True

    finished = run(directory, tmp_path)
    assert finished.returncode == 0, finished.stderr
    (call,) = calls(home)
    assert call["cwd"] == str(directory / "script")
    assert "--pipeline" in call["argv"]  # scriptForPI.py stops without the pipeline's h_init


def test_a_missing_casa_is_refused_at_once_with_the_version_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror: URL, test_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_environment(monkeypatch, None, mirror, test_home)
    home = install_fake_casa(tmp_path, "6.6.1-17")  # newer than the scripts' 5.1.1: no substitute
    site = tmp_path / "site.toml"
    site.write_text(f'[restore.casa]\n"6.6.1-17" = {{ path = "{home}", pipeline = true }}\n')
    assert main(["-q", "--config", str(site), "ppr", MANUAL, "--build", str(tmp_path / "spool")]) == 0
    (restore,) = (tmp_path / "spool").rglob("restore.json")
    assert json.loads(restore.read_text())["casa"]["to_install"] == "5.1.1"
    finished = run(restore.parent, tmp_path)
    assert finished.returncode == 127
    assert finished.stderr.strip() == (
        "run-restore.sh: no CASA for this restore at this site: needs 5.1.1 ([restore.casa])"
    )
    assert not (home / "bin" / "calls.jsonl").exists()


def test_the_fetch_refuses_delivery_targets_outside_its_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror: URL, test_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_environment(monkeypatch, None, mirror, test_home)
    assert main(["-q", "ppr", MANUAL, "--build", str(tmp_path / "spool")]) == 0
    (manifest_path,) = (tmp_path / "spool").rglob("fetch-manifest.json")
    manifest = json.loads(manifest_path.read_text())
    for target in ("products/x.py", "script/../x.py", "raw/x", "/etc/x"):
        changed = {**manifest, "products": [{**manifest["products"][0], "target": target}]}
        manifest_path.write_text(json.dumps(changed))
        assert main(["fetch", str(manifest_path.parent), "--dry-run"]) == 2
        assert "not a plain name inside script/ or calibration/" in capsys.readouterr().err
    asdm = manifest["asdms"][0]
    changed = {**manifest, "asdms": [{**asdm, "target": f"raw/{asdm['disk_name']}"}]}
    manifest_path.write_text(json.dumps(changed))
    assert main(["fetch", str(manifest_path.parent), "--dry-run"]) == 2
    assert f"is not raw/{asdm['disk_name']}.asdm.sdm" in capsys.readouterr().err


def test_all_restorable_writes_a_delivery_tree_for_each_scriptforpi_mous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror: URL, test_home: Path,
) -> None:
    cli_environment(monkeypatch, None, mirror, test_home)
    assert main(["-q", "ppr", "--all-restorable", "--build", str(tmp_path)]) == 0
    trees = {
        json.loads(path.read_text())["mous_uid"]: path.parent for path in tmp_path.rglob("restore.json")
        if json.loads(path.read_text())["kind"] == "scriptforpi"
    }
    assert {MANUAL, POLARISATION, FIXED_CASES["pipeline_then_flux_renormalisation"].mous_uid} <= set(trees)
    for directory in trees.values():
        assert json.loads((directory / "fetch-manifest.json").read_text())["layout"] == "delivery"
        assert not (directory / "working").exists()


def test_an_export_interrupted_before_its_rename_is_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_source: URL, mirror: URL, test_home: Path,
    stand_in: RunningStandIn, capsys: pytest.CaptureFixture[str],
) -> None:
    cli_environment(monkeypatch, demo_source, mirror, test_home)
    monkeypatch.setenv("ALMAMIRROR_NGAS_URL", stand_in.url)
    site = tmp_path / "site.toml"
    site.write_text(f"[archive]\nasdm_command = {json.dumps(exporter_command())}\n")
    monkeypatch.setenv("ALMAMIRROR_CONFIG", str(site))
    assert main(["-q", "ppr", MANUAL, "--build", str(tmp_path / "spool")]) == 0
    (manifest_path,) = (tmp_path / "spool").rglob("fetch-manifest.json")
    directory = manifest_path.parent
    asdm = json.loads(manifest_path.read_text())["asdms"][0]
    # A fetch killed after the export tool wrote raw/<uid> and before it became raw/<uid>.asdm.sdm.
    left = directory / "raw" / asdm["disk_name"]
    left.mkdir()
    (left / "half-written").write_text("x")
    (directory / "fetch-record.json").write_text(json.dumps({
        "record_version": 1, "products": {},
        "asdms": {asdm["disk_name"]: {"eb_uid": asdm["eb_uid"], "state": "exporting"}},
    }))
    assert main(["fetch", str(directory), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["failed"] == 0
    assert not left.exists()
    assert (directory / asdm["target"] / "ASDM.xml").is_file()

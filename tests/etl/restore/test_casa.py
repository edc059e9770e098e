"""The CASA policy: exact for hand-run scripts, the calibration's own or the oldest newer pipeline release."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.errors import ConfigurationError
from etl.restore.casa import CasaChoice, RestoreFacts, choose_casa, same_release
from etl.restore.settings import CasaInstallation
from etl.settings import load_settings

SITE = (
    CasaInstallation("4.7.0", Path("/opt/casa-4.7.0")),
    CasaInstallation("5.6.1-8", Path("/opt/casa-5.6.1-8"), pipeline=True),
    CasaInstallation("6.2.1.7", Path("/opt/casa-6.2.1-7"), pipeline=True, mpi=True),
    CasaInstallation("6.5.4.9", Path("/opt/casa-6.5.4-9"), pipeline=True, mpi=True),
)


def facts(kind: str, casa: str | None = None, mpi: int = 0, raster: str | None = None,
          scripts: tuple[str, ...] = (), calibration: str = "pipeline") -> RestoreFacts:
    return RestoreFacts(kind, calibration, casa, mpi, raster, scripts)


def version(choice: CasaChoice) -> str | None:
    return None if choice.chosen is None else choice.chosen.version


def test_a_pipeline_restore_prefers_the_calibrations_own_release() -> None:
    choice = choose_casa(facts("pipeline_ppr", "6.2.1-7", mpi=4), SITE)
    assert (version(choice), choice.how, choice.mpi) == ("6.2.1.7", "exact", True)


def test_without_it_the_oldest_newer_pipeline_release() -> None:
    choice = choose_casa(facts("pipeline_ppr", "6.1.1-15"), SITE)
    assert (version(choice), choice.how, choice.mpi) == ("6.2.1.7", "newer", False)
    assert choice.needed == "6.1.1-15 or newer, with the pipeline"


def test_hm_rasterscan_needs_a_pipeline_from_2022() -> None:
    choice = choose_casa(facts("pipeline_ppr", "6.2.1-7", raster="time"), SITE)
    assert (version(choice), choice.how) == ("6.5.4.9", "newer")


def test_an_older_pipeline_never_restores_a_newer_calibration() -> None:
    choice = choose_casa(facts("pipeline_script", "6.6.1-17"), SITE)
    assert (choice.installed, choice.to_install) == (False, "6.6.1-17 with the pipeline")
    assert choice.summary() == "missing: install CASA 6.6.1-17 with the pipeline"


def test_a_hand_calibration_needs_exactly_the_scripts_version() -> None:
    choice = choose_casa(facts("scriptforpi", scripts=("4.7.0",), calibration="manual"), SITE)
    assert (version(choice), choice.how, choice.needed) == ("4.7.0", "exact", "exactly 4.7.0")
    missing = choose_casa(facts("scriptforpi", scripts=("5.1.1",), calibration="manual"), SITE)
    assert (missing.installed, missing.to_install) == (False, "5.1.1")


def test_pipeline_then_manual_needs_the_scripts_version_with_the_pipeline() -> None:
    site = (*SITE, CasaInstallation("4.7.2", Path("/opt/casa-4.7.2")))
    choice = choose_casa(facts("scriptforpi", scripts=("4.7.2",), calibration="pipeline_then_manual"), site)
    assert (choice.installed, choice.to_install) == (False, "4.7.2 with the pipeline")
    choice = choose_casa(facts("scriptforpi", "5.6.1-8", calibration="pipeline_then_manual"), site)
    assert (version(choice), choice.how) == ("5.6.1-8", "exact")


def test_scripts_that_disagree_or_name_nothing_are_flagged() -> None:
    several = choose_casa(facts("scriptforpi", scripts=("4.7.0", "4.7.2"), calibration="manual"), SITE)
    assert several.problem is not None
    assert not several.installed
    unknown = choose_casa(facts("scriptforpi", calibration="manual"), SITE)
    assert unknown.problem is not None
    assert unknown.summary().startswith("missing: no CASA version")


def test_none_needs_no_casa() -> None:
    assert choose_casa(facts("none", "6.5.4-9"), SITE) == CasaChoice(needed=None)


@pytest.mark.parametrize(("installed", "wanted", "same"), [
    ("6.5.4-9", "6.5.4.9", True), ("4.7.0-1", "4.7.0", True), ("4.7.2", "4.7.0", False),
    ("6.5.4.9", "6.5.4.10", False),
])
def test_same_release(installed: str, wanted: str, same: bool) -> None:
    assert same_release(installed, wanted) is same


def test_the_sites_casa_releases_are_read_from_the_settings(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        "[restore.casa]\n"
        '"6.5.4-9" = { path = "/opt/casa-6.5.4-9", pipeline = true, mpi = true }\n'
        '"4.7.0" = { path = "/opt/casa-4.7.0" }\n'
    )
    casa = load_settings(site, environ={}).restore.casa
    assert casa == (
        CasaInstallation("6.5.4-9", Path("/opt/casa-6.5.4-9"), pipeline=True, mpi=True),
        CasaInstallation("4.7.0", Path("/opt/casa-4.7.0")),
    )
    assert load_settings(environ={}).restore.casa == ()


def test_a_wrong_casa_entry_is_a_configuration_error(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[restore.casa]\n"six" = { path = "/opt/x" }\n"6.5" = { pipeline = "yes", where = 1 }\n')
    with pytest.raises(ConfigurationError) as raised:
        load_settings(site, environ={})
    text = str(raised.value)
    assert "restore.casa.'six': not a CASA version" in text
    assert "restore.casa.'6.5': unknown key(s) where" in text
    assert "restore.casa.'6.5': path: expected the installation's directory" in text

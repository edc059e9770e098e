"""Settings: defaults, then a site file, then the environment; every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.cli import main
from etl.errors import ConfigurationError
from etl.settings import load_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_come_from_config_almamirror_toml() -> None:
    settings = load_settings(environ={})
    assert settings.source.url is None
    assert settings.mirror.url is None
    assert settings.source.schema == "alma"
    assert settings.embedded.mirror_database == "almamirror"
    assert settings.embedded.source_database == "alma_demo"
    assert settings.schedule.cron == "17 3 * * *"
    assert settings.ppr.processing_site == "NAASC"
    assert settings.embedded.home == Path("~/.local/share/almamirror").expanduser()


def test_a_site_file_overrides_defaults_and_the_environment_overrides_both(tmp_path: Path) -> None:
    site = write(tmp_path / "site.toml", '[mirror]\nurl = "postgresql://file@db/mirror"\n'
                 '[ppr]\noperator = "archive-ops"\n[source]\narraysize = 500\n')
    from_file = load_settings(site, environ={})
    assert from_file.mirror.url == "postgresql://file@db/mirror"
    assert from_file.ppr.operator == "archive-ops"
    assert from_file.source.arraysize == 500
    assert from_file.ppr.mode == "CSV"  # untouched keys keep their defaults
    environ = {"ALMAMIRROR_MIRROR_URL": "postgresql://env@db/mirror", "ALMAMIRROR_HOME": str(tmp_path)}
    from_env = load_settings(site, environ=environ)
    assert from_env.mirror.url == "postgresql://env@db/mirror"
    assert from_env.embedded.home == tmp_path
    assert from_env.ppr.operator == "archive-ops"


def test_the_status_page_directory_is_off_by_default_and_a_path_when_set(tmp_path: Path) -> None:
    assert load_settings(environ={}).schedule.status_page_dir is None
    site = write(tmp_path / "site.toml", '[schedule]\nstatus_page_dir = "~/www/almamirror"\n')
    assert load_settings(site, environ={}).schedule.status_page_dir == Path("~/www/almamirror").expanduser()
    wrong = write(tmp_path / "wrong.toml", "[schedule]\nstatus_page_dir = 7\n")
    with pytest.raises(ConfigurationError, match=r"schedule\.status_page_dir: expected a string"):
        load_settings(wrong, environ={})


def test_the_site_file_can_come_from_almamirror_config(tmp_path: Path) -> None:
    site = write(tmp_path / "site.toml", '[schedule]\ncron = "0 4 * * 1"\n')
    assert load_settings(environ={"ALMAMIRROR_CONFIG": str(site)}).schedule.cron == "0 4 * * 1"
    other = write(tmp_path / "other.toml", '[schedule]\ncron = "0 5 * * *"\n')
    # An explicit --config wins over the environment's file.
    assert load_settings(other, environ={"ALMAMIRROR_CONFIG": str(site)}).schedule.cron == "0 5 * * *"


def test_every_problem_is_reported_together(tmp_path: Path) -> None:
    site = write(
        tmp_path / "bad.toml",
        'log_level = "LOUD"\n[source]\narraysize = -3\nschem = "x"\n'
        '[schedule]\nmisfire_grace_seconds = "soon"\n',
    )
    with pytest.raises(ConfigurationError) as caught:
        load_settings(site, environ={})
    problems = caught.value.problems
    assert any("log_level" in p and "LOUD" in p for p in problems)
    assert any("source.arraysize" in p and "-3" in p for p in problems)
    assert any("unknown setting 'schem'" in p for p in problems)
    assert any("schedule.misfire_grace_seconds" in p and "soon" in p for p in problems)
    assert len(problems) == 4


def test_settings_take_a_cron_and_renames_as_written_and_their_users_check_them(tmp_path: Path) -> None:
    """Parsing knows no cron syntax and no contract: scheduling and the contract check their own values."""
    from etl.schedule import cron_trigger
    from etl.source.contract import build_contract

    site = write(
        tmp_path / "site.toml",
        '[schedule]\ncron = "every night"\n[source.column_names]\n"aqua_execblock.qa0status" = "Q"\n',
    )
    settings = load_settings(site, environ={})
    with pytest.raises(ConfigurationError, match=r"schedule\.cron/timezone: 'every night'"):
        cron_trigger(settings.schedule)
    with pytest.raises(ConfigurationError, match=r"'aqua_execblock\.qa0status' is not a stand-in column"):
        build_contract(settings.source.column_names)


def test_a_missing_or_broken_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        load_settings(tmp_path / "missing.toml", environ={})
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_settings(write(tmp_path / "broken.toml", "[mirror\n"), environ={})


def test_stand_in_column_names_can_be_remapped(tmp_path: Path) -> None:
    site = write(
        tmp_path / "site.toml", '[source.column_names]\n"asa_product_files.file_class" = "PRODUCT_CLASS"\n'
    )
    assert load_settings(site, environ={}).source.column_names == {
        "asa_product_files.file_class": "PRODUCT_CLASS"
    }


def test_the_cli_prints_each_configuration_problem_on_its_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = write(tmp_path / "bad.toml", 'log_level = "LOUD"\n[source]\nbatch_rows = 0\n')
    assert main(["--config", str(site), "db", "url"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith("almamirror: configuration: ") for line in lines)


def test_the_document_time_budget_defaults_and_must_be_positive(tmp_path: Path) -> None:
    assert load_settings(environ={}).archive.document_time_budget == 900
    site = write(tmp_path / "budget.toml", "[archive]\ndocument_time_budget = 42.5\n")
    assert load_settings(site, environ={}).archive.document_time_budget == 42.5
    bad = write(tmp_path / "bad.toml", "[archive]\ndocument_time_budget = 0\n")
    with pytest.raises(ConfigurationError, match=r"archive\.document_time_budget"):
        load_settings(bad, environ={})


def test_the_sync_guards_have_defaults_and_take_only_fractions(tmp_path: Path) -> None:
    defaults = load_settings(environ={}).source
    assert (defaults.max_shrink, defaults.max_bad_rows) == (0.5, 0.01)
    site = write(tmp_path / "guards.toml", "[source]\nmax_shrink = 1\nmax_bad_rows = 0.05\n")
    chosen = load_settings(site, environ={}).source
    assert (chosen.max_shrink, chosen.max_bad_rows) == (1.0, 0.05)
    bad = write(tmp_path / "bad_guards.toml", '[source]\nmax_shrink = 1.5\nmax_bad_rows = "some"\n')
    with pytest.raises(ConfigurationError) as caught:
        load_settings(bad, environ={})
    assert len(caught.value.problems) == 2
    assert all("expected a fraction from 0 to 1" in problem for problem in caught.value.problems)


@pytest.mark.parametrize("title", ["AAT/PPI Alma Restore", "my restore", "x/y", ".hidden", "a\tb"])
def test_a_procedure_title_that_cannot_be_in_a_file_name_is_a_configuration_error(
    tmp_path: Path, title: str
) -> None:
    site = write(tmp_path / "site.toml", f"[ppr]\nprocedure_title = {title!r}\n".replace("'", '"'))
    with pytest.raises(ConfigurationError, match=r"procedure_title: .* cannot be part of a file name"):
        load_settings(site, environ={})
    fine = write(tmp_path / "fine.toml", '[ppr]\nprocedure_title = "hifa_restore.v2"\n')
    assert load_settings(fine, environ={}).ppr.procedure_title == "hifa_restore.v2"

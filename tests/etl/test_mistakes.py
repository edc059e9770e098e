"""Mistakes an operator makes end in one line that says why, with the right exit code."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from etl.cli import main
from etl.errors import ConfigurationError
from etl.mirror import SyncRun, table_of
from etl.settings import load_settings
from tests.conftest import cli_environment
from tests.helpers import rows


def test_a_site_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_bytes('[ppr]\noperator = "café"\n'.encode("latin-1"))
    with pytest.raises(ConfigurationError) as raised:
        load_settings(site, environ={})
    assert raised.value.problems == [
        f"config file {site}: not UTF-8 text (byte 21 is 0xe9); save it as UTF-8"
    ]


def test_a_value_where_a_table_belongs_is_one_problem(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("ppr = 5\n[source]\ncolumn_names = 'x'\n")
    with pytest.raises(ConfigurationError) as raised:
        load_settings(site, environ={})
    assert raised.value.problems == [
        f"{site}: [ppr] must be a table (a [ppr] section with its keys), not 5",
        f"{site} [source]: [column_names] must be a table (a [column_names] section with its keys), not 'x'",
    ]


def test_the_cli_says_the_encoding_problem_instead_of_an_internal_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site.toml"
    site.write_bytes(b"log_level = '\xff'\n")
    assert main(["--config", str(site), "report", "runs"]) == 1
    err = capsys.readouterr().err
    assert "internal error" not in err
    assert err == (f"almamirror: configuration: config file {site}: not UTF-8 text (byte 13 is 0xff); "
                   "save it as UTF-8\n")


def test_schedule_once_refuses_an_invalid_cron_expression_before_syncing(
    source_copy: URL, synced_mirror: URL, test_home: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    cli_environment(monkeypatch, source_copy, synced_mirror, test_home)
    site = tmp_path / "site.toml"
    site.write_text('[schedule]\ncron = "61 3 * * *"\n')
    runs_before = rows(synced_mirror, select(func.count()).select_from(table_of(SyncRun)))
    assert main(["--config", str(site), "schedule", "--once"]) == 1
    err = capsys.readouterr().err
    assert "schedule.cron/timezone: '61 3 * * *'" in err
    assert rows(synced_mirror, select(func.count()).select_from(table_of(SyncRun))) == runs_before


def test_a_project_code_without_its_suffix_names_the_project(
    synced_mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_environment(monkeypatch, None, synced_mirror, test_home)
    assert main(["report", "restorable", "--project", "2017.1.00886"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ("almamirror: --project '2017.1.00886': no such project in the mirror; "
                   "did you mean 2017.1.00886.L?\n")
    assert main(["report", "restorable", "--project", "2017.1.00886.L", "--format", "csv"]) == 0


def test_an_unknown_mous_in_report_changes_names_the_nearest(
    synced_mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_environment(monkeypatch, None, synced_mirror, test_home)
    assert main(["report", "changes", "--mous", "uid://A001/X1284/X265e"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("almamirror: --mous uid://A001/X1284/X265e: no such member OUS in the mirror; "
                          "did you mean uid://A001/X1284/X265f")
    assert main(["report", "quality", "--mous", "uid://A001/X1284/X265e"]) == 2
    assert main(["report", "changes", "--mous", "uid://A001/X1284/X265f"]) == 0

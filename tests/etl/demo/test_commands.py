"""``almamirror source init`` / ``source demo`` in-process, and the loader's refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from etl.cli import main
from etl.database import create_source_engine
from etl.demo.fill import demo_archive_present, fill_demo_archive
from etl.demo.scales import DEMO_AS_OF
from etl.errors import UnsupportedSource, UsageError
from etl.source.admin import init_source
from etl.source.contract import CONTRACT, TABLE_NAMES
from tests.conftest import DatabaseFactory, cli_environment, open_engine, settings_for
from tests.etl.demo.anomalies import PRESENT, missing_features

ORACLE_URL = "oracle+oracledb://u:secret@host:1521/?service_name=X"


def test_source_init_twice_is_idempotent(
    databases: DatabaseFactory, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = databases.create("cli_init")
    cli_environment(monkeypatch, url, None, test_home)
    assert main(["source", "init"]) == 0
    assert f"created {len(TABLE_NAMES)} table(s)" in capsys.readouterr().out
    assert main(["source", "init"]) == 0
    assert "all contract tables already present" in capsys.readouterr().out
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            assert sorted(inspect(connection).get_table_names(schema="alma")) == sorted(TABLE_NAMES)
    finally:
        engine.dispose()


def test_source_demo_fills_the_small_archive(
    databases: DatabaseFactory, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = databases.create("cli_demo")
    cli_environment(monkeypatch, url, None, test_home)
    assert main(["source", "demo", "--scale", "small"]) == 0
    out = capsys.readouterr().out
    assert "source demo: small archive, seed 2017: 58 MOUSes, " in out
    engine = open_engine(url)
    try:
        assert demo_archive_present(engine, "alma")
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", [["source", "init"], ["source", "demo", "--scale", "small"]])
def test_oracle_source_is_refused_without_its_password(
    command: list[str], test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_environment(monkeypatch, None, None, test_home)
    monkeypatch.setenv("ALMAMIRROR_SOURCE_URL", ORACLE_URL)
    assert main(command) == 1
    captured = capsys.readouterr()
    assert "secret" not in captured.out + captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("almamirror: refusing to ")
    assert "Oracle" in lines[0]


def test_fill_refuses_oracle_before_connecting(test_home: Path) -> None:
    settings = settings_for(None, None, test_home, {"ALMAMIRROR_SOURCE_URL": ORACLE_URL})
    from sqlalchemy.engine import make_url

    engine = create_source_engine(make_url(ORACLE_URL), settings)
    with pytest.raises(UnsupportedSource, match="refusing to fill a demo archive") as raised:
        fill_demo_archive(engine, CONTRACT, "alma")
    assert "secret" not in str(raised.value)


def test_unknown_scale_is_a_usage_error(databases: DatabaseFactory, test_home: Path) -> None:
    url = databases.create("bad_scale")
    engine = create_source_engine(url, settings_for(url, None, test_home))
    try:
        with pytest.raises(UsageError, match="unknown demo scale 'huge' \\(known: small, medium, alma\\)"):
            fill_demo_archive(engine, CONTRACT, "alma", scale="huge")
    finally:
        engine.dispose()


def test_demo_archive_present_needs_tables_and_rows(databases: DatabaseFactory, test_home: Path) -> None:
    url = databases.create("presence")
    engine = create_source_engine(url, settings_for(url, None, test_home))
    try:
        assert not demo_archive_present(engine, "alma")
        init_source(engine, CONTRACT, "alma")
        assert not demo_archive_present(engine, "alma")
        # The feature checks are not vacuous: an empty stand-in lacks every one of them.
        with engine.connect() as connection:
            missing = missing_features(connection, DEMO_AS_OF)
        assert set(PRESENT) <= set(missing)
        summary = fill_demo_archive(engine, CONTRACT, "alma")
        assert demo_archive_present(engine, "alma")
    finally:
        engine.dispose()
    assert summary.mous_count == 58
    assert set(summary.rows) == {*TABLE_NAMES, "ngas_file"}
    assert summary.describe().startswith(
        f"small archive, seed 2017: 58 MOUSes, {summary.rows['aqua_execblock']:,} EBs, "
        f"{summary.rows['asa_product_files']:,} product files in "
    )

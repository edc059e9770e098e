"""Database URLs that are safe to print, and engines configured for each kind of source."""

from __future__ import annotations

from pathlib import Path

import oracledb
import pytest
from sqlalchemy.engine import URL

from etl.cli import main
from etl.database import create_source_engine, mask_url, parse_url, source_url
from etl.errors import ConfigurationError
from etl.settings import load_settings
from tests.conftest import cli_environment


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("oracle+oracledb://alma_ro:s3cr%40t@db.alma.cl:1521/?service_name=ALMA",
         "oracle+oracledb://alma_ro:***@db.alma.cl:1521/?service_name=ALMA"),
        ("postgresql://mirror:hunter2@localhost/almamirror", "postgresql://mirror:***@localhost/almamirror"),
        ("postgresql://localhost/almamirror", "postgresql://localhost/almamirror"),
        ("not a url://user:pw@host", "not a url://user:***@host"),
    ],
)
def test_passwords_never_appear_in_printed_urls(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert "hunter2" not in mask_url(url)
    assert "s3cr" not in mask_url(url)


def test_an_unparsable_url_is_a_configuration_error_without_the_password() -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_url("oracle+oracledb://user:topsecret@host:notaport/x", "source.url")
    assert "topsecret" not in str(caught.value)


def test_an_oracle_source_gets_thin_mode_a_large_fetch_array_and_lobs_as_text() -> None:
    settings = load_settings(environ={
        "ALMAMIRROR_SOURCE_URL": "oracle+oracledb://alma_ro:pw@db.alma.cl:1521/?service_name=ALMA"
    })
    engine = create_source_engine(source_url(settings), settings)
    try:
        assert engine.dialect.name == "oracle"
        assert engine.dialect.driver == "oracledb"
        assert engine.dialect.arraysize == settings.source.arraysize == 10000
        assert engine.dialect.auto_convert_lobs is True
        assert oracledb.defaults.fetch_lobs is False
        assert oracledb.is_thin_mode()
    finally:
        engine.dispose()


def test_a_plain_postgresql_url_is_read_with_psycopg() -> None:
    settings = load_settings(environ={"ALMAMIRROR_SOURCE_URL": "postgresql://u@localhost/alma"})
    assert source_url(settings).drivername == "postgresql+psycopg"


def test_db_url_masks_the_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALMAMIRROR_MIRROR_URL", "postgresql://ops:very-secret@db.example/almamirror")
    assert main(["db", "url"]) == 0
    out = capsys.readouterr().out
    assert "very-secret" not in out
    assert "ops:***@db.example" in out


@pytest.mark.parametrize("command", [["sync"], ["report", "restorable"], ["ppr", "uid://A001/X129e/Xb6"]])
def test_an_unreachable_mirror_is_one_line_and_exit_1(
    command: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    monkeypatch.setenv("ALMAMIRROR_MIRROR_URL", "postgresql://ops:pw-123@127.0.0.1:1/almamirror")
    monkeypatch.setenv("ALMAMIRROR_SOURCE_URL", "postgresql://ops:pw-123@127.0.0.1:1/alma")
    monkeypatch.setenv("ALMAMIRROR_HOME", str(tmp_path))
    assert main(["-q", *command]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    mirror = "postgresql+psycopg://ops:***@127.0.0.1:1/almamirror"
    assert error.startswith(f"almamirror: the mirror database {mirror} is unavailable: ")
    assert "Connection refused" in error
    assert "pw-123" not in error


def test_an_unreachable_source_says_it_is_the_source(
    synced_mirror: URL, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    cli_environment(monkeypatch, None, synced_mirror, tmp_path)
    monkeypatch.setenv("ALMAMIRROR_SOURCE_URL", "postgresql://ops:pw-123@127.0.0.1:1/alma")
    assert main(["-q", "sync"]) == 1
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("almamirror: the source database postgresql+psycopg://ops:***@127.0.0.1:1/alma "
                            "is unavailable: ")
    assert "pw-123" not in error

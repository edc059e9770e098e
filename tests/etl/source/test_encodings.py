"""Source databases whose text is not declared UTF-8: clear answers, never an internal error."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import inspect
from sqlalchemy.engine import URL

from etl.cli import main
from etl.database import create_source_engine
from etl.demo.fill import fill_demo_archive
from etl.source.contract import CONTRACT
from tests.conftest import DatabaseFactory, cli_environment, open_engine, settings_for
from tests.helpers import mirror_fingerprints


def database_with_encoding(databases: DatabaseFactory, name: str, encoding: str) -> URL:
    full = databases.prefix + name
    with databases._admin() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(full)))
        admin.execute(
            sql.SQL("CREATE DATABASE {} ENCODING {} LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0").format(
                sql.Identifier(full), sql.Literal(encoding)
            )
        )
    databases.created.append(full)
    return databases.url(name)


def test_source_demo_refuses_a_latin1_stand_in_in_one_line(
    databases: DatabaseFactory, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = database_with_encoding(databases, "latin1_source", "LATIN1")
    cli_environment(monkeypatch, source, None, test_home)
    assert main(["-q", "source", "demo", "--scale", "small"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "its encoding is LATIN1" in error
    assert "ENCODING 'UTF8'" in error
    assert "internal error" not in error
    engine = open_engine(source)
    try:
        assert inspect(engine).get_table_names(schema="alma") == []  # nothing was written
    finally:
        engine.dispose()


def test_a_sql_ascii_source_holding_other_bytes_stops_with_the_table_and_the_reason(
    databases: DatabaseFactory, synced_mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Many rows that are not UTF-8 (a SQL_ASCII database filled with LATIN1 text): a broken source."""
    source = database_with_encoding(databases, "ascii_latin1_source", "SQL_ASCII")
    engine = create_source_engine(source, settings_for(source, None, test_home))
    try:
        fill_demo_archive(engine, CONTRACT, "alma", scale="small")
    finally:
        engine.dispose()
    plain = source.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as connection:
        connection.execute(
            "UPDATE alma.bmmv_obsproject SET prj_name = prj_name || convert_from('\\xe9'::bytea, 'SQL_ASCII')"
        )
    before = mirror_fingerprints(synced_mirror)
    cli_environment(monkeypatch, source, synced_mirror, test_home)

    assert main(["-q", "sync"]) == 1

    message = capsys.readouterr().err.splitlines()[-1]
    assert message.startswith("almamirror: source table bmmv_obsproject: ")
    assert "bytes that are not UTF-8 text" in message
    assert mirror_fingerprints(synced_mirror) == before

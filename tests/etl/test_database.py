"""Database URLs that are safe to print, and engines configured for each kind of source."""

from __future__ import annotations

import gc
import subprocess
import sys
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import oracledb
import pytest
from sqlalchemy import Engine, insert, inspect, select
from sqlalchemy.engine import URL, make_url

from etl.cli import main
from etl.database import create_mirror_engine, create_source_engine, dispose, parse_url, source_url
from etl.errors import ConfigurationError
from etl.logs import mask_url
from etl.mirror import SyncRun, table_of
from etl.settings import load_settings
from tests.conftest import cli_environment, open_engine
from tests.etl.sync.faults import cli_env
from tests.helpers import rows


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("oracle+oracledb://alma_ro:s3cr%40t@db.alma.cl:1521/?service_name=ALMA",
         "oracle+oracledb://alma_ro:***@db.alma.cl:1521/?service_name=ALMA"),
        ("postgresql://mirror:hunter2@localhost/almamirror", "postgresql://mirror:***@localhost/almamirror"),
        ("postgresql://localhost/almamirror", "postgresql://localhost/almamirror"),
        ("not a url://user:pw@host", "not a url://user:***@host"),
        # libpq's query-parameter forms, any case, percent-encoded names and values
        ("postgresql://ops@db.example/mirror?password=hunter2&sslmode=require",
         "postgresql://ops@db.example/mirror?password=***&sslmode=require"),
        ("postgresql://ops@db.example/mirror?sslmode=require&PassWord=hunter2",
         "postgresql://ops@db.example/mirror?sslmode=require&PassWord=***"),
        ("postgresql://ops@db.example/mirror?pass%77ord=hunter2", "postgresql://ops@db.example/mirror?pass%77ord=***"),
        ("postgresql://ops@db.example/mirror?password=hun%74er2", "postgresql://ops@db.example/mirror?password=***"),
        ("postgresql://ops@db.example/mirror?sslpassword=hunter2&sslkey=k",
         "postgresql://ops@db.example/mirror?sslpassword=***&sslkey=k"),
        ("https://ngas.example/RETRIEVE?file_id=x&token=hunter2", "https://ngas.example/RETRIEVE?file_id=x&token=***"),
        # an unencoded "@" (or "/", "?") in the password: everything up to the last "@" is masked
        ("postgresql://ops:hunt@er2@db.example/mirror", "postgresql://ops:***@db.example/mirror"),
        ("postgresql://ops:hu/nt?er2@db.example/mirror", "postgresql://ops:***@db.example/mirror"),
        ("postgresql://ops:hunter2@/mirror?host=/run/pg&password=hunter2",
         "postgresql://ops:***@/mirror?host=/run/pg&password=***"),
        # a libpq key=value string
        ("host=db.example password=hunter2 user=ops", "host=db.example password=*** user=ops"),
        ("host=db.example password='hun ter2' user=ops", "host=db.example password=*** user=ops"),
    ],
)
def test_passwords_never_appear_in_printed_urls(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    for secret in ("hunter2", "hun%74er2", "hunt", "er2", "s3cr"):
        assert secret not in mask_url(url)


def test_a_url_object_is_masked_with_its_query() -> None:
    url = make_url("postgresql+psycopg://ops:hunter2@db.example/mirror?password=hunter3")
    assert mask_url(url) == "postgresql+psycopg://ops:***@db.example/mirror?password=***"


def test_an_unencoded_at_in_a_password_is_refused_without_printing_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALMAMIRROR_MIRROR_URL", "postgresql://ops:hunt@er2@db.example/almamirror")
    monkeypatch.setenv("ALMAMIRROR_HOME", str(tmp_path))
    assert main(["db", "url"]) == 1
    error = capsys.readouterr().err
    assert "%40" in error
    assert "hunt" not in error
    assert "er2" not in error


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


@pytest.mark.parametrize(
    "url",
    ["postgresql://ops:very-secret@db.example/almamirror", "postgresql://ops@db.example/almamirror?password=very-secret"],
)
def test_db_url_masks_the_password(
    url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALMAMIRROR_MIRROR_URL", url)
    assert main(["db", "url"]) == 0
    out = capsys.readouterr().out
    assert "very-secret" not in out
    assert "***" in out
    assert "db.example" in out


def test_a_sync_stores_logs_and_reports_only_the_masked_source(
    demo_source: URL, synced_mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # libpq takes the password from the query (the test server trusts local connections).
    source = demo_source.update_query_dict({"password": "query-secret"})
    cli_environment(monkeypatch, source, synced_mirror, test_home)
    assert main(["sync"]) == 0
    assert main(["report", "runs"]) == 0
    assert main(["report", "runs", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert "sync.started" in captured.err
    assert "query-secret" not in captured.out + captured.err
    stored = rows(synced_mirror, select(table_of(SyncRun).c.source))
    assert all("query-secret" not in row["source"] for row in stored)
    assert any("password=***" in row["source"] for row in stored)


def test_the_migration_masks_sources_stored_by_earlier_versions(
    databases: Any, migrated_template: str
) -> None:
    from etl import migrations

    mirror = databases.create("unmasked_sources", template=migrated_template)
    engine = open_engine(mirror)
    try:
        migrations.downgrade(engine, "0002")
        with engine.begin() as connection:
            for source in ("postgresql+psycopg://ops:***@stored-secret@db/alma",
                           "postgresql+psycopg://ops@db/alma?sslmode=require&password=stored-secret"):
                connection.execute(insert(table_of(SyncRun)).values(
                    status="failed", full=False, host="h", pid=1, source=source,
                ))
        migrations.upgrade(engine)
    finally:
        engine.dispose()
    stored = [row["source"] for row in rows(mirror, select(table_of(SyncRun).c.source))]
    assert stored == ["postgresql+psycopg://ops:***@db/alma", "postgresql+psycopg://ops@db/alma?sslmode=require&password=***"]


def test_db_psql_gets_the_password_through_a_private_file_not_its_command_line(
    synced_mirror: URL, test_home: Path
) -> None:
    with _psql_running(synced_mirror.set(password="psql-secret"), test_home) as (command_line, environment):
        assert "psql-secret" not in command_line
        assert "psql-secret" not in environment.get("PGPASSWORD", "")
        passfile = Path(environment["PGPASSFILE"])
        assert passfile.read_text() == "*:*:*:*:psql-secret\n"
        assert passfile.stat().st_mode & 0o077 == 0
    assert not passfile.exists()


def test_db_psql_gets_other_secret_parameters_through_a_private_service_file(
    synced_mirror: URL, test_home: Path
) -> None:
    """sslpassword= (the client key's passphrase), like the password, never on psql's command line."""
    mirror = synced_mirror.update_query_dict({"sslpassword": "ssl-secret", "sslmode": "disable"})
    with _psql_running(mirror, test_home) as (command_line, environment):
        assert "ssl-secret" not in command_line
        assert "service=almamirror" in command_line
        service = Path(environment["PGSERVICEFILE"])
        assert service.read_text() == "[almamirror]\nsslpassword=ssl-secret\n"
        assert service.stat().st_mode & 0o077 == 0
    assert not service.exists()


@contextmanager
def _psql_running(mirror: URL, home: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``db psql`` running a query against ``mirror``: its psql's command line and environment, read
    while it runs; the query's success is checked when the block ends."""
    process = subprocess.Popen(
        [sys.executable, "-m", "etl.cli", "db", "psql", "--", "-c", "SELECT pg_sleep(1)"],
        env=cli_env(None, mirror, home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        child = _child_process(process.pid)
        command_line = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        environment = dict(
            entry.split("=", 1) for entry in Path(f"/proc/{child}/environ").read_bytes().decode().split("\0")
            if "=" in entry
        )
        assert "psql" in command_line
        yield command_line, environment
    finally:
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "pg_sleep" in out


def test_db_psql_refuses_a_secret_beside_a_service_of_the_sites_own(
    synced_mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = synced_mirror.update_query_dict({"sslpassword": "ssl-secret", "service": "site"})
    cli_environment(monkeypatch, None, mirror, test_home)
    assert main(["db", "psql", "--", "-c", "SELECT 1"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "almamirror: the mirror URL names a libpq service and gives sslpassword: put that in the "
        "service's definition instead, so that db psql need not put it on psql's command line\n"
    )
    assert "ssl-secret" not in captured.out + captured.err


def _child_process(parent: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for task in Path(f"/proc/{parent}/task").iterdir():
            children = (task / "children").read_text().split()
            if children:
                return int(children[0])
        time.sleep(0.05)
    raise AssertionError("db psql started no psql")


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


def test_a_disposed_engine_is_freed_with_its_statement_cache_and_dialect(
    mirror_db: URL, test_home: Path
) -> None:
    """PostgreSQL's dialect outlives its engine in class-level caches of its reflection queries: the
    engine must not be reachable from it, nor the dialect kept, or a scheduler keeps every night's
    engine (10 MB a sync)."""
    settings = load_settings(environ={"ALMAMIRROR_HOME": str(test_home)})
    for make in (create_mirror_engine, lambda url: create_source_engine(url, settings)):
        engine_ref, dialect_ref = _used_and_disposed(make(mirror_db))
        gc.collect()
        assert engine_ref() is None
        assert dialect_ref() is None


def _used_and_disposed(engine: Engine) -> tuple[weakref.ref[Engine], weakref.ref[Any]]:
    with engine.connect() as connection:
        assert inspect(connection).has_table("sync_run")  # reflection: the dialect is cached
        connection.execute(select(table_of(SyncRun).c.run_id)).all()
    dispose(engine)
    return weakref.ref(engine), weakref.ref(engine.dialect)

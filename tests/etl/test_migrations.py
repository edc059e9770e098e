"""Migrations: up, down to nothing, up again; one head; models and migrations never drift."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import URL

from etl import migrations
from etl.cli import main
from etl.errors import SchemaMismatch
from etl.mirror import metadata
from tests.conftest import cli_environment, open_engine
from tests.helpers import connect

PROJECT = Path(__file__).resolve().parents[2]


def tables(url: URL) -> set[str]:
    with connect(url) as connection:
        return set(inspect(connection).get_table_names())


def test_upgrade_downgrade_upgrade_round_trip_without_drift(mirror_db: URL) -> None:
    engine = open_engine(mirror_db)
    try:
        assert set(metadata.tables) <= tables(mirror_db)
        migrations.downgrade(engine, "base")
        assert tables(mirror_db) == {"alembic_version"}
        assert migrations.current_revision(engine) is None
        migrations.upgrade(engine)
        assert migrations.current_revision(engine) in migrations.heads()
        migrations.check_drift(engine)
    finally:
        engine.dispose()


def test_there_is_exactly_one_head() -> None:
    assert len(migrations.heads()) == 1


def test_migration_files_are_date_prefixed() -> None:
    names = sorted(p.name for p in (PROJECT / "alembic" / "versions").glob("*.py"))
    assert names
    assert all(name[:4].isdigit() and name[4] == "_" and name[7] == "_" for name in names)


def test_the_drift_check_fails_when_the_models_gain_a_column(mirror_db: URL) -> None:
    from sqlalchemy import Column, Text

    engine = open_engine(mirror_db)
    extra = Column("unmigrated_note", Text)
    table = metadata.tables["project"]
    table.append_column(extra)
    try:
        with pytest.raises(SchemaMismatch, match="unmigrated_note"):
            migrations.check_drift(engine)
    finally:
        table._columns.remove(extra)  # leave the shared metadata as it was
        engine.dispose()
    migrations.check_drift(open_engine(mirror_db))


def test_an_unmigrated_mirror_is_refused_with_what_to_do(databases: object, test_home: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import DatabaseFactory

    assert isinstance(databases, DatabaseFactory)
    empty = databases.create("unmigrated")
    cli_environment(monkeypatch, None, empty, test_home)
    assert main(["-q", "sync"]) == 1
    assert "run 'almamirror db upgrade'" in capsys.readouterr().err
    assert main(["-q", "db", "upgrade"]) == 0
    assert main(["db", "check"]) == 0
    assert "one head" in capsys.readouterr().out


def test_the_alembic_command_line_uses_almamirrors_settings(mirror_db: URL) -> None:
    env = {**os.environ, "ALMAMIRROR_MIRROR_URL": mirror_db.render_as_string(hide_password=False)}
    for args in (["check"], ["current"]):
        done = subprocess.run(
            [sys.executable, "-m", "alembic", "-c", str(PROJECT / "alembic.ini"), *args],
            env=env, capture_output=True, text=True, cwd=PROJECT, check=False,
        )
        assert done.returncode == 0, done.stderr
    assert "(head)" in done.stdout

"""Migrations: up, down to nothing, up again; every step exact; one head; models and migrations never drift.

No test names the head revision: the history is read from Alembic's script directory, so adding a
migration needs no change here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.schema import CreateView

from etl import migrations
from etl.cli import main
from etl.errors import SchemaMismatch
from etl.mirror import metadata
from etl.resources import VIEW_QUERIES
from tests.conftest import DatabaseFactory, cli_environment, open_engine
from tests.etl.revisions import (
    down_revision,
    head_revision,
    revision_chain,
    schema_snapshot,
    script_directory,
)
from tests.helpers import connect

PROJECT = Path(__file__).resolve().parents[2]


def snapshot(engine: Engine) -> dict[str, frozenset[tuple[object, ...]]]:
    with engine.connect() as connection:
        return schema_snapshot(connection)


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
        assert migrations.current_revision(engine) == head_revision()
        migrations.check_drift(engine)
    finally:
        engine.dispose()


def test_every_revision_downgrades_to_exactly_the_schema_before_it(databases: DatabaseFactory) -> None:
    """One step at a time from an empty database: up, down (nothing left of it), up (the same again)."""
    engine = open_engine(databases.create("migration_steps"))
    try:
        for revision in revision_chain():
            before = snapshot(engine)
            migrations.upgrade(engine, revision)
            assert migrations.current_revision(engine) == revision
            after = snapshot(engine)
            migrations.downgrade(engine, down_revision(revision))
            assert migrations.current_revision(engine) == (script_directory().get_revision(
                revision).down_revision)
            left = snapshot(engine)
            assert {part: left[part] ^ before[part] for part in before if left[part] != before[part]} == {}, (
                f"downgrading {revision} does not restore the schema before it"
            )
            migrations.upgrade(engine, revision)
            assert snapshot(engine) == after, f"upgrading {revision} a second time differs from the first"
        assert migrations.current_revision(engine) == head_revision()
        migrations.check_drift(engine)
    finally:
        engine.dispose()


def test_the_schema_snapshot_sees_what_a_migration_leaves_behind(mirror_db: URL) -> None:
    """The exactness check above is only as good as the snapshot: it must see a leftover of each kind."""
    engine = open_engine(mirror_db)
    leftovers = {
        "relations": "CREATE TABLE leftover (note text)",
        "columns": "ALTER TABLE project ADD COLUMN leftover text",
        "constraints": "ALTER TABLE project ADD CONSTRAINT leftover CHECK (deleted IN (0, 1))",
        "indexes": "CREATE INDEX leftover ON project (title)",
        "views": "CREATE VIEW leftover AS SELECT 1 AS one",
        "functions": "CREATE FUNCTION leftover() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "triggers": "CREATE TRIGGER leftover BEFORE UPDATE ON project "
        "EXECUTE FUNCTION suppress_redundant_updates_trigger()",
        "types": "CREATE TYPE leftover AS ENUM ('a')",
        "comments": "COMMENT ON TABLE project IS 'leftover'",
        "table_grants": "GRANT SELECT ON project TO PUBLIC",
        "schema_grants": "GRANT CREATE ON SCHEMA public TO PUBLIC",
        "default_grants": "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO PUBLIC",
    }
    try:
        for part, statement in leftovers.items():
            with engine.connect() as connection:
                before = schema_snapshot(connection)
                connection.execute(text(statement))
                after = schema_snapshot(connection)
                connection.rollback()
            assert after[part] != before[part], part
    finally:
        engine.dispose()


def test_each_views_newest_file_is_that_view_at_the_head(mirror_db: URL) -> None:
    """alembic/views/<view>/: the highest revision's file is the view as migrated, read in one place."""
    folders = {folder.name: folder for folder in VIEW_QUERIES.iterdir() if folder.is_dir()}
    with connect(mirror_db) as connection:
        views = connection.execute(
            text("SELECT viewname FROM pg_views WHERE schemaname = current_schema()")
        ).scalars()
        assert set(folders) == set(views)
        for view, folder in folders.items():
            newest = max(folder.glob("*.sql"))
            connection.execute(CreateView(text(newest.read_text()).columns(), "newest", temporary=True))
            definitions = connection.execute(
                text("SELECT pg_get_viewdef(CAST(:view AS regclass)), pg_get_viewdef('newest'::regclass)"),
                {"view": view},
            ).one()
            assert definitions[0] == definitions[1], f"{newest} is not the view {view} at the head"
            connection.execute(text("DROP VIEW newest"))


def test_every_view_file_is_loaded_by_the_revision_it_is_named_after() -> None:
    """A file no revision loads would be a copy that nothing keeps exact."""
    revisions = script_directory().walk_revisions()
    sources = {revision.revision: Path(revision.path).read_text() for revision in revisions}
    files = sorted(VIEW_QUERIES.glob("*/*.sql"))
    assert files
    for file in files:
        view, revision = file.parent.name, file.stem
        assert revision in sources, f"{file}: no revision {revision}"
        loads = rf'_view\("{view}", "{revision}"\)'  # create_view or replace_view
        assert re.search(loads, sources[revision]), f"revision {revision} never loads {file}"


def test_there_is_exactly_one_head() -> None:
    assert len(script_directory().get_heads()) == 1
    assert migrations.heads() == [head_revision()]


def test_the_history_is_one_line_from_the_first_revision_to_the_head() -> None:
    chain = revision_chain()
    assert chain[-1] == head_revision()
    assert down_revision(chain[0]) == "base"
    assert all(down_revision(later) == earlier for earlier, later in pairwise(chain))
    assert len(chain) == len(list(script_directory().walk_revisions()))


def test_migration_files_are_date_prefixed_and_sort_in_history_order() -> None:
    files = {revision.revision: Path(revision.path) for revision in script_directory().walk_revisions()}
    assert files
    for revision, path in files.items():
        pattern = rf"\d{{4}}_\d{{2}}_\d{{2}}_\d{{4}}_{re.escape(revision)}_\w+\.py"  # date_time_rev_slug
        assert re.fullmatch(pattern, path.name), path.name
    # Date prefixes order the files as the revisions follow each other.
    assert sorted(files, key=lambda revision: files[revision].name) == revision_chain()


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


def test_an_unmigrated_mirror_is_refused_with_what_to_do(databases: DatabaseFactory, test_home: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    empty = databases.create("unmigrated")
    cli_environment(monkeypatch, None, empty, test_home)
    assert main(["-q", "sync"]) == 1
    assert "run 'almamirror db upgrade'" in capsys.readouterr().err
    assert main(["-q", "db", "upgrade"]) == 0
    assert capsys.readouterr().out == ""  # -q: nothing on success
    assert main(["db", "check"]) == 0
    assert f"one head ({head_revision()})" in capsys.readouterr().out


def test_the_alembic_command_line_uses_almamirrors_settings(mirror_db: URL) -> None:
    env = {**os.environ, "ALMAMIRROR_MIRROR_URL": mirror_db.render_as_string(hide_password=False)}
    for args in (["check"], ["current"]):
        done = subprocess.run(
            [sys.executable, "-m", "alembic", "-c", str(PROJECT / "alembic.ini"), *args],
            env=env, capture_output=True, text=True, cwd=PROJECT, check=False,
        )
        assert done.returncode == 0, done.stderr
    assert f"{head_revision()} (head)" in done.stdout


def _waiting_for_the_migration_lock(connection: Connection) -> bool:
    """Another session of this database waits for alembic_version in the lock the migrations take."""
    waiting = connection.execute(text(
        "SELECT count(*) FROM pg_locks WHERE relation = 'alembic_version'::regclass "
        "AND mode = 'ExclusiveLock' AND NOT granted"
    ))
    return bool(waiting.scalar_one())


def test_a_bare_alembic_upgrade_waits_for_the_migration_lock(mirror_db: URL) -> None:
    """`alembic upgrade` from a checkout takes the lock almamirror's own upgrade takes: it waits for it."""
    engine = open_engine(mirror_db)
    previous = down_revision(head_revision())
    migrations.downgrade(engine, previous)
    env = {**os.environ, "ALMAMIRROR_MIRROR_URL": mirror_db.render_as_string(hide_password=False)}
    try:
        with engine.begin() as holder:
            holder.execute(text("LOCK TABLE alembic_version IN EXCLUSIVE MODE"))
            upgrade = subprocess.Popen(
                [sys.executable, "-m", "alembic", "-c", str(PROJECT / "alembic.ini"), "upgrade", "head"],
                env=env, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            with engine.connect() as observer:
                deadline = time.monotonic() + 60
                while not _waiting_for_the_migration_lock(observer) and upgrade.poll() is None:
                    assert time.monotonic() < deadline, "the upgrade neither waited nor ended"
                    time.sleep(0.1)
            assert upgrade.poll() is None, f"the upgrade ran while the lock was held: {upgrade.communicate()}"
            assert migrations.current_revision(engine) == previous
        _out, err = upgrade.communicate(timeout=120)
        assert upgrade.returncode == 0, err
        assert migrations.current_revision(engine) == head_revision()
    finally:
        engine.dispose()

"""almamirror_reader may read every table and view of the mirror, and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, TableClause, column, func, select, table, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ProgrammingError

from etl.mirror import metadata
from etl.report.views import VIEWS
from tests.conftest import open_engine
from tests.etl.report.conftest import ArchiveMirror

READER = "almamirror_reader"
RELATIONS: list[TableClause] = [
    *metadata.sorted_tables,
    *VIEWS.sorted_tables,
    table("alembic_version", column("version_num")),
]


@pytest.fixture
def archive(shared_archive: ArchiveMirror) -> ArchiveMirror:
    """The module's shared archive: every test reads it as the reader, in a transaction that is rolled
    back (``as_reader``)."""
    return shared_archive


@contextmanager
def as_reader(url: URL) -> Iterator[Connection]:
    """A transaction that has switched to the reader role; always rolled back."""
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            try:
                connection.execute(text("SET LOCAL ROLE almamirror_reader"))
                yield connection
            finally:
                transaction.rollback()
    finally:
        engine.dispose()


def test_the_role_cannot_log_in(archive: ArchiveMirror) -> None:
    roles = table(
        "pg_roles", column("rolname"), column("rolcanlogin"), column("rolsuper"), schema="pg_catalog"
    )
    with as_reader(archive.url) as connection:
        query = select(roles.c.rolcanlogin, roles.c.rolsuper).where(roles.c.rolname == READER)
        row = connection.execute(query).one()
    assert (row.rolcanlogin, row.rolsuper) == (False, False)


@pytest.mark.parametrize("relation", RELATIONS, ids=lambda relation: relation.name)
def test_the_reader_can_select_every_table_and_view(archive: ArchiveMirror, relation: TableClause) -> None:
    with as_reader(archive.url) as connection:
        connection.execute(select(func.count()).select_from(relation)).scalar_one()


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO project (project_uid) VALUES ('uid://A001/X0/X0')",
        "UPDATE mous_status SET restorable = false",
        "DELETE FROM change_event",
        "TRUNCATE sync_run CASCADE",
        "CREATE TABLE notes (note text)",
        "CREATE VIEW my_view AS SELECT 1 AS one",
        "DROP VIEW restorable_mous",
        "ALTER TABLE project ADD COLUMN extra text",
    ],
)
def test_the_reader_cannot_write_or_create(archive: ArchiveMirror, statement: str) -> None:
    refused = pytest.raises(ProgrammingError, match=r"permission denied|must be owner")
    with as_reader(archive.url) as connection, refused:
        connection.execute(text(statement))


def test_the_reader_has_only_select(archive: ArchiveMirror) -> None:
    with as_reader(archive.url) as connection:
        for relation in RELATIONS:
            for privilege in ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"):
                held = connection.execute(
                    select(func.has_table_privilege(READER, relation.name, privilege))
                ).scalar_one()
                assert held is False, (relation.name, privilege)
        creates = select(func.has_schema_privilege(READER, "public", "CREATE"))
        assert connection.execute(creates).scalar_one() is False


def test_tables_made_by_later_migrations_are_readable(mirror_db: URL) -> None:
    """Default privileges: a table the migrating user creates later is readable without a new GRANT."""
    engine = open_engine(mirror_db)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE later_table (id integer)"))
    finally:
        engine.dispose()
    with as_reader(mirror_db) as connection:
        assert connection.execute(text("SELECT count(*) FROM later_table")).scalar_one() == 0

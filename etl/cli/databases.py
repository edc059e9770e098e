"""How a command reaches its databases: opened once per command, the mirror's schema checked once.

Library functions take the Engine or Connection these yield; none of them opens a database itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from etl.database import mirror_engine, read_only_connection
from etl.settings import Settings


@contextmanager
def checked_mirror(settings: Settings, application_name: str) -> Iterator[Engine]:
    """The mirror, refused (SchemaMismatch) when its schema is not at this code's revision."""
    from etl.revision_check import at_head

    with mirror_engine(settings, application_name) as engine:
        with engine.connect() as connection:
            known_good = at_head(connection)
        if not known_good:
            from etl.migrations import require_head

            require_head(engine)  # Alembic's answer, and its words for what is wrong
        yield engine


@contextmanager
def mirror_snapshot(settings: Settings, application_name: str) -> Iterator[Connection]:
    """One read-only snapshot of a checked mirror, for commands that only read."""
    with checked_mirror(settings, application_name) as engine, read_only_connection(engine) as connection:
        yield connection

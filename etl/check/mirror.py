"""Readiness of the PostgreSQL mirror: the server, the schema's revision, the reader role, free disk."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Final

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from etl.check.items import MIRROR, Item, passed
from etl.database import read_only_connection
from etl.errors import AlmaMirrorError
from etl.logs import mask_url

READER_ROLE: Final = "almamirror_reader"

_RELATIONS_THE_READER_CANNOT_READ = text(
    "SELECT c.relname FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'v', 'm', 'p') "
    "AND NOT has_table_privilege(:role, c.oid, 'SELECT') ORDER BY c.relname"
)
_RELATIONS = text(
    "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'v', 'm', 'p')"
)


def check_mirror(engine: Engine) -> list[Item]:
    """Every mirror item; one read-only snapshot, nothing written."""
    try:
        with read_only_connection(engine) as connection:
            return [
                _server_item(connection), _revision_item(connection), _reader_item(connection),
                _disk_item(connection),
            ]
    except AlmaMirrorError as exc:
        return [Item(MIRROR, "connection", False, str(exc),
                     "check mirror.url (ALMAMIRROR_MIRROR_URL) and that the server runs")]


def _server_item(connection: Connection) -> Item:
    version = connection.execute(text("SHOW server_version")).scalar_one()
    return Item(MIRROR, "server", True, f"{mask_url(connection.engine.url)}: PostgreSQL {version}")


def _revision_item(connection: Connection) -> Item:
    from etl.migrations import heads

    expected = heads()
    current = MigrationContext.configure(connection).get_current_revision()
    where = f"at revision {current}" if current else "not migrated"
    return passed(
        current in expected, MIRROR, "schema",
        f"{where}" + (" (this almamirror's head)" if current in expected
                      else f", this almamirror expects {', '.join(expected)}"),
        "almamirror db upgrade",
    )


def _reader_item(connection: Connection) -> Item:
    exists = connection.execute(
        text("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = :role"), {"role": READER_ROLE}
    ).scalar()
    if not exists:
        return Item(MIRROR, "reader role", False, f"the role {READER_ROLE} does not exist",
                    "almamirror db upgrade (it creates the role), or have the DBA create it: "
                    f"CREATE ROLE {READER_ROLE} NOLOGIN")
    unreadable = list(connection.execute(_RELATIONS_THE_READER_CANNOT_READ, {"role": READER_ROLE}).scalars())
    relations = connection.execute(_RELATIONS).scalar_one()
    return passed(
        not unreadable, MIRROR, "reader role",
        f"{READER_ROLE} reads all {relations} tables and views" if not unreadable
        else f"{READER_ROLE} cannot read {', '.join(unreadable)}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA <the mirror's schema> TO {READER_ROLE}",
    )


def _disk_item(connection: Connection) -> Item:
    """Free space where the server keeps its data, when this machine sees that directory."""
    size = int(connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
    directory = _data_directory(connection)
    try:
        free = shutil.disk_usage(directory).free if directory else None
    except OSError:
        free = None
    if free is None:
        return Item(MIRROR, "disk", True, f"the mirror takes {_size(size)}; the server's free disk is not "
                    "visible from here")
    # A baseline sync stages every table beside the mirrored ones: about the mirror's size again.
    return passed(
        free > size, MIRROR, "disk", f"{_size(free)} free where the server keeps its data; the mirror takes "
        f"{_size(size)}", "free space on the server's data disk: a full read of the source stages about "
        "as much as the mirror holds",
    )


def _data_directory(connection: Connection) -> Path | None:
    try:
        with connection.begin_nested():  # a role that may not read the setting is refused
            value = connection.execute(text("SELECT current_setting('data_directory')")).scalar()
    except DBAPIError:
        return None
    path = Path(str(value)) if value else None
    return path if path is not None and path.exists() else None


def _size(size: int) -> str:
    amount = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if amount < 1000:
            return f"{amount:.0f} {unit}" if unit == "bytes" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{amount:.1f} TB"

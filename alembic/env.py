"""Alembic environment for the mirror.

The connection comes, in order, from ``config.attributes["connection"]`` (almamirror's own commands and
the tests pass one in), from ``sqlalchemy.url`` if set, else from almamirror's settings. Online, the
migrations run in one transaction that holds almamirror's migration lock (etl.migrations.migration_lock),
whether almamirror or a bare ``alembic upgrade`` started them.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from sqlalchemy import Connection

from alembic import context
from etl.migrations import migration_lock
from etl.mirror import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Tables in the mirror database that Alembic does not own.
FOREIGN_TABLES = frozenset({"apscheduler_jobs"})


def include_object(_obj: Any, name: str | None, type_: str, reflected: bool, _compare_to: Any) -> bool:
    return not (type_ == "table" and reflected and name in FOREIGN_TABLES)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=include_object,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or str(_settings_url())
    context.configure(
        url=url, target_metadata=metadata, literal_binds=True, include_object=include_object
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_locked(connection)
        return
    from etl.database import create_mirror_engine

    url = config.get_main_option("sqlalchemy.url") or _settings_url()
    engine = create_mirror_engine(url if not isinstance(url, str) else _parse(url), "almamirror-migrate")
    try:
        with engine.connect() as conn:
            _run_locked(conn)
    finally:
        engine.dispose()


def _run_locked(connection: Connection) -> None:
    # Inside the lock's transaction, Alembic's own begin_transaction() joins it rather than commits
    # per migration: the lock is held until the last revision is done.
    with migration_lock(connection):
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()


def _settings_url() -> Any:
    from etl.database import mirror_url
    from etl.settings import load_settings

    return mirror_url(load_settings())


def _parse(url: str) -> Any:
    from sqlalchemy.engine import make_url

    return make_url(url)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

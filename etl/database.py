"""Engines for the source and the mirror, and URLs that are safe to print."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from etl import embedded
from etl.errors import ConfigurationError, MirrorUnavailable, RetryLater, SourceUnavailable
from etl.settings import Settings

_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-z0-9+]+://[^:/@]*:)(?P<password>[^@]*)(?P<tail>@)", re.I)


def mask_url(url: str | URL | None) -> str:
    """The URL with its password replaced by ``***``; also for strings SQLAlchemy cannot parse."""
    if url is None:
        return "(embedded)"
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _PASSWORD_IN_URL.sub(r"\g<head>***\g<tail>", url)


def parse_url(url: str, setting: str) -> URL:
    try:
        return make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigurationError([f"{setting}: '{mask_url(url)}' is not a database URL ({exc})"]) from exc


def is_oracle(url: URL) -> bool:
    return url.get_backend_name() == "oracle"


def mirror_url(settings: Settings) -> URL:
    """The mirror's URL: the configured one, else the embedded server's mirror database."""
    if settings.mirror.url:
        return _with_psycopg(parse_url(settings.mirror.url, "mirror.url"))
    return embedded.database_url(settings.embedded.home, settings.embedded.mirror_database)


def source_url(settings: Settings) -> URL:
    """The ALMA source's URL: the configured one, else the embedded server's demo archive."""
    if settings.source.url:
        url = parse_url(settings.source.url, "source.url")
        return url if is_oracle(url) else _with_psycopg(url)
    return embedded.database_url(settings.embedded.home, settings.embedded.source_database)


def _with_psycopg(url: URL) -> URL:
    # psycopg 3 is the one PostgreSQL driver installed; a bare postgresql:// would ask for psycopg2.
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def create_mirror_engine(url: URL, application_name: str = "almamirror") -> Engine:
    # The application name tells an operator, in pg_stat_activity, a sync from a report.
    engine = create_engine(
        url, pool_pre_ping=True, connect_args={"application_name": application_name}
    )
    make_connections(engine, "mirror", MirrorUnavailable)
    return engine


def make_connections(
    engine: Engine, role: str, error: type[RetryLater], prepare: Callable[[Any], None] | None = None
) -> None:
    """Connect ``engine`` so that a failure says which database failed (source or mirror), as
    ``error``, and ``prepare`` sees each new connection before SQLAlchemy's first query on it."""

    @event.listens_for(engine, "do_connect")
    def connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            connection = dialect.connect(*cargs, **cparams)
        except dialect.loaded_dbapi.Error as exc:
            message = " ".join(str(exc).split())
            raise error(f"the {role} database {mask_url(engine.url)} is unavailable: {message}") from exc
        if prepare is not None:
            prepare(connection)
        return connection


def create_source_engine(url: URL, settings: Settings) -> Engine:
    """An engine for reading the source; Oracle gets a large fetch array and LOBs fetched as text."""
    options: dict[str, Any] = {"pool_pre_ping": True}
    if url.get_backend_name() == "postgresql":
        options["connect_args"] = {"application_name": "almamirror-source"}
    if is_oracle(url):
        import oracledb

        # Thin mode (the default: no Oracle client libraries) and CLOBs as str, not LOB locators:
        # a LOB locator costs one round trip per row on a remote link.
        oracledb.defaults.fetch_lobs = False
        options.update(arraysize=settings.source.arraysize, auto_convert_lobs=True)
    engine = create_engine(url, **options)
    prepare: Callable[[Any], None] | None = None
    if url.get_backend_name() == "postgresql":
        from etl.source.postgres import prepare_connection

        prepare = prepare_connection
    make_connections(engine, "source", SourceUnavailable, prepare)
    return engine


@contextmanager
def read_only_connection(engine: Engine) -> Iterator[Connection]:
    """A connection that reads one snapshot (repeatable read, read only).

    Every query of a command then agrees with the others even while a sync commits.
    """
    with engine.connect() as connection:
        connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        yield connection


@contextmanager
def mirror_engine(settings: Settings, application_name: str) -> Iterator[Engine]:
    """An engine on the mirror for the block, disposed at its end."""
    engine = create_mirror_engine(mirror_url(settings), application_name)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def source_engine(settings: Settings) -> Iterator[Engine]:
    """An engine on the ALMA source (or its stand-in) for the block, disposed at its end."""
    engine = create_source_engine(source_url(settings), settings)
    try:
        yield engine
    finally:
        engine.dispose()

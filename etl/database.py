"""Engines for the mirror and the source, from the settings (URLs are parsed here, masked by
``etl.logs.mask_url``; the source's engine is made in ``etl.source.engine``)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from etl import embedded
from etl.connections import make_connections
from etl.errors import ConfigurationError, MirrorUnavailable
from etl.logs import mask_url
from etl.settings import Settings
from etl.urls import SCHEME, is_oracle


def parse_url(url: str, setting: str) -> URL:
    if _unencoded_at(url):
        # Every parser would take the part after the first "@" for the host, and print it in errors.
        raise ConfigurationError([
            f"{setting}: '{mask_url(url)}' has an '@' in its password: write it percent-encoded, as %40"
        ])
    try:
        return make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigurationError([f"{setting}: '{mask_url(url)}' is not a database URL ({exc})"]) from exc


def _unencoded_at(url: str) -> bool:
    parts = SCHEME.search(url)
    return parts is not None and parts["rest"].partition("?")[0].count("@") > 1


def mirror_url(settings: Settings) -> URL:
    """The mirror's URL: the configured one, else the embedded server's mirror database."""
    if settings.mirror.url:
        url = parse_url(settings.mirror.url, "mirror.url")
        _require_backend(url, "mirror.url (ALMAMIRROR_MIRROR_URL)", ("postgresql",),
                         "the mirror is PostgreSQL (postgresql://…)")
        return _with_psycopg(url)
    return embedded.database_url(settings.embedded.home, settings.embedded.mirror_database)


def source_url(settings: Settings) -> URL:
    """The ALMA source's URL: the configured one, else the embedded server's demo archive."""
    if settings.source.url:
        url = parse_url(settings.source.url, "source.url")
        _require_backend(url, "source.url (ALMAMIRROR_SOURCE_URL)", ("oracle", "postgresql"),
                         "the source is ALMA's Oracle (oracle+oracledb://…) or a PostgreSQL stand-in "
                         "(postgresql://…)")
        return url if is_oracle(url) else _with_psycopg(url)
    return embedded.database_url(settings.embedded.home, settings.embedded.source_database)


# The one driver installed for each database almamirror talks to.
_DRIVERS = {"postgresql": "psycopg", "oracle": "oracledb"}


def check_configured_urls(settings: Settings) -> None:
    """Refuse a configured source or mirror URL almamirror cannot use, before either is opened."""
    if settings.mirror.url:
        mirror_url(settings)
    if settings.source.url:
        source_url(settings)


def _require_backend(url: URL, setting: str, backends: tuple[str, ...], expected: str) -> None:
    """A database or driver almamirror has no module for is a configuration error, not an import error."""
    backend = url.get_backend_name()
    if backend not in backends:
        raise ConfigurationError([f"{setting}: '{mask_url(url)}' is a {backend} URL; {expected}"])
    driver = url.get_driver_name()
    if "+" in url.drivername and driver != _DRIVERS[backend]:
        raise ConfigurationError([
            f"{setting}: '{mask_url(url)}' asks for the {driver} driver, which almamirror does not use; "
            f"write {backend}+{_DRIVERS[backend]}:// or {backend}://"
        ])


def _with_psycopg(url: URL) -> URL:
    # psycopg 3 is the one PostgreSQL driver installed; a bare postgresql:// would ask for psycopg2.
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def create_mirror_engine(url: URL, application_name: str = "almamirror") -> Engine:
    # The application name tells an operator, in pg_stat_activity, a sync from a report. The mirror
    # has no hstore column: without use_native_hstore the dialect does not look the type up on every
    # first connection, one round trip less for each command (a report makes only a handful).
    engine = create_engine(
        url, pool_pre_ping=True, use_native_hstore=False,
        connect_args={"application_name": application_name},
    )
    make_connections(engine, "mirror", MirrorUnavailable)
    return engine


def create_source_engine(url: URL, settings: Settings) -> Engine:
    """An engine for reading the source with the configured fetch array (``etl.source.engine``)."""
    from etl.source.engine import make_source_engine

    return make_source_engine(url, settings.source.arraysize)


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
        dispose(engine)


@contextmanager
def source_engine(settings: Settings) -> Iterator[Engine]:
    """An engine on the ALMA source (or its stand-in) for the block, disposed at its end."""
    engine = create_source_engine(source_url(settings), settings)
    try:
        yield engine
    finally:
        dispose(engine)


def dispose(engine: Engine) -> None:
    """Close the engine's connections and let its dialect go.

    PostgreSQL's dialect keeps its reflection queries in caches of its class, keyed by the dialect:
    each engine of a long-lived process (the scheduler's, a sync a night) would stay there with
    them, up to 128 of each. Emptied, they are made again by the next engine that reflects.
    """
    engine.dispose()
    for cls in type(engine.dialect).__mro__:
        for attribute in vars(cls).values():
            if isinstance(attribute, functools._lru_cache_wrapper):
                attribute.cache_clear()

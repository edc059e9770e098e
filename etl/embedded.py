"""The embedded PostgreSQL: started on demand under ``ALMAMIRROR_HOME`` when no URL is configured.

``pgserver`` ships the server binaries and shares one server between processes: each process registers
itself, and the last one to exit stops the server. A server is reached over a Unix socket in its data
directory, so it never takes a TCP port.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from etl.errors import ConfigurationError, MirrorUnavailable

log = logging.getLogger(__name__)

_servers: dict[Path, Any] = {}


def data_directory(home: Path) -> Path:
    return home / "pgdata"


def start_server(home: Path) -> Any:
    """Start (or join) the embedded server for ``home``; it stays up while this process lives."""
    pgdata = data_directory(home).resolve()
    if pgdata in _servers:
        return _servers[pgdata]
    _prepare_home(home, pgdata)
    # pgserver warns at import when XDG_RUNTIME_DIR is unset, and narrates every step at INFO.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    watch = _StartWatch()
    try:
        with watch:
            server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    except Exception as exc:  # pgserver raises assorted subprocess and OS errors
        raise MirrorUnavailable(
            f"cannot start the embedded PostgreSQL in {pgdata}: {exc} (see {pgdata / 'log'})"
        ) from exc
    if watch.started:
        log.info("embedded.started pgdata=%s", pgdata)
    else:
        log.debug("embedded.joined pgdata=%s", pgdata)
    _servers[pgdata] = server
    return server


def _prepare_home(home: Path, pgdata: Path) -> None:
    """``home`` must be a directory this process can write in: a configuration problem otherwise."""
    setting = f"embedded.home (ALMAMIRROR_HOME) {home}"
    if home.exists() and not home.is_dir():
        raise ConfigurationError([f"{setting}: is a file, not a directory"])
    # pgserver creates pgdata with exist_ok=False: two processes starting a fresh home at once would
    # race there, and the loser would fail with "File exists". Created here, it exists for both.
    try:
        pgdata.mkdir(parents=True, exist_ok=True)
        probe = Path(tempfile.mkdtemp(prefix=".almamirror-probe-", dir=home))
    except OSError as exc:
        raise ConfigurationError([f"{setting}: cannot write there ({exc.strerror or exc})"]) from None
    probe.rmdir()


class _StartWatch(logging.Handler):
    """Tells whether ``pgserver.get_server`` started the server or joined one already running.

    pgserver narrates at INFO and runs ``pg_ctl`` only to start one; while watched, its lines come
    here and nowhere else.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.started = False
        self.logger = logging.getLogger("pgserver")

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("running pg_ctl"):
            self.started = True

    def __enter__(self) -> _StartWatch:
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self.logger.addHandler(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.propagate = True
        self.logger.setLevel(logging.WARNING)


def database_url(home: Path, database: str) -> URL:
    """SQLAlchemy URL of ``database`` on the embedded server, creating the database if missing."""
    from etl.embedded_serve import served_socket

    socket = served_socket(home)
    if socket is not None:  # a 'db serve' keeps it up: no need to load pgserver and register
        admin_uri = _socket_uri(socket, "postgres")
        ensure_database(admin_uri, database)
        return make_url(_socket_uri(socket, database)).set(drivername="postgresql+psycopg")
    server = start_server(home)
    admin_uri = server.get_uri("postgres")
    ensure_database(admin_uri, database)
    return make_url(server.get_uri(database)).set(drivername="postgresql+psycopg")


def _socket_uri(socket_dir: Path, database: str) -> str:
    # The form pgserver's get_uri gives, so both paths print the same URL.
    return f"postgresql://postgres:@/{database}?host={socket_dir}"


def ensure_database(admin_uri: str, database: str) -> None:
    """Create ``database`` if it does not exist; safe when several processes race to create it."""
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if exists:
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            log.info("embedded.database_created database=%s", database)
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            pass  # another process created it between our check and our CREATE

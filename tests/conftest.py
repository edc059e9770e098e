"""Shared fixtures: a real PostgreSQL for every test.

By default the tests start their own embedded PostgreSQL (pgserver) in a temporary directory; set
``ALMAMIRROR_TEST_DATABASE_URL`` to an admin URL of a running server (one that may CREATE DATABASE),
e.g. ``postgresql://postgres@localhost/postgres``, to use that instead. Every database a test run creates
is named ``amt_<pid>_<name>`` and dropped at the end (on the embedded server, which is the run's own,
the server is stopped and its data directory deleted instead).

``./run test`` runs the suite on parallel workers (pytest-xdist, ``--dist loadgroup``). Each worker is a
process of its own with its own basetemp: it starts its own embedded server (or, on a configured server,
its own ``amt_<pid>_`` databases) and builds its own templates, so no worker sees another's databases.
Tests are kept on one worker where sharing or timing asks for it (``pytest_collection_modifyitems``).
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url

from etl import embedded
from etl.database import create_mirror_engine
from etl.settings import Settings, load_settings
from tests import scratch

TEST_DATABASE_ENV = "ALMAMIRROR_TEST_DATABASE_URL"
READER_ROLE = "almamirror_reader"
# The xdist group of the tests that measure wall time or memory, or that signal processes: they run one
# after another on a single worker, never two of them at once.
ALONE_GROUP = "alone"
# Session fixtures that only some tests use and that take long to build: their tests share one worker,
# so the fixture is built once in the run rather than once per worker.
SHARED_SESSION_FIXTURES = ("medium_source",)
MEMORY_BASETEMP = pytest.StashKey[Path]()


@pytest.hookimpl(tryfirst=True)  # before the tmp_path plugin reads --basetemp
def pytest_configure(config: pytest.Config) -> None:
    # The run's temporary files in memory where the machine has room (tests/scratch.py says why);
    # xdist's workers get directories inside the controller's basetemp.
    # The CLI's processes the tests start (hundreds) each compiled almamirror from source where the
    # environment forbids bytecode caches (about 0.1 s of 54 modules for one exporter); written once,
    # they are read by every later process, as an installed wheel's are.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        directory = scratch.run_directory()
        if directory is not None:
            config.option.basetemp = str(directory)
            config.stash[MEMORY_BASETEMP] = directory
    # xdist hands out its work units (a group, or a test without one) biggest group first by default;
    # in collection order instead, the order below, the longest start first and no worker is left with
    # one of them at the end while the other has nothing to do.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_sessionstart(session: pytest.Session) -> None:
    # A worker holds hundreds of thousands of long-lived objects (the modules, SQLAlchemy's metadata,
    # hypothesis' strategies) that every collection of the oldest generation walked again; frozen
    # after the imports, and with collections ten times rarer, tests/etl/load and the report commands'
    # tests (one worker, alternating twice at load 1.1) took 46.1 s and 43.7 s (30.2 s and 28.3 s of
    # user CPU) against 52.3 s and 49.5 s (35.7 s and 33.5 s).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    directory = session.config.stash.get(MEMORY_BASETEMP, None)
    if directory is not None and exitstatus == 0:
        shutil.rmtree(directory, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    directory = terminalreporter.config.stash.get(MEMORY_BASETEMP, None)
    if directory is not None and exitstatus != 0:
        terminalreporter.write_line(f"the run's temporary files are kept in {directory}")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each test its xdist group (``--dist loadgroup``); a test without one goes to any worker.

    The tests marked ``long`` come first, and with them their groups (a group is handed out where its
    first test stands), longest first: a group that holds one before a test alone; the others keep
    their order.
    """
    groups = {item.nodeid: _xdist_group(item) for item in items}
    for item in items:
        group = groups[item.nodeid]
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))

    def start(item: pytest.Item) -> int:
        if item.get_closest_marker("long") is None:
            return 2
        return 0 if groups[item.nodeid] is not None else 1

    items.sort(key=start)


def _xdist_group(item: pytest.Item) -> str | None:
    if item.get_closest_marker("alone") is not None:
        return ALONE_GROUP
    fixtures = getattr(item, "fixturenames", ())
    shared = [name for name in SHARED_SESSION_FIXTURES if name in fixtures]
    if shared:
        return shared[0]
    # A module-scoped fixture (a read-only mirror, a built wheel, a stand-in process) is built once per
    # worker that runs the module's tests, and again each time a worker comes back to the module: keep
    # such a module's tests together.
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs if info is not None else {}
    if any(defs and defs[-1].scope == "module" for defs in definitions.values()):
        return item.nodeid.split("::", 1)[0]
    return None


class DatabaseFactory:
    """Creates (and at the end drops) databases on the test server, optionally from a template."""

    def __init__(self, admin_url: URL, in_memory: bool = False) -> None:
        self.admin_url = admin_url
        # In memory a test's database is dropped when the test ends (0.03 s), so that the run's
        # hundreds of clones never hold gigabytes of memory at once; on disk a drop costs more than
        # leaving the database to the end of the run.
        self.in_memory = in_memory
        self.prefix = f"amt_{os.getpid()}_"
        self.created: list[str] = []
        with self._admin() as conn:
            # Roles are cluster-wide: on a shared server, remove the reader role only if we made it.
            self.reader_role_existed = bool(
                conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER_ROLE,)).fetchone()
            )
            version = conn.info.server_version
        # A clone copied file by file (PostgreSQL 15+) rather than written block by block through the
        # WAL: about half the time, and no template's worth of WAL per test.
        self.strategy = sql.SQL(" STRATEGY FILE_COPY" if version >= 150000 else "")

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        url = self.admin_url.set(drivername="postgresql")
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)

    def url(self, name: str) -> URL:
        return self.admin_url.set(database=self.prefix + name, drivername="postgresql+psycopg")

    def create(self, name: str, template: str | None = None) -> URL:
        """A new empty database (or a copy of ``template``, a name given to this factory earlier)."""
        full = self.prefix + name
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(full)))
            if template is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(full)))
            else:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}{}").format(
                        sql.Identifier(full), sql.Identifier(self.prefix + template), self.strategy
                    )
                )
        if full not in self.created:
            self.created.append(full)
        return self.url(name)

    def discard(self, name: str) -> None:
        """A test's own database, no longer needed: dropped now where that keeps memory bounded."""
        if self.in_memory:
            self.drop(name)

    def drop(self, name: str) -> None:
        full = self.prefix + name
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(full)))

    def drop_all(self) -> None:
        with self._admin() as conn:
            for full in reversed(self.created):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(full))
                )
            if not self.reader_role_existed:
                # Another run's databases may still grant it something; then it stays.
                with contextlib.suppress(psycopg.errors.DependentObjectsStillExist):
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(READER_ROLE)))


@pytest.fixture(scope="session")
def test_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ALMAMIRROR_HOME for the test run (embedded server data, when it is used)."""
    return tmp_path_factory.mktemp("almamirror-home")


@pytest.fixture(scope="session")
def admin_url(test_home: Path) -> URL:
    configured = os.environ.get(TEST_DATABASE_ENV)
    if configured:
        return make_url(configured)
    server = embedded.start_server(test_home)
    url = make_url(server.get_uri("postgres")).set(drivername="postgresql+psycopg")
    _settings_for_a_throwaway_server(url)
    return url


def _settings_for_a_throwaway_server(admin_url: URL) -> None:
    """The run's own server, deleted at its end, need not survive a crash of the machine nor vacuum.

    Without fsync its checkpoints (one each time the WAL of the databases cloned from the templates
    fills max_wal_size) and its commits wait for no disk; what a test sees of the server, its
    transactions, locks and the survival of a killed backend's committed work, is unchanged.
    """
    with psycopg.connect(admin_url.set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET fsync = off")
        conn.execute("ALTER SYSTEM SET full_page_writes = off")
        # The run creates and drops a database for most tests; the autovacuum launcher visited each
        # one, and its workers analysed tables a test was about to drop, on the cores the tests need.
        # The sync analyses what it changes itself (etl/steps/merge.py), which is what tests rely on.
        conn.execute("ALTER SYSTEM SET autovacuum = off")
        conn.execute("SELECT pg_reload_conf()")


@pytest.fixture(scope="session")
def databases(admin_url: URL, test_home: Path) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(admin_url, in_memory=test_home.resolve().is_relative_to(scratch.MEMORY))
    yield factory
    if os.environ.get(TEST_DATABASE_ENV):
        factory.drop_all()  # a server others use: left as it was found
    else:
        discard_embedded_server(test_home)


def discard_embedded_server(home: Path) -> None:
    """Stop this run's own server and delete its data directory, every database in it at once.

    Dropping the run's hundreds of databases one at a time took minutes at the end of each run; the
    server is this run's alone, in its basetemp, so nothing in it needs to outlive the run.
    """
    server = embedded.start_server(home)  # the one admin_url started: this process already holds it
    _stop_at_once(embedded.data_directory(home))
    server.cleanup_mode = "delete"
    server.cleanup()  # the server is down: only deletes its data directory


def _stop_at_once(pgdata: Path) -> None:
    """An immediate shutdown (SIGQUIT): no shutdown checkpoint writes out data about to be deleted."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().split()[0])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + 60
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def settings_for(
    source_url: URL | None, mirror_url: URL | None, home: Path, extra: dict[str, str] | None = None
) -> Settings:
    """Settings as a user would get them from the environment, pointed at test databases."""
    environ = {"ALMAMIRROR_HOME": str(home)}
    if source_url is not None:
        environ["ALMAMIRROR_SOURCE_URL"] = source_url.render_as_string(hide_password=False)
    if mirror_url is not None:
        environ["ALMAMIRROR_MIRROR_URL"] = mirror_url.render_as_string(hide_password=False)
    environ.update(extra or {})
    return load_settings(environ=environ)


def cli_environment(
    monkeypatch: pytest.MonkeyPatch, source_url: URL | None, mirror_url: URL | None, home: Path
) -> None:
    """Point an in-process CLI call (which reads os.environ) at test databases."""
    monkeypatch.delenv("ALMAMIRROR_CONFIG", raising=False)
    monkeypatch.setenv("ALMAMIRROR_HOME", str(home))
    if source_url is not None:
        monkeypatch.setenv("ALMAMIRROR_SOURCE_URL", source_url.render_as_string(hide_password=False))
    if mirror_url is not None:
        monkeypatch.setenv("ALMAMIRROR_MIRROR_URL", mirror_url.render_as_string(hide_password=False))


def open_engine(url: URL) -> Engine:
    return create_mirror_engine(url, application_name="almamirror-tests")


@pytest.fixture(scope="session")
def demo_source(databases: DatabaseFactory, test_home: Path) -> URL:
    """The stand-in source, created and filled with the ``small`` demo archive once per test run.

    Tests must not write to it; a test that changes the source works on a copy:
    ``databases.create("my_source", template="source_small")``.
    """
    from etl.database import create_source_engine
    from etl.demo.fill import fill_demo_archive
    from etl.source.contract import CONTRACT

    url = databases.create("source_small")
    settings = settings_for(url, None, test_home)
    engine = create_source_engine(url, settings)
    try:
        fill_demo_archive(engine, CONTRACT, settings.source.schema, scale="small")
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def migrated_template(databases: DatabaseFactory) -> str:
    """A database name: the mirror schema at head, no rows. Clone it, never write to it."""
    from etl import migrations

    url = databases.create("mirror_head")
    engine = open_engine(url)
    try:
        migrations.upgrade(engine)
    finally:
        engine.dispose()
    return "mirror_head"


@pytest.fixture(scope="session")
def synced_template(
    databases: DatabaseFactory, migrated_template: str, demo_source: URL, test_home: Path
) -> str:
    """A database name: the mirror after one (baseline) sync of the small demo archive.

    The sync reads each calibration's record from the stand-in NGAS (a process of its own), as a site
    with ``[archive] ngas_urls`` does.
    """
    from etl.demo.ngas_process import start_stand_in
    from tests.helpers import sync

    url = databases.create("mirror_synced", template=migrated_template)
    environment = {
        "ALMAMIRROR_SOURCE_URL": demo_source.render_as_string(hide_password=False),
        "ALMAMIRROR_HOME": str(test_home), "ALMAMIRROR_LOG_LEVEL": "WARNING",
    }
    with start_stand_in(environment) as ngas:
        sync(demo_source, url, test_home, ALMAMIRROR_NGAS_URL=ngas.url)
    return "mirror_synced"


@pytest.fixture
def mirror_db(
    databases: DatabaseFactory, migrated_template: str, request: pytest.FixtureRequest
) -> Iterator[URL]:
    """A fresh, empty, migrated mirror for this test."""
    yield from _test_database(databases, f"m_{_test_slug(request)}", migrated_template)


@pytest.fixture
def synced_mirror(
    databases: DatabaseFactory, synced_template: str, request: pytest.FixtureRequest
) -> Iterator[URL]:
    """A fresh copy of the mirror synced from the small demo archive, for this test to change."""
    yield from _test_database(databases, f"s_{_test_slug(request)}", synced_template)


@pytest.fixture
def source_copy(
    databases: DatabaseFactory, demo_source: URL, request: pytest.FixtureRequest
) -> Iterator[URL]:
    """A fresh copy of the small demo source, for this test to change."""
    yield from _test_database(databases, f"src_{_test_slug(request)}", "source_small")


def _test_database(databases: DatabaseFactory, name: str, template: str) -> Iterator[URL]:
    yield databases.create(name, template=template)
    databases.discard(name)


def _test_slug(request: pytest.FixtureRequest) -> str:
    # Database names are limited to 63 bytes; keep them unique per test and readable in pg_stat_activity.
    import hashlib

    return hashlib.blake2s(request.node.nodeid.encode()).hexdigest()[:10]

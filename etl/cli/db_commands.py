"""``almamirror db …``: the mirror's schema (Alembic) and a psql session on it."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl.cli.confirm import confirm
from etl.errors import StopAndFix, UsageError
from etl.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

# The role revision 0002 grants SELECT on the mirror's tables and views (etl.reader_login).
READER_ROLE = "almamirror_reader"
# The reporting role's password, when the server asks for one (else ~/.pgpass, or none: trust).
READER_PASSWORD_ENV = "ALMAMIRROR_READER_PASSWORD"  # noqa: S105 (a variable name, not a password)
# The libpq service (in a private service file) that carries a psql run's secret connection parameters.
PSQL_SERVICE = "almamirror"


def register(subparsers: Any) -> None:
    db = subparsers.add_parser(
        "db", help="migrate and inspect the mirror database",
        description="Manage the mirror's schema with Alembic, and connect to it.",
    )
    actions = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    upgrade = actions.add_parser("upgrade", help="migrate the mirror to a revision (default: head)")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(run=run_upgrade)
    downgrade = actions.add_parser(
        "downgrade", help="migrate the mirror down to a revision ('base' drops every table)",
        description="Migrate the mirror down to REVISION. 'base' drops every table, the sync history "
        "and every change event: it asks first on a terminal, and needs --yes otherwise.",
    )
    downgrade.add_argument("revision")
    downgrade.add_argument(
        "--yes", action="store_true", help="drop everything without asking (downgrade base)"
    )
    downgrade.set_defaults(run=run_downgrade)
    current = actions.add_parser("current", help="print the mirror's revision and the expected head")
    current.set_defaults(run=run_current)
    check = actions.add_parser(
        "check", help="fail when the models and the migrated schema differ, or there is more than one head"
    )
    check.set_defaults(run=run_check)
    url = actions.add_parser(
        "url", help="print the mirror's database URL (password masked)",
        description="Print the mirror's database URL. On the embedded server it starts 'db serve "
        "--detach' first when nothing serves it, so the URL still works after this command exits.",
    )
    url.add_argument(
        "--psql", action="store_true",
        help="a URL psql and libpq accept (postgresql://, no password: give it in PGPASSWORD or ~/.pgpass)",
    )
    url.set_defaults(run=run_url)
    psql = actions.add_parser(
        "psql", help="open psql on the mirror (the embedded server's own psql when embedded)",
        description="Open psql on the mirror. Extra arguments go to psql, e.g. "
        "almamirror db psql -- -c 'select * from restorable_mous limit 5'",
    )
    psql.add_argument(
        "--read-only", action="store_true",
        help=f"log in as the reporting role {READER_ROLE} (SELECT on the mirror's tables and views, "
        "nothing else), in read-only transactions; its password, if the server asks one, comes from "
        f"{READER_PASSWORD_ENV} or ~/.pgpass",
    )
    psql.add_argument("psql_args", nargs=argparse.REMAINDER)
    psql.set_defaults(run=run_psql)
    from etl.cli import serve_commands

    serve_commands.register(actions)


def _engine(settings: Settings) -> AbstractContextManager[Engine]:
    """An engine on the mirror for the db commands' block, disposed at its end."""
    from etl.database import mirror_engine

    return mirror_engine(settings, "almamirror-migrate")


def run_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    return _migrate(args, settings, "upgrade", args.revision)


def run_downgrade(args: argparse.Namespace, settings: Settings) -> int:
    if args.revision == "base" and not args.yes:
        _confirm_drop_everything()
    return _migrate(args, settings, "downgrade", args.revision)


def _confirm_drop_everything() -> None:
    """Ask on a terminal; without one, refuse and name --yes (a script must say it means it)."""
    question = (
        "db downgrade base drops every table of the mirror: its copy of the ALMA tables, the sync "
        "history and every change event."
    )
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError(f"{question} Pass --yes to do it")
    print(f"{question} Type 'yes' to go on: ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer != "yes":
        raise StopAndFix("db downgrade base: not confirmed; nothing was changed")


def _migrate(args: argparse.Namespace, settings: Settings, direction: str, revision: str) -> int:
    from etl import migrations

    migrations.check_revision(revision)  # a typo is refused before the database is reached
    with _engine(settings) as engine:
        getattr(migrations, direction)(engine, revision)
        revision_now = migrations.current_revision(engine) or "base"
        confirm(args, f"db {direction}: the mirror is at revision {revision_now}")
    return 0


def run_current(_args: argparse.Namespace, settings: Settings) -> int:
    from etl import migrations

    with _engine(settings) as engine:
        current = migrations.current_revision(engine)
    heads = migrations.heads()
    print(f"current: {current or 'base (not migrated)'}; head: {', '.join(heads)}")
    return 0 if current in heads else 1


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    from etl import migrations

    heads = migrations.heads()
    if len(heads) != 1:
        raise StopAndFix(f"the migrations have {len(heads)} heads ({', '.join(heads)}); merge them")
    with _engine(settings) as engine:
        migrations.require_head(engine)
        migrations.check_drift(engine)
    confirm(args, f"db check: one head ({heads[0]}), the mirror is at it, models and migrations agree")
    return 0


def run_url(args: argparse.Namespace, settings: Settings) -> int:
    from etl.database import mirror_url
    from etl.logs import mask_url

    if not settings.mirror.url:
        _keep_embedded_up(args, settings)
    url = mirror_url(settings)
    print(psql_url(url) if args.psql else mask_url(url))
    return 0


def _keep_embedded_up(args: argparse.Namespace, settings: Settings) -> None:
    """The embedded server stops with its last almamirror process: a URL printed for psql must
    outlive this command, so a 'db serve' keeps the server up (started here if none is)."""
    from etl.cli.serve_commands import DEFAULT_IDLE_MINUTES
    from etl.embedded_serve import detach, serving_pid

    home = settings.embedded.home
    if serving_pid(home) is not None:
        return
    pid = detach(home, DEFAULT_IDLE_MINUTES, args.config)
    if not getattr(args, "quiet", False):
        print(
            f"db url: process {pid} keeps the embedded server up until {DEFAULT_IDLE_MINUTES:g} min "
            "without a client ('almamirror db stop' ends it sooner)", file=sys.stderr,
        )


def psql_url(url: Any) -> str:
    """The mirror's URL as libpq reads it: ``postgresql://``, no driver, no password, no secret query
    parameter such as ``sslpassword=`` (never printed)."""
    from etl.urls import secret_query_names

    plain = url.set(drivername="postgresql")._replace(password=None)
    text: str = plain.difference_update_query(secret_query_names(url)).render_as_string(hide_password=False)
    return text


def run_psql(args: argparse.Namespace, settings: Settings) -> int:
    from etl.database import mirror_url
    from etl.urls import secret_query_names

    url = mirror_url(settings).set(drivername="postgresql")
    password = url.password if url.password is not None else url.query.get("password")
    if args.read_only:
        url, password = _reader_login(settings, url), os.environ.get(READER_PASSWORD_ENV)
    # No secret goes on psql's command line, where every local user can read it (ps): the password
    # goes to a private password file, the other secret parameters (sslpassword=, …) to a private
    # service file.
    hidden = [name for name in secret_query_names(url) if name != "password"]
    secrets = {name: _one_value(url.query[name]) for name in hidden}
    url = url._replace(password=None).difference_update_query(["password", *hidden])  # set() ignores None
    if secrets:
        if "service" in url.query:  # its own service file would be replaced by ours
            raise UsageError(
                f"the mirror URL names a libpq service and gives {', '.join(hidden)}: put that in the "
                "service's definition instead, so that db psql need not put it on psql's command line"
            )
        url = url.update_query_dict({"service": PSQL_SERVICE})
    executable = _psql_executable(settings)
    extra = [arg for arg in args.psql_args if arg != "--"]
    command = [str(executable), url.render_as_string(hide_password=False), *extra]
    with _passfile(password if isinstance(password, str) else None) as passfile, \
            _service_file(secrets) as service:
        environment = {**os.environ, "PGAPPNAME": "almamirror-psql", **passfile, **service}
        if args.read_only:
            environment["PGOPTIONS"] = read_only_options(environment.get("PGOPTIONS"))
        # A child, not exec: the embedded server stops when its last almamirror process exits, so
        # this process stays alive while psql uses the server.
        return subprocess.call(command, env=environment)


def _reader_login(settings: Settings, url: Any) -> Any:
    """The URL that logs in as the reporting role, allowed to log in first if it was not."""
    from etl.reader_login import enable_reader_login

    with _engine(settings) as engine:
        enable_reader_login(engine)
    return url.set(username=READER_ROLE)


def read_only_options(existing: str | None) -> str:
    """libpq startup options: every transaction read only (a courtesy: the login cannot write anyway)."""
    options = "-c default_transaction_read_only=on"
    return f"{existing} {options}" if existing else options


@contextmanager
def _passfile(password: str | None) -> Iterator[dict[str, str]]:
    """A private libpq password file for one psql run (PGPASSFILE), removed afterwards."""
    if not password:
        yield {}
        return
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    # mkstemp creates the file readable by its owner only, as libpq insists for a password file.
    handle, name = tempfile.mkstemp(prefix="almamirror-psql-", suffix=".pgpass")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as passfile:
            passfile.write(f"*:*:*:*:{escaped}\n")
        yield {"PGPASSFILE": name}
    finally:
        Path(name).unlink(missing_ok=True)


def _one_value(value: str | tuple[str, ...]) -> str:
    if isinstance(value, tuple):
        raise UsageError("the mirror URL gives a secret parameter more than once")
    return value


@contextmanager
def _service_file(secrets: dict[str, str]) -> Iterator[dict[str, str]]:
    """A private libpq service file (PGSERVICEFILE) holding ``secrets`` as the defaults of the service
    PSQL_SERVICE, which the URL names, for one psql run; removed afterwards."""
    if not secrets:
        yield {}
        return
    if any("\n" in value or "\r" in value for value in secrets.values()):
        raise UsageError("a secret parameter of the mirror URL holds a line break, which libpq cannot read")
    handle, name = tempfile.mkstemp(prefix="almamirror-psql-", suffix=".pg_service.conf")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as service:
            service.write(f"[{PSQL_SERVICE}]\n")
            service.writelines(f"{key}={value}\n" for key, value in secrets.items())
        yield {"PGSERVICEFILE": name}
    finally:
        Path(name).unlink(missing_ok=True)


def _psql_executable(settings: Settings) -> Path:
    bundled = None
    if not settings.mirror.url:
        import pgserver._commands

        bundled = Path(pgserver._commands.POSTGRES_BIN_PATH) / "psql"
    if bundled is not None and bundled.exists():
        return bundled
    found = shutil.which("psql")
    if found is None:
        raise StopAndFix("psql is not installed; install the PostgreSQL client or use the embedded mirror")
    return Path(found)

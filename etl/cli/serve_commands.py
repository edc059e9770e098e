"""``almamirror db serve`` and ``db stop``: the embedded server kept up while someone works."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from etl.cli.confirm import confirm, quiet
from etl.errors import UsageError
from etl.settings import Settings

DEFAULT_IDLE_MINUTES = 30.0


def register(actions: Any) -> None:
    serve = actions.add_parser(
        "serve", help="keep the embedded PostgreSQL up between commands (reports answer at once)",
        description="Start the embedded PostgreSQL (or join it) and keep it up until Ctrl-C, "
        "'almamirror db stop', or --idle minutes without a client. Meanwhile every command, and psql "
        "on 'almamirror db url --psql', uses the running server instead of starting and stopping "
        "one. --detach returns at once and leaves it running in the background.",
    )
    serve.add_argument(
        "--idle", type=float, default=DEFAULT_IDLE_MINUTES, metavar="MINUTES",
        help=f"stop after this many minutes without a client (default: {DEFAULT_IDLE_MINUTES:g}; 0: never)",
    )
    serve.add_argument(
        "--detach", action="store_true",
        help="run in the background (its lines go to serve.log in the embedded home) and return",
    )
    serve.set_defaults(run=run_serve)
    stop = actions.add_parser("stop", help="stop a 'db serve' (the server stops once no command uses it)")
    stop.set_defaults(run=run_stop)


def _embedded_only(settings: Settings, what: str) -> None:
    if settings.mirror.url:
        raise UsageError(f"db {what} is for the embedded server; the mirror is configured (mirror.url)")


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    from etl.cli.db_commands import psql_url
    from etl.database import mirror_url
    from etl.embedded_serve import detach, serve

    _embedded_only(settings, "serve")
    if args.idle < 0:
        raise UsageError(f"--idle must be 0 (never) or more minutes, not {args.idle:g}")
    home = settings.embedded.home
    if args.detach:
        pid = detach(home, args.idle, args.config)
        confirm(args, f"db serve: process {pid} keeps the embedded server up ({_until(args.idle)})",
                psql_url(mirror_url(settings)))
        return 0

    def ready(_admin_uri: str) -> None:
        url = psql_url(mirror_url(settings))
        if not quiet(args):
            print(f"db serve: the embedded server is up at {url} ({_until(args.idle)}; Ctrl-C stops it)",
                  flush=True)

    why = serve(home, args.idle, ready)
    if not quiet(args):
        print(f"db serve: stopped ({why})", file=sys.stderr)
    return 0


def _until(idle: float) -> str:
    return "until 'almamirror db stop'" if idle == 0 else f"until {idle:g} min without a client"


def run_stop(args: argparse.Namespace, settings: Settings) -> int:
    from etl.embedded_serve import stop_serving

    _embedded_only(settings, "stop")
    pid = stop_serving(settings.embedded.home)
    confirm(args, "db stop: no 'db serve' was running" if pid is None else f"db stop: process {pid} stopped")
    return 0

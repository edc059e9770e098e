"""The ``almamirror`` command line: thin commands that parse arguments and call one library function.

Exit codes: 0 success (also when a report is empty), 1 failure or refusal, 2 bad usage or input,
3 another sync is running, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from etl.errors import AlmaMirrorError, ConfigurationError
from etl.logs import configure_logging
from etl.settings import LOG_LEVELS, load_settings

log = logging.getLogger("almamirror")


def build_parser() -> argparse.ArgumentParser:
    from etl.cli import commands

    parser = argparse.ArgumentParser(
        prog="almamirror",
        description=(
            "Mirror ALMA archive metadata into PostgreSQL, report which member OUSes can be "
            "restored, and write their restore PPRs."
        ),
        epilog="Run 'almamirror COMMAND --help' for a command's options. Documentation: README.md, docs/.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    parser.add_argument(
        "--config", metavar="FILE", help="settings file overriding config/almamirror.toml "
        "(default: $ALMAMIRROR_CONFIG)",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "--log-level", choices=LOG_LEVELS, type=str.upper, help="log level (default from settings)"
    )
    verbosity.add_argument("-v", "--verbose", action="store_true", help="same as --log-level DEBUG")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="same as --log-level WARNING")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.register_all(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        level = "DEBUG" if args.verbose else "WARNING" if args.quiet else args.log_level
        configure_logging(level or settings.log_level)
        status: int = args.run(args, settings)
    except ConfigurationError as exc:
        for problem in exc.problems:
            print(f"almamirror: configuration: {problem}", file=sys.stderr)
        return exc.exit_code
    except AlmaMirrorError as exc:
        print(f"almamirror: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("almamirror: interrupted", file=sys.stderr)
        return 130
    except DBAPIError as exc:  # a database error no layer classified: usually one that is down
        kind = "unavailable" if isinstance(exc, OperationalError | InterfaceError) else "error"
        print(f"almamirror: database {kind}: {_driver_message(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug, not a user error: one line, the traceback in the debug log
        log.debug("internal error", exc_info=True)
        print(
            f"almamirror: internal error: {type(exc).__name__}: {_one_line(str(exc))[:300]} "
            "(run with --verbose for the traceback)",
            file=sys.stderr,
        )
        return 1
    return status


def installed_version() -> str:
    """The version of the installed almamirror distribution (its package metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("almamirror")
    except PackageNotFoundError:  # the source tree put on sys.path by hand, never installed
        return "unknown (not installed)"


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _driver_message(exc: DBAPIError) -> str:
    """The driver's own words, without the SQL and documentation link SQLAlchemy appends."""
    return _one_line(str(exc.orig) if exc.orig is not None else str(exc))

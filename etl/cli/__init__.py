"""The ``almamirror`` command line: thin commands that parse arguments and call one library function.

Exit codes: 0 success (also when a report is empty), 1 failure or refusal, 2 bad usage or input,
3 another sync is running, 130 interrupted (Ctrl-C, SIGTERM), 141 the reader of stdout went away
(``almamirror report … | head``).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeGuard

from etl.errors import AlmaMirrorError, ConfigurationError
from etl.logs import configure_logging
from etl.settings import LOG_LEVELS, load_settings

if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError

log = logging.getLogger("almamirror")


EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool whose reader went away


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line that says where help is (subcommands inherit it)."""

    def error(self, message: str) -> NoReturn:
        hint = _did_you_mean_choice(message)
        self.exit(EXIT_USAGE, f"{self.prog}: {_one_line(message)}{hint} (run '{self.prog} --help')\n")


_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<typed>[^']*)' \(choose from (?P<choices>.*)\)", re.DOTALL)


def _did_you_mean_choice(message: str) -> str:
    """'; did you mean 'report'?' for a mistyped command or choice, else ''."""
    import difflib

    found = _INVALID_CHOICE.search(message)
    if found is None:
        return ""
    choices = re.findall(r"'([^']*)'", found["choices"])
    nearest = difflib.get_close_matches(found["typed"], choices, n=1, cutoff=0.6)
    return f"; did you mean '{nearest[0]}'?" if nearest else ""


def _did_you_mean_option(parser: argparse.ArgumentParser, prog: str, unknown: Sequence[str]) -> str:
    """'; did you mean --limit?' for a mistyped option of the command that was run, else ''."""
    import difflib

    command = next((p for p in [parser, *_subcommand_parsers(parser)] if p.prog == prog), parser)
    options = [option for action in command._actions for option in action.option_strings]
    for word in unknown:
        if word.startswith("--"):
            nearest = difflib.get_close_matches(word.split("=", 1)[0], options, n=1, cutoff=0.75)
            if nearest:
                return f"; did you mean {nearest[0]}?"
    return ""


def build_parser() -> argparse.ArgumentParser:
    from etl.cli import commands

    parser = Parser(
        prog="almamirror",
        description=(
            "Mirror ALMA archive metadata into PostgreSQL, report which member OUSes can be "
            "restored, and write their restore PPRs."
        ),
        epilog="Run 'almamirror COMMAND --help' for a command's options. Documentation: README.md, docs/.",
    )
    parser.add_argument(
        "-V", "--version", action=_VersionAction, help="print the installed version and exit"
    )
    add_global_options(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.register_all(subparsers)
    for subcommand in _subcommand_parsers(parser):
        # Also after the command (almamirror sync -q): defaults suppressed, so the top level's stand.
        add_global_options(subcommand, default=argparse.SUPPRESS)
        subcommand.set_defaults(parser_prog=subcommand.prog)  # the deepest command's wins
    return parser


class _VersionAction(argparse.Action):
    """--version, reading the package metadata only when asked (not on every command line)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> NoReturn:
        print(f"{parser.prog} {installed_version()}")
        parser.exit()


def add_global_options(parser: argparse.ArgumentParser, default: Any = None) -> None:
    flag_default = False if default is None else default
    group = parser.add_argument_group("global options (before or after the command)")
    group.add_argument(
        "--config", metavar="FILE", default=default, help="settings file overriding "
        "config/almamirror.toml (default: $ALMAMIRROR_CONFIG)",
    )
    verbosity = group.add_mutually_exclusive_group()
    verbosity.add_argument(
        "--log-level", choices=LOG_LEVELS, type=str.upper, default=default,
        help="log level (default from settings)",
    )
    verbosity.add_argument(
        "-v", "--verbose", action="store_true", default=flag_default, help="same as --log-level DEBUG"
    )
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", default=flag_default,
        help="warnings and errors only; nothing on stdout on success (for cron)",
    )


def _subcommand_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                found.append(child)
                found.extend(_subcommand_parsers(child))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        prog = getattr(args, "parser_prog", parser.prog)
        hint = _did_you_mean_option(parser, prog, unknown)
        print(f"{prog}: unrecognized arguments: {' '.join(unknown)}{hint} (run '{prog} --help')",
              file=sys.stderr)
        return EXIT_USAGE
    if args.verbose and args.quiet:
        parser.error("-v/--verbose and -q/--quiet cannot be used together")
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    """The command's exit status; every failure becomes one line on stderr and its exit code."""
    status = 1
    try:
        settings = load_settings(args.config)
        level = "DEBUG" if args.verbose else "WARNING" if args.quiet else args.log_level
        asked = bool(args.verbose or args.log_level or os.environ.get("ALMAMIRROR_LOG_LEVEL"))
        configure_logging(level or settings.log_level, asked=asked, progress=not args.quiet)
        status = args.run(args, settings)
        sys.stdout.flush()  # a reader that went away shows here, not at interpreter exit
    except BrokenPipeError:  # almamirror report … | head: the reader has what it wanted
        _discard_stdout()
        status = EXIT_BROKEN_PIPE
    except ConfigurationError as exc:
        for problem in exc.problems:
            print(f"almamirror: configuration: {problem}", file=sys.stderr)
        status = exc.exit_code
    except AlmaMirrorError as exc:
        print(f"almamirror: {_one_line(str(exc))}", file=sys.stderr)
        status = exc.exit_code
    except KeyboardInterrupt:
        print("almamirror: interrupted", file=sys.stderr)
        status = EXIT_INTERRUPTED
    except OSError as exc:  # the file system or the machine said no: a path, a disk, a limit
        log.debug("os error", exc_info=True)
        print(f"almamirror: {_os_message(exc)}", file=sys.stderr)
    except Exception as exc:
        if _is_database_error(exc):  # one no layer classified: usually a database that is down
            from etl.database_errors import error_kind

            print(f"almamirror: database {error_kind(exc)}: {_driver_message(exc)}", file=sys.stderr)
        else:  # a bug, not a user error: one line, the traceback in the debug log
            log.debug("internal error", exc_info=True)
            print(
                f"almamirror: internal error: {type(exc).__name__}: {_one_line(str(exc))[:300]} "
                "(run with --verbose for the traceback)",
                file=sys.stderr,
            )
    return status


def installed_version() -> str:
    """The version of the installed almamirror distribution (its package metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("almamirror")
    except PackageNotFoundError:  # the source tree put on sys.path by hand, never installed
        return "unknown (not installed)"


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _os_message(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.filename is None:
        return reason
    return f"{exc.filename}: {reason}"


def _one_line(message: str) -> str:
    from etl.controls import escape_controls

    # A message may quote source data or a path: its escape sequences are shown, never run.
    return escape_controls(" ".join(message.split()))


def _is_database_error(exc: Exception) -> TypeGuard[DBAPIError]:
    """A DBAPIError, found without importing SQLAlchemy: a command that never loaded it (--help, ``archive
    export-asdm``, which the demo's fetch runs once per EB) cannot have raised one, and starts faster."""
    loaded = sys.modules.get("sqlalchemy.exc")
    return loaded is not None and isinstance(exc, loaded.DBAPIError)


def _driver_message(exc: DBAPIError) -> str:
    """The driver's own words, without the SQL and documentation link SQLAlchemy appends."""
    return _one_line(str(exc.orig) if exc.orig is not None else str(exc))

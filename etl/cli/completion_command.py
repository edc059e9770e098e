"""``almamirror completion bash|zsh``: a shell completion script generated from the parser itself."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from etl.settings import Settings

SHELLS = ("bash", "zsh")


def register(subparsers: Any) -> None:
    completion = subparsers.add_parser(
        "completion", help="print a shell completion script (bash or zsh)",
        description="Print a completion script for every command and option, generated from "
        "almamirror's own argument parser.",
        epilog="bash: almamirror completion bash > ~/.local/share/bash-completion/completions/almamirror; "
        "zsh: almamirror completion zsh > \"${fpath[1]}/_almamirror\" (then start a new shell)",
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    completion.set_defaults(run=run_completion)


def run_completion(args: argparse.Namespace, _settings: Settings) -> int:
    import shtab

    from etl.cli import build_parser

    parser = build_parser()
    complete_paths(parser, shtab.FILE, shtab.DIRECTORY)
    sys.stdout.write(shtab.complete(parser, shell=args.shell))
    return 0


def complete_paths(parser: argparse.ArgumentParser, files: Any, directories: Any) -> None:
    """Arguments that name a path complete as paths: a directory where the metavar says DIR
    (--build DIR, REQUEST_DIR, OUT_DIR), a file for every other path (--config FILE, -o FILE, …)."""
    from etl.cli import _subcommand_parsers

    for command in [parser, *_subcommand_parsers(parser)]:
        for action in command._actions:
            metavar = str(action.metavar or "")
            if "DIR" in metavar:
                action.complete = directories  # type: ignore[attr-defined]
            elif action.type is Path or metavar in ("FILE", "ARCHIVED_PPR"):
                action.complete = files  # type: ignore[attr-defined]

"""``almamirror completion bash|zsh``: a shell completion script generated from the parser itself."""

from __future__ import annotations

import argparse
import sys
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

    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    return 0

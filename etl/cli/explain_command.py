"""``almamirror explain MOUS_UID``: everything the mirror knows about one MOUS, on one screen."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from etl.settings import Settings


def register(subparsers: Any) -> None:
    from etl.cli.report_commands import add_pager_argument

    explain = subparsers.add_parser(
        "explain", help="everything the mirror knows about one MOUS: the first thing to read when a "
        "restore fails",
        description="One MOUS on one screen: its tree (project, SOUS, GOUS), scheduling block, every EB "
        "with QA0, times and session (a timeline), the session rule's sessions beside the caltables' "
        "session numbers and the OUSStatus document's, the verdict and its reason, since when it is "
        "restorable, what the syncs changed about it and its open data-quality findings. Reads the "
        "mirror only. Exit codes: 0 done, 1 the MOUS is not in the mirror (or not a member OUS), "
        "2 a malformed UID.",
    )
    explain.add_argument(
        "mous_uid", metavar="MOUS_UID", help="e.g. uid://A001/X129e/Xb6 or uid___A001_X129e_Xb6"
    )
    explain.add_argument(
        "--format", choices=("table", "json"), default="table",
        help="table (default): sections for a person; json: one object for machines",
    )
    explain.add_argument(
        "--wide", action="store_true",
        help="on a terminal, every column at full width (by default the tables fit the terminal)",
    )
    add_pager_argument(explain)
    explain.set_defaults(run=run_explain)


def run_explain(args: argparse.Namespace, settings: Settings) -> int:
    from etl.archive_names import parse_mous_uid
    from etl.cli.report_commands import report_snapshot
    from etl.output import TableView
    from etl.report.explain import explain_mous, write_explanation
    from etl.terminal import paged, terminal_of
    from ppr.errors import NotAMemberOus, UnknownMous
    from ppr.query import ous_level

    mous_uid = parse_mous_uid(args.mous_uid)
    view = TableView(terminal=terminal_of(sys.stdout), wide=args.wide)
    with paged(sys.stdout, args.pager) as stream:
        with report_snapshot(settings) as connection:
            explanation = explain_mous(connection, mous_uid, settings.restore.casa)
            if explanation is None:
                level = ous_level(connection, mous_uid)
                if level is None:
                    from etl.report.known import nearest_mous

                    raise UnknownMous(mous_uid, nearest_mous(connection, mous_uid))
                raise NotAMemberOus(mous_uid, level)
        write_explanation(explanation, args.format, stream, view)
    return 0

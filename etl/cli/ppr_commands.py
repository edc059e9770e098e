"""``almamirror ppr …``: restore PPRs and request directories, read from the mirror only."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from etl.errors import UsageError
from etl.settings import Settings


def register(subparsers: Any) -> None:
    ppr = subparsers.add_parser(
        "ppr", help="write the restore PPR of a member OUS (or of every restorable one)",
        description="Write a restore Pipeline Processing Request for a member OUS from the mirror: "
        "to stdout, to a file (-o), or into a request directory (--build) with a fetch manifest. "
        "--check compares the mirror's session mapping with an archived PPR instead. Refusals "
        "(unknown, not a member OUS, not restorable, proprietary) exit 1 and write nothing; a "
        "malformed UID exits 2.",
        epilog="MOUS_UID may be uid://A001/X129e/Xb6, uid___A001_X129e_Xb6 or member.uid___A001_X129e_Xb6.",
    )
    ppr.add_argument("mous_uid", nargs="?", metavar="MOUS_UID", help="the member OUS")
    target = ppr.add_mutually_exclusive_group()
    target.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the PPR to FILE")
    target.add_argument(
        "--build", type=Path, metavar="DIR",
        help="create DIR/<relative path>/{rawdata,working,products} with the PPR in working/ and "
        "fetch-manifest.json",
    )
    target.add_argument(
        "--check", type=Path, metavar="ARCHIVED_PPR",
        help="compare the mirror's sessions with an archived PPR; exit 0 when they agree, 1 when not",
    )
    ppr.add_argument(
        "--all-restorable", action="store_true", help="every restorable MOUS (needs --build)"
    )
    ppr.add_argument(
        "--relative-path", metavar="PATH",
        help="RelativePath in the PPR (default: <project code>_<time>/SOUS_…/GOUS_…/MOUS_…)",
    )
    ppr.add_argument(
        "--allow-proprietary", action="store_true",
        help="also write PPRs of MOUSes whose data are proprietary now",
    )
    ppr.add_argument(
        "--force", action="store_true",
        help="replace the PPR and fetch manifest of an existing request directory (fetched data in "
        "rawdata/ and products/, and outputs in working/, are kept)",
    )
    ppr.add_argument(
        "--format", choices=("table", "json"), default="table",
        help="summary format for --all-restorable (default: table)",
    )
    ppr.set_defaults(run=run_ppr)


def run_ppr(args: argparse.Namespace, settings: Settings) -> int:
    _check_arguments(args)
    from etl.cli.databases import mirror_snapshot

    with mirror_snapshot(settings, "almamirror-ppr") as connection:
        if args.all_restorable:
            return _all_restorable(connection, args, settings)
        if args.check is not None:
            return _check(connection, args)
        return _one(connection, args, settings)


def _check_arguments(args: argparse.Namespace) -> None:
    if args.all_restorable:
        if args.mous_uid or args.build is None:
            raise UsageError("--all-restorable takes no MOUS_UID and needs --build DIR")
        if args.relative_path:
            raise UsageError("--relative-path names one request; it cannot be used with --all-restorable")
    elif not args.mous_uid:
        raise UsageError("give a MOUS_UID, or --all-restorable --build DIR")
    else:
        from ppr.uid import parse_mous_uid

        # Parsed once, before any database work: a malformed UID is a usage error.
        args.mous_uid = parse_mous_uid(args.mous_uid)
    if args.check is not None and (args.relative_path or args.allow_proprietary or args.force):
        raise UsageError("--check compares sessions only; it takes no other options")


def _one(connection: Connection, args: argparse.Namespace, settings: Settings) -> int:
    from ppr.layout import build_request_directory
    from ppr.service import generate_ppr

    generated = generate_ppr(
        connection, args.mous_uid, settings.ppr, args.allow_proprietary, args.relative_path
    )
    request = generated.request
    what = (
        f"MOUS {request.mous_uid}: {len(request.sessions)} session(s), "
        f"{len(request.pass_eb_uids)} EB(s)"
    )
    if args.build is not None:
        directory = build_request_directory(
            args.build, generated.relative_path, generated.document, request, args.force
        )
        from ppr.layout import MANIFEST_FILE, WORKING, ppr_file_name

        print(f"ppr: {what}")
        print(f"  request directory: {directory}")
        print(f"  PPR:               {directory / WORKING / ppr_file_name(request.mous_uid)}")
        print(f"  fetch manifest:    {directory / MANIFEST_FILE}")
    elif args.output is not None:
        _write_atomically(args.output, generated.document)
        print(f"ppr: wrote {args.output} ({what})")
    else:
        sys.stdout.buffer.write(generated.document)
        sys.stdout.flush()
    return 0


def _check(connection: Connection, args: argparse.Namespace) -> int:
    from ppr.check import describe_differences
    from ppr.service import check_against_archived

    differences = check_against_archived(connection, args.mous_uid, args.check)
    if not differences:
        print(f"ppr check: the mirror's sessions agree with {args.check}")
        return 0
    for line in describe_differences(differences):
        print(line)
    print(f"ppr check: {len(differences)} difference(s) between the mirror and {args.check}")
    return 1


def _all_restorable(connection: Connection, args: argparse.Namespace, settings: Settings) -> int:
    from etl.progress import Progress
    from ppr.service import build_all_restorable

    progress = Progress("restore requests", unit="MOUSes")
    summary = build_all_restorable(
        connection, args.build, settings.ppr, args.allow_proprietary, args.force, progress.update
    )
    progress.finish()
    if args.format == "json":
        json.dump(
            {
                "written": [str(path) for path in summary.written],
                "refused": summary.refused,
                "refused_by_reason": dict(summary.refused_by_reason),
            },
            sys.stdout, indent=2,
        )
        sys.stdout.write("\n")
    else:
        print(f"ppr: wrote {len(summary.written):,} request director(ies) under {args.build}")
        for reason, count in sorted(summary.refused_by_reason.items()):
            print(f"  refused {count:,}: {reason}")
        for mous_uid, reason in sorted(summary.refused.items())[:20]:
            print(f"  {mous_uid}: {reason}")
    return 0


def _write_atomically(path: Path, document: bytes) -> None:
    """A crash never leaves a half-written PPR where the pipeline could pick it up."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(document)
    partial.replace(path)

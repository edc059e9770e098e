"""``almamirror ppr …``: restore PPRs and request directories, read from the mirror only."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl.cli.confirm import confirm
from etl.cli.paths import STDOUT
from etl.errors import UsageError
from etl.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Connection

# --check without a file: compare with the archive's record held in the mirror. (Not a string:
# argparse would turn a string constant into a Path.)
RECORD_CHECK = True


def register(subparsers: Any) -> None:
    ppr = subparsers.add_parser(
        "ppr", help="write the restore PPR of a member OUS (or of every restorable one)",
        description="Write a restore Pipeline Processing Request for a member OUS from the mirror: "
        "to stdout, to a file (-o), or into a request directory (--build) with a fetch manifest. "
        "--check compares the mirror's session mapping with the archive's record of the calibration "
        "(its manifest, restore script and PPR, as the sync read them) or with an archived PPR file "
        "instead. Refusals "
        "(unknown, not a member OUS, not restorable, proprietary) exit 1 and write nothing; a "
        "malformed UID or an output path that cannot be used exits 2. --all-restorable skips the MOUSes "
        "whose session map already has a request in DIR, so a nightly run adds only what is new.",
        epilog="MOUS_UID may be uid://A001/X129e/Xb6, uid___A001_X129e_Xb6 or member.uid___A001_X129e_Xb6. "
        "Nightly: almamirror -q ppr --all-restorable --pending --build /spool",
    )
    ppr.add_argument("mous_uid", nargs="?", metavar="MOUS_UID", help="the member OUS")
    target = ppr.add_mutually_exclusive_group()
    target.add_argument(
        "-o", "--output", type=Path, metavar="FILE",
        help="write the PPR to FILE (atomically; '-' for stdout; an existing FILE needs --force)",
    )
    target.add_argument(
        "--build", type=Path, metavar="DIR",
        help="create DIR/<relative path>/{rawdata,working,products} with the PPR in working/ and "
        "fetch-manifest.json",
    )
    target.add_argument(
        "--check", type=Path, nargs="?", const=RECORD_CHECK, metavar="ARCHIVED_PPR",
        help="compare the mirror's sessions with the archive's record in the mirror (no file), or with "
        "an archived PPR file, read as the pipeline reads it; exit 0 when they agree, 1 when not, 2 when "
        "the PPR is for another MOUS (write MOUS_UID first)",
    )
    target.add_argument(
        "--verify", type=Path, metavar="REQUEST_DIR",
        help="preflight a request directory without CASA or the mirror: will the restore find everything "
        "it opens? One line per problem; exit 0 none, 1 some, 2 not a request directory",
    )
    ppr.add_argument(
        "--all-restorable", action="store_true",
        help="every restorable MOUS not already built in DIR (needs --build)",
    )
    ppr.add_argument(
        "--ppr-only", action="store_true",
        help="with --all-restorable: only the MOUSes a restore PPR restores (kind pipeline_ppr), for a "
        "site that runs only PPR restores",
    )
    window = ppr.add_mutually_exclusive_group()
    window.add_argument(
        "--newly-restorable", action="store_true",
        help="with --all-restorable: only the MOUSes that became restorable in the latest sync",
    )
    window.add_argument(
        "--pending", action="store_true",
        help="with --all-restorable: every restorable MOUS that is public now and has no request in "
        "DIR, whenever it became restorable (the nightly spool: one still proprietary comes on the "
        "night its release date passes, and is counted, not refused, until then)",
    )
    window.add_argument(
        "--since", metavar="SINCE",
        help="with --all-restorable: only the MOUSes restorable since then (24h, 7d, yesterday, "
        "2026-11-01, …)",
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
        "--fetch", action="store_true",
        help="with --build: then fetch each request's products and ASDMs from the archive (almamirror fetch)",
    )
    ppr.add_argument(
        "--submit", metavar="TEMPLATE",
        help="with --all-restorable --build: run the site's submit command once per new request, {dir} "
        "standing for its directory (e.g. 'sbatch {dir}/run-restore.sh'); what it prints (the job id) is "
        "kept in the request's restore.json. With --fetch, after the fetch",
    )
    from etl.cli.fetch_command import add_fetch_options

    add_fetch_options(ppr)
    ppr.add_argument(
        "--format", choices=("table", "json"), default="table",
        help="format of the --all-restorable summary and of the --check and --verify results "
        "(default: table)",
    )
    ppr.set_defaults(run=run_ppr)


def run_ppr(args: argparse.Namespace, settings: Settings) -> int:
    if args.verify is not None:
        from etl.cli.verify_command import run_verify

        return run_verify(args, sys.stdout)
    _check_arguments(args)
    from etl.cli.databases import mirror_snapshot

    built: list[Path] = []
    with mirror_snapshot(settings, "almamirror-ppr") as connection:
        if args.all_restorable:
            status = _all_restorable(connection, args, settings, built)
        elif args.check is not None:
            return _check(connection, args)
        else:
            status = _one(connection, args, settings, built)
    if args.fetch:
        # After the mirror's snapshot is released: downloads take minutes to hours.
        status = max(status, _fetch_built(built, args, settings))
    if args.submit is not None:
        status = max(status, _submit_built(built, args))
    return status


def _submit_built(built: list[Path], args: argparse.Namespace) -> int:
    """Submit each new request directory; exit 1 when any submission failed."""
    from ppr.submit import submit_requests

    submissions = submit_requests(built, args.submit)
    failed = [submission for submission in submissions if not submission.submitted]
    lines = [f"ppr --submit: {len(submissions) - len(failed):,} of {len(submissions):,} request(s) submitted"]
    lines += [
        f"  {submission.directory}: exit {submission.exit_status}: {submission.error or submission.output}"
        for submission in failed[:20]
    ]
    confirm(args, *lines)
    return 1 if failed else 0


def _check_arguments(args: argparse.Namespace) -> None:
    """Everything that can be wrong with the arguments, before any database work."""
    from etl.cli.paths import check_output_directory, check_output_file

    if args.all_restorable:
        if args.mous_uid or args.build is None:
            raise UsageError("--all-restorable takes no MOUS_UID and needs --build DIR")
        if args.relative_path:
            raise UsageError("--relative-path names one request; it cannot be used with --all-restorable")
    elif not args.mous_uid:
        raise UsageError("give a MOUS_UID, or --all-restorable --build DIR")
    else:
        from etl.archive_names import parse_mous_uid

        # Parsed once, before any database work: a malformed UID is a usage error.
        args.mous_uid = parse_mous_uid(args.mous_uid)
        if args.newly_restorable or args.since or args.pending or args.ppr_only:
            raise UsageError("--newly-restorable, --pending, --since and --ppr-only choose among all "
                             "MOUSes; use them with --all-restorable")
    _check_fetch_arguments(args)
    _check_submit(args)
    if args.check is not None and (args.relative_path or args.allow_proprietary or args.force):
        raise UsageError("--check compares sessions only; it takes no other options")
    if args.relative_path is not None:
        check_relative_path(args.relative_path)
    if args.since is not None:
        from etl.report.arguments import parse_since

        args.since = parse_since(args.since)
    if args.build is not None:
        check_output_directory(args.build, "--build")
    if args.output is not None:
        check_output_file(args.output, "-o", args.force)


def _check_submit(args: argparse.Namespace) -> None:
    if args.submit is None:
        return
    from ppr.submit import check_template

    if not args.all_restorable or args.build is None:
        raise UsageError("--submit needs --all-restorable --build DIR")
    try:
        check_template(args.submit)
    except ValueError as exc:
        raise UsageError(f"--submit {args.submit!r}: {exc}") from None


def _check_fetch_arguments(args: argparse.Namespace) -> None:
    if args.fetch and args.build is None:
        raise UsageError("--fetch fetches into the request directory --build DIR writes; give --build DIR")
    if not args.fetch and (args.products_only or args.workers is not None):
        raise UsageError("--products-only and --workers go with --fetch")


def check_relative_path(relative_path: str) -> None:
    """A RelativePath the pipeline and the request directory can use (ppr.layout's rule), in plain words."""
    from ppr.layout import relative_path_problem

    problem = relative_path_problem(relative_path)
    if problem is not None:
        raise UsageError(f"--relative-path {relative_path!r}: {problem}")


def _one(connection: Connection, args: argparse.Namespace, settings: Settings, built: list[Path]) -> int:
    from etl.report.known import nearest_mous
    from ppr.errors import UnknownMous
    from ppr.layout import build_request_directory
    from ppr.service import generate_ppr

    try:
        if args.build is not None and _restores_by_delivery(connection, args.mous_uid):
            return _one_delivery(connection, args, settings, built)
        generated = generate_ppr(
            connection, args.mous_uid, settings.ppr, args.allow_proprietary, args.relative_path,
            with_script=args.build is not None,
        )
    except UnknownMous as unknown:  # the mirror knows the UIDs nearest to a mistyped one
        raise UnknownMous(unknown.mous_uid, nearest_mous(connection, unknown.mous_uid)) from None
    request = generated.request
    what = (
        f"MOUS {request.mous_uid}: {len(request.sessions)} session(s), "
        f"{len(request.pass_eb_uids)} EB(s)"
    )
    if args.build is not None:
        directory = build_request_directory(
            args.build, generated.relative_path, generated.document, request, args.force, settings.ppr.casa
        )
        built.append(directory)
        from etl.restore.spool import MANIFEST_FILE
        from ppr.layout import WORKING, ppr_file_name
        from ppr.restore_run import RUN_SCRIPT

        confirm(
            args,
            f"ppr: {what}",
            f"  request directory: {directory}",
            f"  PPR:               {directory / WORKING / ppr_file_name(request.mous_uid)}",
            f"  fetch manifest:    {directory / MANIFEST_FILE}",
            f"  run the restore:   {directory / RUN_SCRIPT}",
        )
    elif args.output is not None and args.output != STDOUT:
        from ppr.output import write_ppr_file

        write_ppr_file(args.output, generated.document)
        confirm(args, f"ppr: wrote {args.output} ({what})")
    else:
        sys.stdout.buffer.write(generated.document)
        sys.stdout.flush()
    return 0


def _restores_by_delivery(connection: Connection, mous_uid: str) -> bool:
    from etl.restore.kinds import SCRIPTFORPI
    from ppr.query import verdicts

    verdict = verdicts(connection, [mous_uid]).get(mous_uid)
    return verdict is not None and verdict.restore_kind == SCRIPTFORPI


def _one_delivery(
    connection: Connection, args: argparse.Namespace, settings: Settings, built: list[Path]
) -> int:
    """A scriptforpi MOUS's request directory: an ALMA delivery tree its scriptForPI.py runs in."""
    from etl.restore.spool import MANIFEST_FILE
    from ppr.delivery import SCRIPT
    from ppr.restore_run import RUN_SCRIPT
    from ppr.service import build_delivery

    request, directory = build_delivery(
        connection, args.mous_uid, args.build, settings.ppr, args.allow_proprietary, args.relative_path,
        args.force,
    )
    built.append(directory)
    scriptforpi = request.delivery.scriptforpi_file if request.delivery is not None else "scriptForPI.py"
    confirm(
        args,
        f"ppr: MOUS {request.mous_uid}: restored by its scriptForPI.py, {len(request.pass_eb_uids)} EB(s)",
        f"  delivery tree:     {directory}",
        f"  scriptForPI.py:    {directory / SCRIPT / scriptforpi} (after almamirror fetch)",
        f"  fetch manifest:    {directory / MANIFEST_FILE}",
        f"  run the restore:   {directory / RUN_SCRIPT}",
    )
    return 0


def _check(connection: Connection, args: argparse.Namespace) -> int:
    from ppr.check_result import check_sessions

    archived_ppr = None if args.check is RECORD_CHECK else args.check
    return check_sessions(connection, args.mous_uid, archived_ppr, args.format, sys.stdout)


def _all_restorable(
    connection: Connection, args: argparse.Namespace, settings: Settings, built: list[Path]
) -> int:
    from etl.progress import Progress
    from ppr.service import build_all_restorable

    progress = Progress("restore requests", unit="MOUSes")
    summary = build_all_restorable(
        connection, args.build, settings.ppr, args.allow_proprietary, args.force, progress.update,
        since=args.since, newly=args.newly_restorable, pending=args.pending, ppr_only=args.ppr_only,
    )
    progress.finish()
    built.extend(summary.written)
    if args.format == "json":
        json.dump(
            {
                "written": [str(path) for path in summary.written],
                "already_built": {uid: str(path) for uid, path in sorted(summary.already_built.items())},
                "new_session_map": summary.new_session_map,
                "refused": summary.refused,
                "refused_by_reason": dict(summary.refused_by_reason),
                "awaiting_release": summary.awaiting_release,
                "no_longer_public": {uid: str(path) for uid, path in summary.no_longer_public.items()},
                "no_longer_restorable": {
                    uid: str(path) for uid, path in summary.no_longer_restorable.items()
                },
            },
            sys.stdout, indent=2,
        )
        sys.stdout.write("\n")
        return 0
    changed = (
        f" ({len(summary.new_session_map):,} of them for a changed session map; the older requests stay)"
        if summary.new_session_map else ""
    )
    lines = [
        f"ppr: {len(summary.written):,} new, {len(summary.already_built):,} already built under "
        f"{args.build}{changed}"
    ]
    lines += [f"  refused {count:,}: {reason}" for reason, count in sorted(summary.refused_by_reason.items())]
    lines += [f"  {mous_uid}: {reason}" for mous_uid, reason in sorted(summary.refused.items())[:20]]
    if summary.awaiting_release:
        lines.append(f"  awaiting release {len(summary.awaiting_release):,}: restorable, still proprietary "
                     "(built on the night their release date passes)")
    if summary.no_longer_public:
        # Each is also a warning (ppr.no_longer_public), which -q keeps: cron mails it.
        lines.append(f"  no longer public {len(summary.no_longer_public):,}: their requests are in "
                     f"{args.build}, the MOUSes are proprietary again (release date moved): do not run them")
    if summary.no_longer_restorable:
        lines.append(f"  no longer restorable {len(summary.no_longer_restorable):,}: their requests are in "
                     f"{args.build}, the MOUSes have no restore kind now (almamirror report "
                     "no-longer-restorable says why): do not run them")
    confirm(args, *lines)
    return 0


def _fetch_built(built: list[Path], args: argparse.Namespace, settings: Settings) -> int:
    """Fetch each request directory written, one at a time, under one progress display for them all."""
    from etl.cli.fetch_command import fetch_options, fetch_with_progress, write_fetch_summary
    from etl.cli.fetch_progress import fetch_progress
    from etl.errors import ArchiveDown

    options = fetch_options(args)
    summaries: list[Any] = []
    # One display for the process: a display per request would leave a copy of its block per request.
    with fetch_progress() as progress:
        for done, directory in enumerate(built, start=1):
            try:
                summaries.append(fetch_with_progress(directory, settings, options, progress))
            except ArchiveDown as down:
                # One line for the whole night: the files of the requests not started count as not fetched.
                not_started = _files_listed(built[done:], options)
                raise down.with_count((down.not_fetched or 0) + not_started) from None
    # Written once the display has stopped, so that no table is drawn through its bars.
    failed = [summary.directory for summary in summaries if not summary.ready]
    for summary in summaries:
        if len(built) == 1 or not summary.ready:
            write_fetch_summary(summary, "table", sys.stdout)
    if len(built) > 1:
        print(f"ppr --fetch: {len(built) - len(failed):,} of {len(built):,} request(s) complete")
        for directory in failed:
            print(f"  incomplete: {directory} (run almamirror fetch on it again)")
    return 1 if failed else 0


def _files_listed(directories: list[Path], options: Any) -> int:
    from ppr.fetch import read_plan

    listed = 0
    for directory in directories:
        plan = read_plan(directory)
        listed += len(plan.products) + (0 if options.products_only else len(plan.asdms))
    return listed

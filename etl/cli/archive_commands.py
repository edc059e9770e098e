"""``almamirror archive …``: the stand-in NGAS of the demo archive, and its ASDM exporter."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from etl.errors import UsageError
from etl.settings import Settings


def register(subparsers: Any) -> None:
    archive = subparsers.add_parser(
        "archive", help="the stand-in NGAS archive of the demo (serve, export-asdm)",
        description="A stand-in for ALMA's archive (NGAS) serving every file of the demo archive in the "
        "source database, and the stand-in of asdmExportLight. Never ALMA's own archive.",
    )
    actions = archive.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve", help="serve the demo archive's files over HTTP as NGAS does (two nodes)",
        description="Serve RETRIEVE and STATUS for every file of the demo archive (filled by "
        "'almamirror source demo') on two nodes: PORT (node 1) and the next port (node 2), answering as "
        "NGAS does: either node answers STATUS, a RETRIEVE of the other node's file is a 303, errors are "
        "NgamsStatus documents with 400 (404 only for an unknown command). Prints the two URLs when "
        "ready; runs until SIGTERM or Ctrl-C. Node states and faults are for tests.",
        epilog="Faults (--fault NAME[=N], the first N requests of each file, default 1): drop-mid-body, "
        "corrupt-body, html-200, ignore-range, stall (pauses mid-body for --stall-seconds), trickle (one "
        "byte every 0.2 s), unavailable (a bare HTTP/1.0 503), reset (the connection reset), gzip-bomb, "
        "endless-status (hostile STATUS bodies), unknown-checksum (STATUS names plug-in ngamsGenMd5).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7777,
                       help="node 1's port; node 2 takes the next (default: 7777; 0: any free ports)")
    serve.add_argument("--fault", action="append", default=[], metavar="NAME[=N]", help="inject a fault")
    serve.add_argument("--stall-seconds", type=float, default=5.0, metavar="S",
                       help="how long the stall fault pauses (default: 5)")
    serve.add_argument("--throttle", type=float, default=0.0, metavar="MB_PER_S",
                       help="send each body at most this fast (default: unlimited)")
    serve.add_argument("--offline", type=int, action="append", default=[], metavar="NODE",
                       help="node 1 or 2 is OFFLINE: its STATUS says State=OFFLINE, its RETRIEVE 400 "
                       "NGAMS_ER_IMPROPER_STATE, both nodes say its files are unavailable")
    serve.add_argument("--stopped", type=int, action="append", default=[], metavar="NODE",
                       help="node 1 or 2 is stopped: it does not listen, the other says its files are "
                       "unavailable (to STATUS too)")
    serve.add_argument("--crashed", type=int, action="append", default=[], metavar="NODE",
                       help="node 1 or 2 crashed: it does not listen, the other still redirects to it")
    serve.add_argument("--lacks", action="append", default=[], metavar="PATTERN",
                       help="files whose id matches (fnmatch) are not in this archive")
    serve.add_argument("--compressed", action="append", default=[], metavar="PATTERN",
                       help="files whose id matches (fnmatch) are stored gzip-compressed")
    serve.add_argument("--login", metavar="USER:PASSWORD",
                       help="every request must give these credentials (HTTP Basic); 401 otherwise")
    serve.add_argument("--redirect-host", metavar="NAME",
                       help="the host name a 303 names (default: the --host address)")
    serve.add_argument("--http10", action="store_true",
                       help="answer as NGAS v12's own server does: HTTP/1.0, the connection closed after "
                       "each reply (requests pipelined behind the first dropped)")
    serve.add_argument("--request-log", type=Path, metavar="FILE",
                       help="append one JSON line per request (node, command, file id, Range, status)")
    serve.set_defaults(run=run_serve)

    export = actions.add_parser(
        "export-asdm", help="write an EB's ASDM directory from the archive (stand-in of asdmExportLight)",
        description="Write ./<disk name of EB_UID>/ (ASDM.xml, its tables, ASDMBinary/) from the NGAS "
        "servers of [archive] ngas_urls / ALMAMIRROR_NGAS_URL, each part verified. Nothing is left "
        "behind when it fails. The demo's [archive] asdm_command runs it.",
    )
    export.add_argument("eb_uid", metavar="EB_UID", help="the EB, e.g. uid://A002/Xc733ea/X179e")
    export.set_defaults(run=run_export_asdm)


def _faults(args: argparse.Namespace) -> Any:
    from etl.demo.ngas_server import Faults

    counts: dict[str, int] = {}
    for text in args.fault:
        name, _, count = text.partition("=")
        if count and not count.isdigit():
            raise UsageError(f"--fault {text}: N must be a whole number")
        counts[name] = int(count) if count else 1
    try:
        return Faults(counts, args.stall_seconds, args.throttle * 1e6)
    except ValueError as exc:
        raise UsageError(f"--fault: {exc}") from None


def _states(args: argparse.Namespace) -> Any:
    from etl.demo.ngas_server import NodeStates

    for node in (*args.offline, *args.stopped, *args.crashed):
        if node not in (1, 2):
            raise UsageError(f"node {node}: the stand-in has nodes 1 and 2")
    if args.login is not None and ":" not in args.login:
        raise UsageError("--login: give USER:PASSWORD")
    return NodeStates(
        offline=frozenset(args.offline), stopped=frozenset(args.stopped), crashed=frozenset(args.crashed),
        lacks=tuple(args.lacks), compressed=tuple(args.compressed), login=args.login,
        redirect_host=args.redirect_host, http10=args.http10,
    )


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    from etl.database import source_engine
    from etl.demo.ngas_server import StandInNgas
    from etl.logs import mask_url

    faults = _faults(args)
    states = _states(args)
    stopped = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    with source_engine(settings) as engine:
        try:
            archive = StandInNgas(
                engine, settings.source.schema, args.host, args.port, faults, args.request_log, states
            )
        except OSError as exc:
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        archive.start()
        node1, node2 = archive.urls
        print(f"archive serve: NGAS stand-in node 1 {node1}, node 2 {node2} "
              f"(catalogue in {mask_url(engine.url)})", flush=True)
        try:
            stopped.wait()
        finally:
            archive.stop()
    return 0


def run_export_asdm(args: argparse.Namespace, settings: Settings) -> int:
    from etl.archive_names import canonical_uid
    from etl.demo.asdm_export import export_asdm
    from etl.ngas.client import NgasClient

    eb_uid = canonical_uid(args.eb_uid)
    if eb_uid is None:
        raise UsageError(f"{args.eb_uid!r} is not an EB UID; expected e.g. uid://A002/Xc733ea/X179e")
    with NgasClient(settings.archive) as client:
        exported = export_asdm(client, eb_uid, Path.cwd())
    print(f"export-asdm: wrote {exported.directory.name} ({exported.files} files, {exported.bytes:,} bytes)")
    sys.stdout.flush()
    return 0

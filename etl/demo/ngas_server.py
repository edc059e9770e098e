"""The stand-in NGAS: a real HTTP server answering as NGAS (v12) does, for every file of the demo archive.

Two nodes (two ports of one process) sharing one catalogue, as two NGAS nodes share one database. Each
holds part of the files; a ``RETRIEVE`` of a file the other node holds is answered **303 See Other**,
HTTP/1.0 style (``Location``, no ``Content-Length``, no body), as an NGAS node that is not a proxy does.
``STATUS`` is answered by either node (200): it reads the shared catalogue and is never redirected.
``RETRIEVE`` sends a file with ``Content-Disposition`` and ``Content-Length``; a ``Range: bytes=N-`` is
answered **200** with ``Content-Range``, a start at or past the end with 200 and ``Content-Length: 0``.

A plain ``STATUS`` (no ``file_id``) is 200 with the node's ``State``: ``ONLINE``, or ``OFFLINE``.

Errors as NGAS sends them (docs/fetch.md): an ``NgamsStatus`` document with **400** and
``NGAMS_ER_UNAVAIL_FILE`` for a file this archive does not have or whose node is stopped or OFFLINE (to
STATUS as to ``RETRIEVE``, from every node: that node's disks are unmounted in the shared database), 400
and ``NGAMS_ER_IMPROPER_STATE`` to a ``RETRIEVE`` of an OFFLINE node (which still answers STATUS, as
real NGAS does); **404** ``Command not found`` only for an unknown command or path; 401 without
``WWW-Authenticate`` when a login is set and not given; overload as a bare
``HTTP/1.0 503`` status line or a reset connection. With ``NodeStates.http10`` the nodes speak HTTP as
NGAS v12's own server (Python's ``http.server`` at HTTP/1.0) does: every reply ``HTTP/1.0`` and the
connection closed after it, requests pipelined behind the first never read. Otherwise they keep connections
alive (HTTP/1.1), as a keep-alive front before NGAS would.

``NodeStates`` sets up what an operator of a real archive sees: a node OFFLINE, stopped (the other node
says the file is unavailable) or crashed (the other node still redirects to it), files this archive
lacks, files stored gzip-compressed, a login, redirects naming another host name. ``Faults`` are for
tests: the first N requests of each file can drop the connection mid-body, send a corrupt body or an
HTML page with status 200, ignore the Range, stall, trickle, be answered 503 or reset, or get a STATUS
that is a gzip bomb, endless, or names a checksum plug-in nobody knows.
"""

from __future__ import annotations

import fnmatch
import gzip
import itertools
import json
import logging
import socket
import struct
import sys
import threading
import time
import zlib
from base64 import b64encode
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import quoteattr

from sqlalchemy import Connection, Engine, create_engine, or_, select

from etl.demo.ngas_bodies import body_chunks
from etl.demo.ngas_catalogue import CATALOGUE, CatalogueEntry, body_checksum, content_checksum, lookup
from etl.logs import fields
from etl.source.contract import source_execution_options

log = logging.getLogger(__name__)

FAULT_NAMES: Final = (
    "drop-mid-body", "corrupt-body", "html-200", "ignore-range", "stall", "trickle", "unavailable", "reset",
    "gzip-bomb", "endless-status", "unknown-checksum",
)
NGAS_VERSION: Final = "v12.0/2023-01-01T00:00:00"
COMMANDS: Final = ("RETRIEVE", "STATUS")
# What a compressed file's STATUS names, as NGAS does; uncompressed files say NONE.
GZIP: Final = "gzip"
# The trickle fault: one byte this often, never slow enough for a read timeout.
TRICKLE_SECONDS: Final = 0.2
# Catalogue entries kept in memory (small documents carry their content).
RECENT_ENTRIES: Final = 4096
# Catalogue rows read by one lookup: the file asked for and the documents after it in file id order.
LOOKED_AHEAD: Final = 64
_HTML_PAGE: Final = (
    b"<!DOCTYPE html>\n<html><head><title>Service Temporarily Unavailable</title></head>\n"
    b"<body><h1>The archive is under maintenance</h1><p>Please try again later.</p></body></html>\n"
)


@dataclass(frozen=True)
class Faults:
    """What the stand-in does wrong, and how often: ``counts[name]`` first requests of each file."""

    counts: dict[str, int] = field(default_factory=dict)
    stall_seconds: float = 5.0
    throttle_bytes_per_second: float = 0.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.counts) - set(FAULT_NAMES))
        if unknown:
            raise ValueError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULT_NAMES)}")


@dataclass(frozen=True)
class NodeStates:
    """How the archive's nodes are, beyond faults: what an operator of a real archive meets."""

    # State OFFLINE: STATUS answered, RETRIEVE 400 NGAMS_ER_IMPROPER_STATE, their files unavailable to all.
    offline: frozenset[int] = frozenset()
    stopped: frozenset[int] = frozenset()  # do not listen; the other node says their files are unavailable
    crashed: frozenset[int] = frozenset()  # do not listen; the other node still redirects to them
    lacks: tuple[str, ...] = ()  # file id patterns this archive does not have
    compressed: tuple[str, ...] = ()  # file id patterns stored gzip-compressed
    login: str | None = None  # user:password (HTTP Basic) every request must give
    redirect_host: str | None = None  # the host name a 303's Location names (default: the listen address)
    # HTTP/1.0 and one reply per connection, as NGAS v12's server: what was pipelined behind it is dropped.
    http10: bool = False

    def lacks_file(self, file_id: str) -> bool:
        return any(fnmatch.fnmatchcase(file_id, pattern) for pattern in self.lacks)

    def compresses(self, file_id: str) -> bool:
        return any(fnmatch.fnmatchcase(file_id, pattern) for pattern in self.compressed)

    def listens(self, node: int) -> bool:
        return node not in self.stopped | self.crashed


@dataclass(frozen=True)
class _Stored:
    """A file as the node stores it: plain, or gzip-compressed (then its bytes are the compressed ones)."""

    size: int
    checksum: str
    uncompressed_size: int
    compression: str  # NONE or gzip
    content: bytes | None  # the compressed bytes; None: the plain body, generated


class StandInNgas:
    """Both nodes, serving the catalogue of the demo source behind ``engine``."""

    def __init__(
        self,
        engine: Engine,
        schema: str,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        request_log: Path | None = None,
        states: NodeStates | None = None,
    ) -> None:
        self.engine = engine
        self.schema = schema
        self.faults = faults or Faults()
        self.states = states or NodeStates()
        self._compressed: dict[tuple[str, int], bytes] = {}
        self.request_log = request_log
        self.host = host
        self._lock = threading.Lock()
        self._reading = threading.Lock()
        self._faults_used: Counter[tuple[str, str]] = Counter()
        # Requests numbered as they arrive: the log is written after each reply, so two nodes' lines
        # can land in another order than the requests came.
        self._arrivals = itertools.count(1)
        self._checksums: dict[tuple[str, int], str] = {}
        # A client asks STATUS, then RETRIEVE (each perhaps after a 303) of one file in a row, and a sync
        # its documents in file id order: one lookup reads the file and the documents after it
        # (``_following``), the recent entries answer the rest; each lookup is one statement.
        self._recent: OrderedDict[str, CatalogueEntry | None] = OrderedDict()
        # (Without a ping per checkout: a lookup on a dropped connection fails that one request.)
        self._lookups = create_engine(engine.url, pool_pre_ping=False).execution_options(
            isolation_level="AUTOCOMMIT", **source_execution_options(schema)
        )
        # Node 2 takes the port after node 1's when a port is given; any free one otherwise.
        self.nodes = [_NodeServer((host, port), self, 1)]
        self.nodes.append(_NodeServer((host, port + 1 if port else 0), self, 2))
        self._threads: list[threading.Thread] = []

    @property
    def urls(self) -> list[str]:
        """Node 1's URL first: the one clients are configured with."""
        return [f"http://{self.host}:{node.server_address[1]}" for node in self.nodes]

    def start(self) -> None:
        for node in self.nodes:
            if not self.states.listens(node.number):
                node.server_close()  # connections to it are refused, as to a node that is down
                continue
            # Polled 10 times a second for a shutdown (the default is twice): a stop takes a tenth of
            # a second rather than half a second for each node, which the tests pay for every stand-in.
            thread = threading.Thread(target=node.serve_forever, kwargs={"poll_interval": 0.1},
                                      name=f"ngas-node-{node.number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("ngas_stand_in.started %s", fields(node1=self.urls[0], node2=self.urls[1]))

    def stop(self) -> None:
        # Both nodes told at once: each notices at its next poll, and the stop waits for one poll.
        stopping = [threading.Thread(target=node.shutdown) for node in self.nodes
                    if self.states.listens(node.number)]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        for node in self.nodes:
            node.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._lookups.engine.dispose()

    # --- used by the request handler ---

    def entry(self, file_id: str, version: int | None) -> CatalogueEntry | None:
        """The file's highest version (or ``version``); the catalogue is taken not to change while served."""
        with self._lock:
            known = file_id in self._recent
            highest = self._recent.get(file_id)
            if known:
                self._recent.move_to_end(file_id)
        # No entry at all means no version either; the highest one answers for itself.
        if known and (version is None or highest is None or highest.file_version == version):
            return highest
        if version is not None:
            with self._lookups.connect() as connection:
                return lookup(connection, file_id, version)
        # One lookup at a time: the threads asking for the next documents meanwhile find them read.
        with self._reading:
            with self._lock:
                if file_id in self._recent:
                    return self._recent[file_id]
            with self._lookups.connect() as connection:
                following = _following(connection, file_id)
            found = following.get(file_id)
            with self._lock:
                self._recent[file_id] = found
                for other, entry in following.items():
                    self._recent.setdefault(other, entry)
                while len(self._recent) > RECENT_ENTRIES:
                    self._recent.popitem(last=False)
        return found

    def checksum(self, entry: CatalogueEntry) -> str:
        """The stored checksum, or (for the random population's large files) computed once and kept."""
        if entry.checksum is not None:
            return entry.checksum
        key = (entry.file_id, entry.file_version)
        with self._lock:
            known = self._checksums.get(key)
        if known is None:
            known = body_checksum(entry.file_id, entry.file_size, entry.checksum_plugin)
            with self._lock:
                self._checksums[key] = known
        return known

    def stored(self, entry: CatalogueEntry) -> _Stored:
        """The file as this archive stores it: compressed when ``NodeStates.compressed`` says so."""
        if not self.states.compresses(entry.file_id):
            return _Stored(entry.file_size, self.checksum(entry), entry.file_size, "NONE", None)
        key = (entry.file_id, entry.file_version)
        with self._lock:
            packed = self._compressed.get(key)
        if packed is None:
            packed = gzip.compress(b"".join(_bytes_of(entry, 0)), mtime=0)
            with self._lock:
                self._compressed[key] = packed
        return _Stored(len(packed), content_checksum(packed, entry.checksum_plugin), entry.file_size, GZIP,
                       packed)

    def authorized(self, header: str | None) -> bool:
        if self.states.login is None:
            return True
        return header == "Basic " + b64encode(self.states.login.encode()).decode("ascii")

    def take_fault(self, name: str, file_id: str) -> bool:
        """Whether this request of ``file_id`` gets fault ``name`` (the first N of each file do)."""
        limit = self.faults.counts.get(name, 0)
        if limit <= 0:
            return False
        with self._lock:
            if self._faults_used[(name, file_id)] >= limit:
                return False
            self._faults_used[(name, file_id)] += 1
            return True

    def arrived(self) -> int:
        """The next request's number in the order requests arrive at either node."""
        with self._lock:
            return next(self._arrivals)

    def record(self, **entry: Any) -> None:
        """Log a request (numbered when it arrived) or an event of one (numbered now)."""
        if self.request_log is None:
            return
        if "arrived" not in entry:
            entry["arrived"] = self.arrived()
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self._lock, self.request_log.open("a", encoding="utf-8") as handle:
            handle.write(line)

    def other_node(self, number: int) -> _NodeServer:
        return self.nodes[1] if number == 1 else self.nodes[0]


class _NodeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], archive: StandInNgas, number: int) -> None:
        self.archive = archive
        self.number = number
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that reset its connection (a pooled client closing an idle one, or one gone
        mid-reply) is how connections end, not a fault: one debug line instead of socketserver's
        traceback on stderr, which the operator of ``archive serve`` and every demo reads."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionResetError | BrokenPipeError):
            log.debug("ngas_stand_in.connection_reset %s", fields(node=self.number, client=client_address[1]))
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as NGAS clients pool connections
    disable_nagle_algorithm = True
    server_version = "NGAMS/" + NGAS_VERSION
    server: _NodeServer

    def setup(self) -> None:
        super().setup()
        if self.server.archive.states.http10:
            # Before the request is parsed: http.server then closes the connection after one reply.
            self.protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("ngas_stand_in.request %s", format % args)

    def do_GET(self) -> None:
        archive = self.server.archive
        url = urlsplit(self.path)
        command = url.path.strip("/")
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        file_id = query.get("file_id", "")
        # The client's port tells the connections apart (a keep-alive one serves several requests).
        note: dict[str, Any] = {"node": self.server.number, "command": command, "file_id": file_id,
                                "range": self.headers.get("Range"), "client_port": self.client_address[1],
                                "arrived": archive.arrived()}
        self.fault: str | None = None
        try:
            status, sent, fault = self._answer(archive, command, file_id, query)
            gone = False
        except (BrokenPipeError, ConnectionResetError):
            status, sent, fault, gone = 200, 0, self.fault, True
            self.close_connection = True
        archive.record(**note, status=status, sent=sent, fault=fault, client_gone=gone)

    def _answer(  # noqa: PLR0911 (one early answer per NGAS error, in the order NGAS checks them)
        self, archive: StandInNgas, command: str, file_id: str, query: dict[str, str]
    ) -> tuple[int, int, str | None]:
        states = archive.states
        if not archive.authorized(self.headers.get("Authorization")):
            # NGAS names no realm: the client must send its credentials unasked.
            return self._status(401, "Unauthorized access: no or wrong credentials"), 0, None
        if command not in COMMANDS:
            return self._status(404, "Command not found"), 0, None
        if command == "STATUS" and not file_id:
            # The node's own status: real NGAS answers it in every state, saying which (OFFLINE too).
            return self._status(200, "Successfully handled command STATUS", success=True), 0, None
        if command == "RETRIEVE" and self.server.number in states.offline:
            # STATUS is allowed OFFLINE, RETRIEVE is not (real NGAS v12, 7 December 2026).
            message = ("NGAMS_ER_IMPROPER_STATE:4015:ERROR: RETRIEVE not allowed when in State/Sub-State: "
                       "OFFLINE/IDLE. Allowed State(s)/Sub-State(s) are: ['ONLINE']/['IDLE', 'BUSY'].")
            return self._status(400, message), 0, None
        if not file_id:
            return self._status(400, "NGAMS_ER_RETRIEVE_CMD: no file_id given"), 0, None
        for fault in ("unavailable", "reset"):
            if archive.take_fault(fault, file_id):
                self._overloaded(fault)
                return 503, 0, fault
        version = query.get("file_version")
        if version is not None and not version.isdigit():
            return self._status(400, f"NGAMS_ER_ILL_REQ: file_version {version!r} is not a number"), 0, None
        entry = None if states.lacks_file(file_id) else archive.entry(
            file_id, int(version) if version is not None else None
        )
        # A stopped or OFFLINE node's disks are unmounted in the shared database: every node answers
        # STATUS and RETRIEVE of its files as of files the archive never had, as real NGAS does.
        if entry is None or entry.node in states.stopped | states.offline:
            return self._status(400, _unavailable(file_id)), 0, None
        if command == "STATUS":
            return self._file_status(archive, entry)
        if entry.node != self.server.number:
            return self._redirect(archive), 0, None
        return self._retrieve(archive, entry)

    def _redirect(self, archive: StandInNgas) -> int:
        """303 as NGAS's redirect(): an HTTP/1.0 status line, Location, and nothing else."""
        other = archive.other_node(self.server.number)
        host = archive.states.redirect_host or archive.host
        self.protocol_version = "HTTP/1.0"
        self.close_connection = True
        self.send_response(303)
        self.send_header("Location", f"http://{host}:{other.server_address[1]}{self.path}")
        self.end_headers()
        return 303

    def _overloaded(self, fault: str) -> None:
        """What an overloaded NGAS does: a bare 503 status line (no headers, no body), or a reset."""
        self.close_connection = True
        if fault == "unavailable":
            self.wfile.write(b"HTTP/1.0 503 Service Unavailable\r\n\r\n")
            self.wfile.flush()
            return
        # Linger 0: the close sends RST, as a server that drops what it cannot take.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _retrieve(self, archive: StandInNgas, entry: CatalogueEntry) -> tuple[int, int, str | None]:
        start = 0
        stored = archive.stored(entry)
        requested = self.headers.get("Range")
        if requested is not None:
            parsed = _range_start(requested)
            if parsed is None:
                message = "Invalid Range header, must have the form 'bytes=start-' (start offset only)"
                return self._status(400, message), 0, None
            start = parsed
            if start >= stored.size:
                return 200, self._send_file(archive, entry, start, None), None
            if archive.take_fault("ignore-range", entry.file_id):
                return 200, self._send_file(archive, entry, 0, None), "ignore-range"
        if archive.take_fault("html-200", entry.file_id):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(_HTML_PAGE)))
            self.end_headers()
            self.wfile.write(_HTML_PAGE)
            return 200, len(_HTML_PAGE), "html-200"
        for fault in ("drop-mid-body", "corrupt-body", "stall", "trickle"):
            if archive.take_fault(fault, entry.file_id):
                return 200, self._send_file(archive, entry, start, fault), fault
        return 200, self._send_file(archive, entry, start, None), None

    def _send_file(self, archive: StandInNgas, entry: CatalogueEntry, start: int, fault: str | None) -> int:
        """Headers as NGAS's send_file_headers writes them, then the bytes; returns the bytes sent."""
        self.fault = fault
        stored = archive.stored(entry)
        size = stored.size
        self.send_response(200)
        self.send_header("Content-Type", entry.mime_type)
        self.send_header("Content-Disposition", f'attachment; filename="{entry.file_id}"')
        # At or past the end NGAS computes size - start: 0 here (never negative, which no client reads).
        self.send_header("Content-Length", str(max(size - start, 0)))
        if start:
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        if start >= size:
            return 0
        middle = start + (size - start) // 2
        sent = 0
        began = time.monotonic()
        rate = archive.faults.throttle_bytes_per_second
        chunks = iter([stored.content[start:]]) if stored.content is not None else _bytes_of(entry, start)
        for offset, chunk in _with_offsets(chunks, start):
            piece = chunk
            if fault == "trickle":
                sent += self._trickle(piece)
                continue
            if fault in ("drop-mid-body", "stall") and offset <= middle < offset + len(piece):
                self.wfile.write(piece[: middle - offset])
                sent += middle - offset
                if fault == "stall":
                    # Logged as it happens (a request is logged once answered), so a test can look at
                    # the client while it waits in the middle of a body.
                    archive.record(node=self.server.number, command="STALL", file_id=entry.file_id,
                                   seconds=archive.faults.stall_seconds)
                    time.sleep(archive.faults.stall_seconds)
                    archive.record(node=self.server.number, command="STALL-END", file_id=entry.file_id)
                    self.wfile.write(piece[middle - offset:])
                    sent += len(piece) - (middle - offset)
                    continue
                self._drop_connection()
                return sent
            if fault == "corrupt-body" and offset <= middle < offset + len(piece):
                flipped = bytearray(piece)
                flipped[middle - offset] ^= 0xFF
                piece = bytes(flipped)
            self.wfile.write(piece)
            sent += len(piece)
            if rate > 0:
                ahead = sent / rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
        return sent

    def _trickle(self, piece: bytes) -> int:
        for index in range(len(piece)):
            self.wfile.write(piece[index:index + 1])
            self.wfile.flush()
            time.sleep(TRICKLE_SECONDS)
        return len(piece)

    def _drop_connection(self) -> None:
        self.close_connection = True
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)

    def _file_status(self, archive: StandInNgas, entry: CatalogueEntry) -> tuple[int, int, str | None]:
        for hostile in ("gzip-bomb", "endless-status"):
            if archive.take_fault(hostile, entry.file_id):
                return 200, self._hostile_status(hostile), hostile
        fault: str | None = None
        if archive.take_fault("unknown-checksum", entry.file_id):
            fault = "unknown-checksum"
        ingested = entry.ingestion_date.strftime("%Y-%m-%dT%H:%M:%S.000")
        stored = archive.stored(entry)
        file_status = " ".join(f"{name}={quoteattr(value)}" for name, value in (
            ("FileId", entry.file_id), ("FileVersion", str(entry.file_version)),
            ("FileSize", str(stored.size)), ("UncompressedFileSize", str(stored.uncompressed_size)),
            ("Checksum", stored.checksum),
            ("ChecksumPlugIn", "ngamsGenMd5" if fault else entry.checksum_plugin),
            ("Format", entry.mime_type), ("Compression", stored.compression), ("FileStatus", "00000000"),
            ("IngestionDate", ingested), ("Ignore", "0"),
        ))
        disk = f'<DiskStatus DiskId="stand-in-node-{entry.node}" Mounted="1">' \
               f"<FileStatus {file_status}/></DiskStatus>"
        return self._status(200, "Successfully handled command STATUS", disk, success=True), 0, fault

    def _hostile_status(self, fault: str) -> int:
        """A STATUS reply no client should hold whole: gzip that inflates to 512 MiB, or no end."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        if fault == "gzip-bomb":
            bomb = _gzip_bomb()
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(bomb)))
            self.end_headers()
            self.wfile.write(bomb)
            return len(bomb)
        self.end_headers()  # no Content-Length: the body ends when the connection does, never
        sent = 0
        filler = b"<NgamsStatus>" + b" " * (1 << 16)
        while sent < 1 << 34:
            self.wfile.write(filler)
            sent += len(filler)
        return sent

    def _status(self, code: int, message: str, inner: str = "", success: bool = False) -> int:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000")
        state = "OFFLINE" if self.server.number in self.server.archive.states.offline else "ONLINE"
        document = (
            '<?xml version="1.0" ?>\n<!DOCTYPE NgamsStatus SYSTEM '
            f'"http://{self.headers.get("Host", "localhost")}/RETRIEVE?internal=ngamsStatus.dtd">\n'
            f'<NgamsStatus><Status Date="{stamp}" HostId="stand-in-node-{self.server.number}" '
            f'Message={quoteattr(message)} State="{state}" Status="{"SUCCESS" if success else "FAILURE"}" '
            f'SubState="IDLE" Version="{NGAS_VERSION}"/>{inner}</NgamsStatus>\n'
        ).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(document)))
        self.end_headers()
        self.wfile.write(document)
        return code


def _following(connection: Connection, file_id: str) -> dict[str, CatalogueEntry]:
    """The highest version of ``file_id``, and of the small documents after it in file id order
    (``LOOKED_AHEAD`` rows in all, one statement): a sync asks for its calibration documents in that
    order, one after the other."""
    rows = connection.execute(
        select(CATALOGUE)
        .where(CATALOGUE.c.file_id >= file_id,
               or_(CATALOGUE.c.file_id == file_id, CATALOGUE.c.content.is_not(None)))
        .order_by(CATALOGUE.c.file_id, CATALOGUE.c.file_version.desc()).limit(LOOKED_AHEAD)
    )
    found: dict[str, CatalogueEntry] = {}
    for row in rows:
        # The highest version comes first; the last file's may be cut short, never its highest.
        if row.file_id not in found:
            found[row.file_id] = CatalogueEntry(**row._mapping)
    return found


def _unavailable(file_id: str) -> str:
    return f"NGAMS_ER_UNAVAIL_FILE:4019:ERROR: File with ID: {file_id} appears not to be available."


_BOMB: list[bytes] = []


def _gzip_bomb() -> bytes:
    """512 MiB of spaces, gzip-compressed (about 500 kB), made once."""
    if not _BOMB:
        packer = zlib.compressobj(1, zlib.DEFLATED, 31)
        block = b" " * (1 << 20)
        _BOMB.append(b"".join(packer.compress(block) for _ in range(512)) + packer.flush())
    return _BOMB[0]


def _range_start(header: str) -> int | None:
    text = header.strip()
    if not text.startswith("bytes=") or not text.endswith("-"):
        return None
    number = text[len("bytes="):-1]
    return int(number) if number.isdigit() else None


def _bytes_of(entry: CatalogueEntry, start: int) -> Iterator[bytes]:
    if entry.content is not None:
        yield bytes(entry.content[start:])
        return
    yield from body_chunks(entry.file_id, entry.file_size, start)


def _with_offsets(chunks: Iterator[bytes], start: int) -> Iterator[tuple[int, bytes]]:
    offset = start
    for chunk in chunks:
        yield offset, chunk
        offset += len(chunk)

"""HTTP client of NGAS: STATUS, RETRIEVE streamed to ``<target>.part`` and verified, resume, failover.

Every download is checked against NGAS's own ``FileSize`` and checksum (and the caller's expected size):
the status code alone never decides that the bytes are the file, and a file whose checksum cannot be
computed is refused, never accepted on its size. Transient failures (connection errors, read timeouts,
5xx) are retried with exponential backoff on one server, then the next configured URL is asked; so is
the next when a node says it does not have the file (``NGAMS_ER_UNAVAIL_FILE``) or is OFFLINE
(``NGAMS_ER_IMPROPER_STATE``). When every server that answered says the file is not available, each
configured server's own STATUS (asked once per run) tells whether one is OFFLINE: NGAS answers a file
of an OFFLINE node as one it never had, so the file is then "unavailable, try later", not missing. A node
that refused connections or was OFFLINE is asked last for the rest of the run; when every configured node
refuses connections the archive is down (``ArchiveDown``), said once. A reply that is not the file is
discarded and the file fetched again, a bounded number of times. Every operation has an overall
deadline, and every body is read within bounds. URLs in messages and logs never carry credentials.
"""

from __future__ import annotations

import logging
import os
import random
import re
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final, NoReturn, Protocol, TypeVar
from urllib.parse import urlencode

from etl.errors import (
    ArchiveDown,
    ArchiveFileMissing,
    ArchiveRefused,
    ArchiveUnavailable,
    ChecksumUnknown,
    ConfigurationError,
    DownloadNotVerified,
    NotAnArchive,
)
from etl.logs import fields
from etl.ngas.checksums import (
    PLUGINS,
    ExpectedChecksum,
    RunningChecksum,
    UnknownChecksum,
    checksum_of_file,
    expected_checksum,
)
from etl.ngas.status import MAX_STATUS_BYTES, FileStatus, NgamsStatus, NotNgamsStatus, parse_status
from etl.ngas.transport import (
    READ_BYTES,
    REDIRECTS,
    BadReply,
    ConnectError,
    Connections,
    Deadline,
    DeadlinePassed,
    NotHere,
    NotNgas,
    Offline,
    RedirectPolicy,
    Refused,
    Reply,
    Server,
    TransferError,
    Transient,
    Unreachable,
    open_reply,
    raise_for_error,
    read_capped,
    server_of,
    transport_problem,
    where,
)
from etl.safe_files import open_file, same_file
from etl.settings import ArchiveSettings

log = logging.getLogger(__name__)

PART_SUFFIX: Final = ".part"
# A large file's writeback is started every this many bytes written (see _PartFile).
WRITEBACK_BYTES: Final = 8 << 20
# The compressed bytes of a file NGAS stores gzip-compressed, until verified and decompressed.
COMPRESSED_PART_SUFFIX: Final = ".gz.part"
# How often a reply that is not the file (HTML, wrong size, wrong checksum) is fetched again.
BAD_REPLY_LIMIT: Final = 3
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+)\s*$", re.I)
_HTML_TYPES = ("text/html", "application/xhtml")
_INFLATE_CHUNK: Final = 1 << 20
_GZIP_MAGIC: Final = b"\x1f\x8b"
# What one server's answer to one request can mean (its trouble or the file's), short of a refusal to
# go on: caught where an answer is kept for later (a STATUS asked ahead) or only informs (a node's State).
_SERVER_ANSWERS: Final = (Transient, NotHere, Offline, NotNgas, Refused, DeadlinePassed)
# The State of an NGAS node down for maintenance (``/OFFLINE``), as its STATUS says it.
OFFLINE: Final = "OFFLINE"

T = TypeVar("T")
# Called with (bytes of the file held so far, the file's size) as a download goes on.
ProgressCallback = Callable[[int, int], None]


class _PartChanged(Exception):
    """The .part is not what this download wrote (another writer, or replaced): never put in place."""


@dataclass(frozen=True)
class Download:
    """A verified file, in place under its target name."""

    file_id: str
    path: Path
    size: int  # of the file as saved (decompressed when NGAS stores it compressed)
    checksum: ExpectedChecksum | None
    resumed_from: int  # bytes of an earlier .part kept (0: from the start)
    received: int  # bytes received over the network by this download
    seconds: float
    compression: str | None = None  # gzip when NGAS sent it compressed
    mtime_ns: int | None = None  # of the file as it was put in place (None: not known without a stat)


@dataclass(frozen=True)
class FetchedDocument:
    """A small file received whole and verified: NGAS's description of it, and its bytes."""

    status: FileStatus
    content: bytes


class _Sink(Protocol):
    """Where the bytes of one download go: a ``.part`` file, or memory for small documents."""

    offset: int
    size: int
    received: int  # bytes that came over the network, over every attempt

    def write(self, chunk: bytes | memoryview) -> None: ...
    def restart(self) -> None: ...
    def flush(self) -> None: ...


@dataclass(frozen=True)
class StatusAnswer:
    """One server's answer to a file's STATUS asked ahead (``NgasClient.status_answers``): the file's
    status, or what the answer means (raised as that server's first attempt by ``NgasClient.status``)."""

    server: Server
    status: FileStatus | None
    problem: Exception | None = None


class _Tally:
    """What the servers asked for one file answered, to decide between "missing" and "try later"."""

    def __init__(self) -> None:
        self.not_here: list[NotHere] = []  # servers that answered that they do not have the file
        self.problems: list[str] = []  # servers that answered otherwise, or could not be asked

    def missing(self) -> bool:
        return bool(self.not_here) and not self.problems


class VerifiedPart:
    """A download received and verified in its ``.part``, not yet under its name (``put_in_place``).

    A file NGAS stores compressed is already in place once verified and decompressed (``inflate``).
    """

    def __init__(
        self, file_id: str, target: Path, sink: _PartFile, status: FileStatus, checksum: ExpectedChecksum,
        received: int, started: float, sync_directory: bool,
    ) -> None:
        self.file_id = file_id
        self.target = target
        self._sink = sink
        self._status = status
        self._checksum = checksum
        self._received = received
        self._started = started
        self._sync_directory = sync_directory
        self._in_place = False

    def inflate(self, expected_size: int | None, deadline: Deadline) -> str:
        """Decompress the verified ``.gz.part`` into place; what is wrong, or ""."""
        try:
            problem = _inflate(self._sink, self.target, self._status, expected_size, deadline)
        except _PartChanged as changed:
            raise DownloadNotVerified(self.file_id, str(changed)) from None
        if not problem:
            self._finish()
            self._sink.part.unlink(missing_ok=True)  # the verified compressed bytes
        return problem

    def put_in_place(self) -> Download:
        """fsync the ``.part`` and rename it to the target, unless it changed since it was verified
        (``DownloadNotVerified``, the ``.part`` left where it is)."""
        mtime_ns = None
        if not self._in_place:
            try:
                mtime_ns = self._sink.commit(self.target)  # the .part is the target now
            except _PartChanged as changed:
                raise DownloadNotVerified(self.file_id, str(changed)) from None
            finally:
                self._sink.close()
            self._finish()
        download = Download(
            self.file_id, self.target, self._status.plain_size, self._checksum, self._sink.resumed_from,
            self._received, time.monotonic() - self._started, "gzip" if self._status.compressed else None,
            mtime_ns,
        )
        _log_download(download)
        return download

    def _finish(self) -> None:
        if self._sync_directory:
            fsync_directory(self.target.parent)
        self._in_place = True


class NgasClient:
    """One pooled HTTP client for every request to the configured NGAS servers; thread-safe."""

    def __init__(
        self,
        settings: ArchiveSettings,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
        bad_reply_limit: int = BAD_REPLY_LIMIT,
    ) -> None:
        if not settings.ngas_urls:
            raise ConfigurationError([
                "archive.ngas_urls: no NGAS server is configured; set [archive] ngas_urls in the settings "
                "file or ALMAMIRROR_NGAS_URL (comma-separated URLs, tried in order)"
            ])
        self.settings = settings
        self.servers = [server_of(url) for url in settings.ngas_urls]
        self.redirects = RedirectPolicy(self.servers, settings.node_hosts)
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.bad_reply_limit = bad_reply_limit
        # What this run learnt of the servers: refused connections, OFFLINE, not NGAS at all.
        self._lock = threading.Lock()
        self._refused: dict[str, str] = {}
        self._offline: dict[str, str] = {}
        self._not_ngas: dict[str, str] = {}
        # Each server's State as its plain STATUS said it (None: it did not say), asked once per run;
        # one thread asks while the others wait for the answer.
        self._node_states: dict[str, str | None] = {}
        self._asking_state = threading.Lock()
        # Redirect targets (a crashed node the others still send clients to) that refused connections
        # through every retry: tried once after that, not with the whole backoff for each file.
        self._dead_targets: set[str] = set()
        # Whether any server answered as NGAS in this run: then a configured URL that is not NGAS was
        # skipped without failing anything, and is worth a warning at the end (``close``).
        self._answered = False
        # Keep-alive connections shared by the threads of a fetch (its downloads, the STATUS asked
        # ahead); redirects are followed by open_reply: errors name the target, credentials go along.
        self.http = Connections(settings.connect_timeout, settings.read_timeout, _tls_context)

    def __enter__(self) -> NgasClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()
        self._warn_of_skipped_urls()

    def _warn_of_skipped_urls(self) -> None:
        """Each configured URL that is not NGAS, said once as a warning (kept under -q) when the run
        went on without it; a run that no URL served says it in its error instead."""
        if not self._answered:
            return
        for server in self.servers:
            reason = self._not_ngas.get(server.base)
            if reason is not None:
                log.warning("ngas.url_skipped %s", fields(
                    server=server.name, reason=f"does not look like an NGAS server ({reason}); the other "
                    "URLs served this run: check [archive] ngas_urls / ALMAMIRROR_NGAS_URL"))

    # --- what callers use ---------------------------------------------------------------------

    def status(
        self, file_id: str, version: int | None = None, answer: StatusAnswer | None = None
    ) -> FileStatus:
        """NGAS's size and checksum of a file (the highest version unless ``version``).

        ``answer``: what a server already answered to this STATUS (``status_answers``), taken as that
        server's first attempt: retries, failover and errors are then as if it had been asked now.
        """
        deadline = self._request_deadline()
        if answer is None:
            return self._located_status(file_id, version, deadline)[0]
        given = [answer]

        def operation(server: Server) -> tuple[FileStatus, Server]:
            if given and server.base == given[0].server.base:
                taken = given.pop()
                if taken.problem is not None:
                    raise taken.problem
                if taken.status is not None:
                    return taken.status, server
            return self._status_from(server, file_id, version, deadline)

        return self._on_any_server(file_id, operation, deadline)[0]

    def status_answers(self, file_ids: Sequence[str]) -> Generator[StatusAnswer | None, None, None]:
        """The first server's answer to the STATUS of each of ``file_ids``, in order, the requests
        pipelined on one connection (a file's status is then one write and a read among many, not a
        round trip on a thread of its own); None for a file it was not asked (``status`` asks it).

        A connection the node closes is opened again for the files not answered (each connection asks
        one file first: a node that closes after every reply is asked one file per connection, in turn).
        Nothing more is asked after an answer that is the node's trouble, not the file's (an error other
        than "not available", an overload, a refused login, not NGAS): each download then asks, with the
        retries, failover and messages of a single STATUS.
        """
        try:
            server = self._ordered(None)[0]
        except (ArchiveDown, NotAnArchive):
            server = None  # not asked: each file's own STATUS says so
        done = 0
        headers = {"Authorization": server.authorization} if server and server.authorization else {}
        asking = server is not None
        while server is not None and asking and done < len(file_ids):
            deadline = self._request_deadline()
            urls = [f"{server.url('STATUS')}?{urlencode(_file_params(file_id, None))}"
                    for file_id in file_ids[done:]]
            before = done
            try:
                with closing(self.http.get_pipelined(urls, headers, deadline)) as replies:
                    for reply in replies:
                        answer = self._answer_in(reply, server, file_ids[done], deadline)
                        yield answer
                        done += 1
                        if answer is not None and answer.problem is not None \
                                and not isinstance(answer.problem, NotHere):
                            asking = False  # the node's trouble: each file's download asks again
                            break
            except ConnectError:
                break  # not asked: each file's own STATUS finds the server down, as without this
            except TransferError as exc:  # the first reply on the connection: as one request's would
                yield StatusAnswer(server, None, Transient(transport_problem(server, None, exc)))
                done += 1
                break
            if done == before:
                break
        for _ in range(len(file_ids) - done):
            yield None

    def download(
        self,
        file_id: str,
        target: Path,
        expected_size: int | None = None,
        version: int | None = None,
        on_progress: ProgressCallback | None = None,
        sync_directory: bool = True,
        status: FileStatus | None = None,
    ) -> Download:
        """Fetch a file to ``target`` through ``target.part``, resuming a ``.part`` left by an earlier run.

        The file appears under ``target`` only when its size and checksum are verified, fsynced; a file
        NGAS stores compressed is verified as sent, then decompressed and its size checked. With
        ``sync_directory`` False the caller makes the renames durable (one directory fsync for many
        files): a rename lost in a crash leaves the verified ``.part``, which the next run completes.
        ``status``: NGAS's STATUS of the file, when the caller just asked it (no second round trip).
        """
        return self.download_verified(
            file_id, target, expected_size, version, on_progress, sync_directory, status
        ).put_in_place()

    def download_verified(
        self,
        file_id: str,
        target: Path,
        expected_size: int | None = None,
        version: int | None = None,
        on_progress: ProgressCallback | None = None,
        sync_directory: bool = True,
        status: FileStatus | None = None,
    ) -> VerifiedPart:
        """``download`` but its last step: the ``.part`` received and verified, to be put in place.

        Putting a file in place waits for the disk (its fsync): a caller fetching many files does it
        on another thread while the next file is received (``VerifiedPart.put_in_place``).
        """
        started = time.monotonic()
        holder: Server | None = None
        if status is None or status.file_id != file_id:
            status, holder = self._located_status(file_id, version, self._request_deadline())
        checksum = _checked_expectations(file_id, status, expected_size)
        deadline = self._transfer_deadline(status.file_size, started)
        part = target.with_name(target.name + (COMPRESSED_PART_SUFFIX if status.compressed else PART_SUFFIX))
        if not target.parent.is_dir():  # one stat per file, not a mkdir and a stat
            target.parent.mkdir(parents=True, exist_ok=True)
        problem = ""
        for attempt in range(1, self.bad_reply_limit + 1):
            sink = _PartFile(part, status.file_size, checksum.algorithm)
            verified: VerifiedPart | None = None
            try:
                received = self._fill(file_id, status, sink, on_progress, holder, deadline)
                problem = _verification_problem(sink.checksum.value, sink.offset, status, checksum)
                if not problem:
                    verified = VerifiedPart(file_id, target, sink, status, checksum, received, started,
                                            sync_directory)
                    if status.compressed:
                        problem = verified.inflate(expected_size, deadline)
                if not problem and verified is not None:
                    return verified
            except BadReply as bad:
                problem = str(bad)
            finally:
                if verified is None or problem or status.compressed:
                    sink.close()  # a plain file's stays open: put_in_place checks it is still this file
            sink.discard()
            log.warning("ngas.discarded %s", fields(file_id=file_id, attempt=attempt, reason=problem))
        raise DownloadNotVerified(
            file_id, f"{problem}; discarded {self.bad_reply_limit} time(s), giving up"
        )

    def fetch_document(
        self,
        file_id: str,
        expected_size: int | None = None,
        max_bytes: int = 1 << 24,
        deadline_at: float | None = None,
        status: FileStatus | None = None,
    ) -> FetchedDocument:
        """A small archived document (a pipeline manifest, a restore script), verified, in memory.

        ``deadline_at`` (``time.monotonic()``) bounds the whole fetch besides the transfer's own deadline.
        ``status``: NGAS's STATUS of the file, when the caller just asked it (no second round trip).
        """
        outer = Deadline(deadline_at, "the document step's time budget") if deadline_at is not None else None
        holder: Server | None = None
        if status is None or status.file_id != file_id:
            status, holder = self._located_status(file_id, None, self._request_deadline().earlier(outer))
        if status.file_size > max_bytes or status.plain_size > max_bytes:
            raise DownloadNotVerified(
                file_id, f"it is {status.plain_size:,} bytes, more than the {max_bytes:,} a document may be"
            )
        checksum = _checked_expectations(file_id, status, expected_size)
        deadline = self._transfer_deadline(status.file_size, time.monotonic()).earlier(outer)
        problem = ""
        for attempt in range(1, self.bad_reply_limit + 1):
            sink = _Memory(status.file_size, checksum.algorithm)
            try:
                self._fill(file_id, status, sink, None, holder, deadline)
                problem = _verification_problem(sink.checksum.value, sink.offset, status, checksum)
                if not problem:
                    content = bytes(sink.buffer)
                    if status.compressed:
                        content, problem = _inflated(content, status, expected_size)
                    if not problem:
                        return FetchedDocument(status, content)
            except BadReply as bad:
                problem = str(bad)
            log.warning("ngas.discarded %s", fields(file_id=file_id, attempt=attempt, reason=problem))
        raise DownloadNotVerified(file_id, f"{problem}; discarded {self.bad_reply_limit} time(s), giving up")

    def retrieve_exact(self, file_id: str, size: int, deadline_at: float | None = None) -> bytes | None:
        """A small file's bytes by one RETRIEVE (and its 303) without asking STATUS first, when the reply is
        plainly the file of ``size`` bytes the archive metadata lists; None when it is not plainly that.

        One attempt on the first server to ask, no retry: whatever else happens (an error, another size,
        a body that is gzip, a node that does not answer) is left to ``fetch_document``, which asks
        STATUS and says what is wrong. Its bytes are checked against the size only: NGAS's checksum
        comes from STATUS, which the caller asks later (see etl/load/documents.py).
        """
        deadline = self._request_deadline()
        if deadline_at is not None:
            deadline = deadline.earlier(Deadline(deadline_at, "the document step's time budget"))
        server = self._ordered(None)[0]
        try:
            with open_reply(self.http, server, "RETRIEVE", {"file_id": file_id}, {}, deadline,
                            self.redirects) as (response, _answered, _via):
                if not _plainly_the_file(response, size):
                    return None
                body, more = read_capped(response, size, deadline)
        except (Transient, BadReply, DeadlinePassed):
            return None
        # A document NGAS stores gzip-compressed would need STATUS to be read: never taken as plain.
        if more or len(body) != size or body.startswith(_GZIP_MAGIC):
            return None
        return body

    def verify_local(self, path: Path, status: FileStatus) -> bool:
        """Whether a file on disk is the archived file: its size and NGAS's checksum.

        A file NGAS stores compressed cannot be checked this way (its checksum is of the compressed
        bytes): it is fetched again.
        """
        if status.compressed:
            return False
        try:
            if path.stat().st_size != status.file_size:
                return False
        except FileNotFoundError:
            return False
        checksum = _checked_expectations(status.file_id, status, None)
        return checksum.matches(checksum_of_file(path, checksum.algorithm))

    def node_state(self, server: Server) -> str | None:
        """The node's State (``ONLINE``, ``OFFLINE``) from its plain STATUS, asked once per server and run,
        once, within a request's deadline; None when it did not say (refused, not NGAS, no State)."""
        with self._asking_state:
            with self._lock:
                if server.base in self._node_states:
                    return self._node_states[server.base]
            state = self._asked_state(server)
            with self._lock:
                self._node_states.setdefault(server.base, state)
                return self._node_states[server.base]

    def down_servers(self) -> dict[str, str]:
        """The configured servers that refused connections in this run, and how."""
        with self._lock:
            return {server.name: self._refused[server.base] for server in self.servers
                    if server.base in self._refused}

    # --- servers, retries -----------------------------------------------------------------------

    def _request_deadline(self) -> Deadline:
        seconds = self._grace_seconds()
        return Deadline.after(seconds, f"{seconds:g} s: twice [archive] read_timeout and connect_timeout")

    def _grace_seconds(self) -> float:
        return 2 * self.settings.read_timeout + self.settings.connect_timeout

    def _transfer_deadline(self, size: int, started: float) -> Deadline:
        rate = self.settings.min_transfer_rate
        seconds = self._grace_seconds() + size / (rate * 1e6)
        return Deadline(started + seconds, f"{seconds:,.0f} s for {size:,} bytes at [archive] "
                        f"min_transfer_rate {rate:g} MB/s, plus twice read_timeout and connect_timeout")

    def _ordered(self, first: Server | None) -> list[Server]:
        """Servers to ask: ``first``, then the configured ones; those that refused or were OFFLINE last,
        those that are not NGAS never."""
        with self._lock:
            usable = [server for server in self.servers if server.base not in self._not_ngas]
            healthy = [s for s in usable if s.base not in self._refused and s.base not in self._offline]
            doubtful = [s for s in usable if s not in healthy]
            everything_down = bool(self.servers) and all(s.base in self._refused for s in self.servers)
            not_ngas = {server.name: self._not_ngas[server.base] for server in self.servers
                        if server.base in self._not_ngas}
        if not usable:
            raise NotAnArchive(not_ngas)
        if everything_down:
            raise ArchiveDown(self.down_servers())
        ordered = [*healthy, *doubtful]
        if first is not None and first.base in {server.base for server in healthy}:
            ordered = [first, *(server for server in ordered if server.base != first.base)]
        return ordered

    def _on_any_server(
        self, file_id: str, operation: Callable[[Server], T], deadline: Deadline, first: Server | None = None
    ) -> T:
        """Each server in turn (see ``_ordered``), each with retries, until one has the file."""
        tally = _Tally()
        for server in self._ordered(first):
            try:
                result = self._with_retries(file_id, server, operation, deadline)
            except DeadlinePassed as exc:
                raise ArchiveUnavailable(file_id, f"{exc}; what arrived is kept for the next run") from None
            except Unreachable as exc:
                if not exc.redirected:
                    self._remember(self._refused, server, str(exc))
                else:
                    self._remember_dead_target(exc)
                tally.problems.append(str(exc))
            except Transient as exc:
                tally.problems.append(str(exc))
            except Offline as exc:
                self._remember(self._offline, server, str(exc))
                # Not ONLINE: a STATUS it answers afterwards (OFFLINE nodes do) does not undo that.
                with self._lock:
                    self._node_states.setdefault(server.base, OFFLINE)
                tally.problems.append(str(exc))
            except NotHere as exc:
                tally.not_here.append(exc)
            except NotNgas as exc:
                self._not_an_archive(server, str(exc))
                tally.problems.append(f"{server.name} does not look like an NGAS server: {exc}")
            except Refused as exc:
                raise ArchiveRefused(file_id, exc.code, str(exc)) from None
            else:
                self._answered = True
                self._forget(server)
                return result
            log.info("ngas.server_failed %s", fields(file_id=file_id, server=server.name,
                                                     reason=str((tally.problems or tally.not_here)[-1])))
        return self._none_had_it(file_id, tally)

    def _none_had_it(self, file_id: str, tally: _Tally) -> NoReturn:
        if tally.missing():
            # NGAS's words once (a document's recorded problem stays the same from night to night);
            # the servers named when more than one was asked.
            said = "; ".join(dict.fromkeys(answer.message for answer in tally.not_here))
            asked = [answer.server for answer in tally.not_here]
            named = f" (asked {', '.join(asked)})" if len(asked) > 1 else ""
            offline = self._offline_servers()
            if offline:
                # NGAS answers a file of an OFFLINE node as one it never had: back once the node is ONLINE.
                raise ArchiveUnavailable(file_id, f"OFFLINE: {', '.join(offline)} (its STATUS says "
                                         f"State=\"OFFLINE\"); the file may be on it: {said}{named}")
            raise ArchiveFileMissing(file_id, said + named)
        with self._lock:
            everything_down = all(server.base in self._refused for server in self.servers)
            nothing_usable = all(server.base in self._not_ngas for server in self.servers)
        if nothing_usable:
            self._ordered(None)  # raises NotAnArchive, naming every server
        if everything_down:
            raise ArchiveDown(self.down_servers())
        raise ArchiveUnavailable(file_id, "; ".join([*tally.problems, *map(str, tally.not_here)]))

    def _remember(self, book: dict[str, str], server: Server, reason: str) -> None:
        with self._lock:
            known = server.base in book
            book[server.base] = reason
        if not known:
            log.info("ngas.server_asked_last %s", fields(server=server.name, reason=reason))

    def _remember_dead_target(self, exc: Unreachable) -> None:
        with self._lock:
            known = exc.node in self._dead_targets
            self._dead_targets.add(exc.node)
        if not known:
            log.info("ngas.redirect_target_down %s", fields(node=exc.node, reason=str(exc)))

    def _forget(self, server: Server) -> None:
        with self._lock:
            self._refused.pop(server.base, None)
            # An OFFLINE node still answers STATUS: only its State says it is ONLINE again, not asked
            # again in this run.
            if self._node_states.get(server.base) != OFFLINE:
                self._offline.pop(server.base, None)

    def _offline_servers(self) -> list[str]:
        """The configured servers (those not refusing connections, NGAS's) whose STATUS says OFFLINE,
        remembered so: asked last for the rest of the run."""
        with self._lock:
            candidates = [server for server in self.servers
                          if server.base not in self._refused and server.base not in self._not_ngas]
        offline = [server for server in candidates if self.node_state(server) == OFFLINE]
        for server in offline:
            self._remember(self._offline, server, 'its STATUS says State="OFFLINE"')
        return [server.name for server in offline]

    def _asked_state(self, server: Server) -> str | None:
        """The State of the node's plain STATUS, asked once (no retries: it only tells a missing file
        from one on an OFFLINE node); None for any other answer."""
        deadline = self._request_deadline()
        try:
            with open_reply(self.http, server, "STATUS", {}, {}, deadline, self.redirects) as (
                    response, answered, via):
                state = _status_document(response, answered, via, deadline).state or None
        except _SERVER_ANSWERS as exc:
            log.info("ngas.node_state_unknown %s", fields(server=server.name, reason=str(exc)))
            return None
        log.info("ngas.node_state %s", fields(server=server.name, state=state))
        return state

    def _not_an_archive(self, server: Server, reason: str) -> None:
        with self._lock:
            known = server.base in self._not_ngas
            self._not_ngas[server.base] = reason
        if not known:  # said once per server and run (the error says it to the user); not asked again
            log.info("ngas.not_ngas %s", fields(server=server.name, reason=reason))

    def _with_retries(
        self, file_id: str, server: Server, operation: Callable[[Server], T], deadline: Deadline
    ) -> T:
        """``operation`` on ``server``, again after a backoff while it fails with ``Transient``.

        A plain loop: a document costs two of these, and building a retry controller for each cost
        about a tenth of the client's CPU per document while almost every call succeeds at once.
        """
        with self._lock:
            # A server that already refused connections in this run gets one try, not the backoff.
            attempts = 1 if server.base in self._refused else self.settings.retries + 1
        attempt = 1
        while True:
            try:
                return operation(server)
            except Transient as exc:
                wait = self._backoff(attempt)
                # No wait that would end past the deadline: the operation fails now, saying why.
                if attempt >= attempts or deadline.left() <= wait or self._known_dead_target(exc):
                    raise
                log.info("ngas.retry %s", fields(
                    file_id=file_id, server=server.name, attempt=attempt, wait_seconds=round(wait, 2),
                    reason=str(exc),
                ))
            time.sleep(wait)
            attempt += 1

    def _known_dead_target(self, exc: Transient) -> bool:
        """A redirect target that already refused every retry in this run: one try per file, not more
        (a crashed node would otherwise cost each of its files the whole backoff: 15 s at the defaults)."""
        if not isinstance(exc, Unreachable) or not exc.redirected:
            return False
        with self._lock:
            return exc.node in self._dead_targets

    def _backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt``: exponential, with up to a backoff of jitter."""
        jitter = random.uniform(0, self.backoff_seconds)
        return min(self.backoff_seconds * 2.0 ** min(attempt - 1, 64) + jitter, self.max_backoff_seconds)

    def _located_status(
        self, file_id: str, version: int | None, deadline: Deadline
    ) -> tuple[FileStatus, Server]:
        """The file's status and the configured server that answered it."""
        return self._on_any_server(
            file_id, lambda server: self._status_from(server, file_id, version, deadline), deadline
        )

    def _status_from(
        self, server: Server, file_id: str, version: int | None, deadline: Deadline
    ) -> tuple[FileStatus, Server]:
        with open_reply(self.http, server, "STATUS", _file_params(file_id, version), {}, deadline,
                        self.redirects) as (response, answered, via):
            return self._status_in(response, answered, via, file_id, deadline), server

    def _answer_in(
        self, reply: Reply, server: Server, file_id: str, deadline: Deadline
    ) -> StatusAnswer | None:
        """A pipelined STATUS reply as an answer for ``file_id``; None for a redirect (asked again)."""
        try:
            if reply.status_code in REDIRECTS and reply.headers.get("location"):
                return None
            return StatusAnswer(server, self._status_in(reply, server, None, file_id, deadline))
        except _SERVER_ANSWERS as exc:
            return StatusAnswer(server, None, exc)
        finally:
            reply.close()

    def _status_in(
        self, response: Reply, answered: Server, via: Server | None, file_id: str, deadline: Deadline
    ) -> FileStatus:
        """The file's status in a STATUS reply, or the error it is."""
        found = _status_document(response, answered, via, deadline)
        for file_status in found.files:
            if file_status.file_id == file_id:
                return file_status
        raise NotHere(where(answered, via), found.message or "STATUS lists no such file")

    # --- one transfer -------------------------------------------------------------------------

    def _fill(
        self,
        file_id: str,
        status: FileStatus,
        sink: _Sink,
        on_progress: ProgressCallback | None,
        holder: Server | None,
        deadline: Deadline,
    ) -> int:
        """Bring ``sink`` to the file's full size, resuming on every retry; returns bytes received.

        ``holder``, the server whose STATUS described the file (if known), is asked first.
        """

        def receive(server: Server) -> None:
            self._receive(server, file_id, status.file_version, sink, on_progress, deadline)

        if sink.offset < sink.size:
            try:
                self._on_any_server(file_id, receive, deadline, holder)
            except ArchiveFileMissing as exc:
                # STATUS found it in the archive's database: its node is stopped or OFFLINE, not gone.
                raise ArchiveUnavailable(
                    file_id, f"NGAS lists the file but no node serves it now (its node may be stopped or "
                    f"OFFLINE): {exc.ngas_message}",
                ) from None
        return sink.received

    def _receive(
        self, server: Server, file_id: str, version: int, sink: _Sink, on_progress: ProgressCallback | None,
        deadline: Deadline,
    ) -> None:
        start = sink.offset
        headers = {"Range": f"bytes={start}-"} if start else {}
        answered, via = server, None
        try:
            with open_reply(self.http, server, "RETRIEVE", _file_params(file_id, version), headers, deadline,
                            self.redirects) as (response, answered, via):
                raise_for_error(response, answered, via, deadline)
                _check_reply(response, file_id, where(answered, via), sink, start)
                # Received into this thread's buffer and written from it as it arrives (no copy, no new
                # object per read): what came before a drop is on disk. One byte more than the file
                # is asked for, so that a body longer than the file is seen.
                buffer = _read_buffer()
                while count := response.readinto(buffer[:min(READ_BYTES, sink.size - sink.offset + 1)]):
                    if sink.offset + count > sink.size:
                        raise BadReply(f"{where(answered, via)} sent more than the file's {sink.size:,} B")
                    sink.write(buffer[:count])
                    if on_progress is not None:
                        on_progress(sink.offset, sink.size)
                    if deadline.left() <= 0:
                        deadline.check(f"RETRIEVE of {file_id} ({sink.offset:,} of {sink.size:,} bytes held)")
        except TransferError as exc:
            sink.flush()
            raise Transient(f"{exc} from {where(answered, via)} after {sink.offset:,} bytes") from None
        sink.flush()
        if sink.offset < sink.size:
            raise Transient(
                f"{where(answered, via)} ended the reply after {sink.offset:,} of {sink.size:,} bytes"
            )
@cache
def _tls_context() -> ssl.SSLContext:
    # Loading the system's certificates takes ~0.1 s: once per process, not once per request directory.
    return ssl.create_default_context()


def part_path(target: Path) -> Path:
    """Where a download of ``target`` accumulates until verified: ``<target>.part``."""
    return target.with_name(target.name + PART_SUFFIX)


def _file_params(file_id: str, version: int | None) -> dict[str, str]:
    params = {"file_id": file_id}
    if version is not None:
        params["file_version"] = str(version)
    return params


def _status_document(
    response: Reply, answered: Server, via: Server | None, deadline: Deadline
) -> NgamsStatus:
    """A STATUS reply's NgamsStatus document, or the error the reply is."""
    raise_for_error(response, answered, via, deadline)
    try:
        body, more = read_capped(response, MAX_STATUS_BYTES, deadline)
    except BadReply as exc:
        raise Transient(f"{where(answered, via)} answered STATUS unreadably: {exc}") from None
    if more:
        raise Transient(f"{where(answered, via)} answered STATUS with more than {MAX_STATUS_BYTES:,} bytes")
    try:
        return parse_status(body)
    except NotNgamsStatus as exc:
        raise Transient(
            f"{where(answered, via)} answered STATUS with something else than NgamsStatus ({exc})"
        ) from None


def _check_reply(response: Reply, file_id: str, server: str, sink: _Sink, start: int) -> None:
    """Decide from status and headers whether the reply carries the file's bytes from ``sink.offset``."""
    code = response.status_code
    if code not in (200, 206):
        raise BadReply(f"{server} answered HTTP {code} instead of the file")
    if response.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
        raise BadReply(f"{server} sent the file with a Content-Encoding, which NGAS never does")
    content_type = response.headers.get("content-type", "").lower()
    if content_type.startswith(_HTML_TYPES):
        raise BadReply(f"{server} answered HTTP {code} with an HTML page instead of the file")
    content_range = response.headers.get("content-range")
    if start and content_range is None:
        if code == 206:
            raise BadReply(f"{server} answered 206 without Content-Range")
        # The server ignored the Range: the body is the whole file.
        log.info("ngas.range_ignored %s", fields(file_id=file_id, server=server, offset=start))
        sink.restart()
    elif content_range is not None:
        _check_content_range(content_range, server, sink.offset, sink.size)
    length = response.headers.get("content-length")
    remaining = sink.size - sink.offset
    if length is not None and length.strip() != str(remaining):
        raise BadReply(
            f"{server} announced {length.strip()} bytes where {remaining:,} remain of the file's "
            f"{sink.size:,}"
        )


def _plainly_the_file(response: Reply, size: int) -> bool:
    """A 200 that announces exactly ``size`` bytes, unencoded, not HTML, not a part of the file."""
    headers = response.headers
    return (
        response.status_code == 200
        and headers.get("content-encoding", "identity").strip().lower() in ("", "identity")
        and not headers.get("content-type", "").lower().startswith(_HTML_TYPES)
        and headers.get("content-range") is None
        and (headers.get("content-length") or "").strip() == str(size)
    )


def _check_content_range(content_range: str, server: str, offset: int, size: int) -> None:
    # NGAS answers a Range with 200 (not 206) and this header; proxies answer 206.
    match = _CONTENT_RANGE.match(content_range.strip())
    if match is None:
        raise BadReply(f"{server} sent an unreadable Content-Range {content_range!r}")
    first, last, total = (int(value) for value in match.groups())
    if (first, last, total) != (offset, size - 1, size):
        raise BadReply(
            f"{server} sent bytes {first}-{last}/{total} where {offset}-{size - 1}/{size} was asked"
        )


def _checked_expectations(
    file_id: str, status: FileStatus, expected_size: int | None
) -> ExpectedChecksum:
    """NGAS's checksum of the file, once its size agrees with the archive metadata's; a file without a
    checksum this client can compute is refused as unverifiable: its size alone proves nothing."""
    if expected_size is not None and status.plain_size != expected_size:
        what = "UncompressedFileSize" if status.compressed else "FileSize"
        raise DownloadNotVerified(
            file_id, f"NGAS's {what} {status.plain_size:,} differs from the archive metadata's STORED_SIZE "
            f"{expected_size:,}; not fetched",
        )
    if status.compressed and (status.compression or "").strip().lower() != "gzip":
        raise DownloadNotVerified(
            file_id, f"NGAS stores it compressed with {status.compression!r}, which almamirror cannot "
            "decompress (only gzip); not fetched",
        )
    if status.checksum is None or status.checksum_plugin is None:
        raise ChecksumUnknown(file_id, "NGAS gives no checksum for it, so it cannot be verified; not fetched")
    try:
        return expected_checksum(status.checksum_plugin, status.checksum)
    except UnknownChecksum as exc:
        raise ChecksumUnknown(
            file_id, f"{exc}: almamirror cannot verify it (it computes {', '.join(sorted(PLUGINS))}); "
            "not fetched"
        ) from None


def _verification_problem(computed: int, held: int, status: FileStatus, checksum: ExpectedChecksum) -> str:
    if held != status.file_size:
        return f"received {held:,} bytes, but NGAS's FileSize is {status.file_size:,}"
    if not checksum.matches(computed):
        return (
            f"checksum mismatch: {checksum.algorithm} of the bytes received is {computed & 0xFFFFFFFF}, "
            f"NGAS has {checksum.stored} ({checksum.plugin})"
        )
    return ""


def _inflate(
    compressed: _PartFile, target: Path, status: FileStatus, expected_size: int | None, deadline: Deadline
) -> str:
    """Decompress a verified ``.gz.part`` into ``target`` (through ``target.part``); what is wrong, or "".

    Both files are opened without following a symbolic link, and each must still be the file this
    download wrote when it is read or renamed."""
    compressed.check_unchanged()
    part = part_path(target)
    with os.fdopen(open_file(compressed.part, os.O_RDONLY), "rb") as source, \
            os.fdopen(open_file(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as sink:
        if not same_file(source, compressed.part) or not same_file(compressed.fd, compressed.part):
            raise _PartChanged(f"{compressed.part} was replaced while it was verified; not put in place")
        problem = _inflate_into(source, sink, status, expected_size, deadline)
        if not problem:
            sink.flush()
            os.fsync(sink.fileno())
            if not same_file(sink, part):
                raise _PartChanged(f"{part} was replaced while it was written; not put in place")
    if problem:
        part.unlink(missing_ok=True)
        return problem
    part.replace(target)
    return ""


def _inflate_into(
    source: BinaryIO, sink: BinaryIO, status: FileStatus, expected_size: int | None, deadline: Deadline
) -> str:
    size = status.plain_size
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    written = 0
    try:
        while chunk := source.read(_INFLATE_CHUNK):
            data = chunk
            while data:
                # Never more than one byte past the size NGAS gives: a bomb stops here.
                out = inflater.decompress(data, size + 1 - written)
                data = inflater.unconsumed_tail
                sink.write(out)
                written += len(out)
                if written > size:
                    return f"it decompresses to more than NGAS's UncompressedFileSize {size:,}"
            deadline.check("decompressing")
    except zlib.error as exc:
        return f"the gzip data NGAS sent does not decompress ({exc})"
    if not inflater.eof or written != size:
        return f"it decompresses to {written:,} bytes, NGAS's UncompressedFileSize is {size:,}"
    if expected_size is not None and written != expected_size:
        return f"it decompresses to {written:,} bytes, the STORED_SIZE is {expected_size:,}"
    return ""


def _inflated(content: bytes, status: FileStatus, expected_size: int | None) -> tuple[bytes, str]:
    """A compressed document's bytes, decompressed within NGAS's UncompressedFileSize; or what is wrong."""
    size = status.plain_size
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        plain = inflater.decompress(content, size + 1)
    except zlib.error as exc:
        return b"", f"the gzip data NGAS sent does not decompress ({exc})"
    if len(plain) != size or not inflater.eof:
        return b"", f"it does not decompress to NGAS's UncompressedFileSize {size:,}"
    if expected_size is not None and len(plain) != expected_size:
        return b"", f"it decompresses to {len(plain):,} bytes, the STORED_SIZE is {expected_size:,}"
    return plain, ""


def _log_download(download: Download) -> None:
    if not log.isEnabledFor(logging.INFO):
        return  # its fields are not formatted for nothing, once per file
    rate = download.received / download.seconds / 1e6 if download.seconds > 0 else 0.0
    log.info("ngas.downloaded %s", fields(
        file_id=download.file_id, bytes=download.size, received=download.received,
        resumed_from=download.resumed_from, seconds=round(download.seconds, 3), mb_per_s=round(rate, 1),
    ))


class _PartFile:
    """``<target>.part``: appended to, checksummed as it grows, renamed into place when verified.

    Written through its descriptor, without a buffer: each piece received is one ``write`` of the
    thread's receive buffer. The writeback of a large file is started as it is written (every
    ``WRITEBACK_BYTES``), so that the fsync before its rename does not write it all at the end."""

    def __init__(self, part: Path, size: int, algorithm: str) -> None:
        self.part = part
        self.size = size
        self.checksum = RunningChecksum(algorithm)
        # Never through a symbolic link planted as the .part: it would append to whatever it names.
        self.fd = open_file(part, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self.closed = False
        existing = os.fstat(self.fd).st_size
        if existing > size:
            os.ftruncate(self.fd, 0)
            existing = 0
        if existing:
            # A resumed file's checksum covers the bytes already held: read them once.
            self.checksum.value = checksum_of_file(part, algorithm, existing)
        self.offset = existing
        self.resumed_from = existing
        self.received = 0
        self._written_back = existing  # where the writeback started last

    def write(self, chunk: bytes | memoryview) -> None:
        written = os.write(self.fd, chunk)
        while written < len(chunk):  # a regular file takes it whole, unless the disk is full (an error)
            written += os.write(self.fd, chunk[written:])
        self.checksum.update(chunk)
        self.offset += written
        self.received += written
        if self.offset - self._written_back >= WRITEBACK_BYTES:
            _start_writeback(self.fd, self._written_back, self.offset - self._written_back)
            self._written_back = self.offset

    def restart(self) -> None:
        os.ftruncate(self.fd, 0)  # appended to: the next write goes to the start
        self.checksum.reset()
        self.offset = 0
        self.resumed_from = 0
        self._written_back = 0

    def flush(self) -> None:
        pass  # nothing is buffered

    def check_unchanged(self) -> int:
        """``_PartChanged`` unless the ``.part`` is still this file, of exactly the bytes verified; its
        modification time."""
        held = os.fstat(self.fd)
        try:
            there = self.part.lstat()
        except FileNotFoundError:
            there = None
        same = there is not None and (there.st_dev, there.st_ino) == (held.st_dev, held.st_ino)
        if held.st_size != self.offset or not same:
            raise _PartChanged(
                f"{self.part} changed while it was written ({held.st_size:,} bytes for {self.offset:,} "
                "received; another process writes it?); not put in place"
            )
        return held.st_mtime_ns

    def commit(self, target: Path) -> int:
        """fsync, check and rename the ``.part`` to ``target``; the file's modification time."""
        os.fsync(self.fd)
        # What is renamed must be exactly the bytes verified: the same file, of the verified size.
        mtime_ns = self.check_unchanged()
        self.close()
        self.part.replace(target)
        return mtime_ns

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)

    def discard(self) -> None:
        self.close()
        self.part.unlink(missing_ok=True)


_SYNC_FILE_RANGE_WRITE: Final = 2  # <linux/fs.h>: start writing the range's dirty pages, do not wait


@cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's ``sync_file_range`` (not in ``os``), or None where there is none."""
    import ctypes  # here: only a file larger than WRITEBACK_BYTES needs it

    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing ``length`` bytes at ``offset`` to disk without waiting (what the fsync before the
    rename then waits for is the last few MiB, not the whole file). Advisory: a failure changes nothing."""
    function = _sync_file_range()
    if function is not None:
        function(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


_buffers = threading.local()


def _read_buffer() -> memoryview:
    """This thread's receive buffer (``READ_BYTES``), made once per thread: no allocation per read."""
    buffer: memoryview | None = getattr(_buffers, "view", None)
    if buffer is None:
        buffer = _buffers.view = memoryview(bytearray(READ_BYTES))
    return buffer


class _Memory:
    def __init__(self, size: int, algorithm: str) -> None:
        self.size = size
        self.offset = 0
        self.received = 0
        self.buffer = bytearray()
        self.checksum = RunningChecksum(algorithm)

    def write(self, chunk: bytes | memoryview) -> None:
        self.buffer += chunk
        self.checksum.update(chunk)
        self.offset += len(chunk)
        self.received += len(chunk)

    def restart(self) -> None:
        self.buffer.clear()
        self.checksum.reset()
        self.offset = 0

    def flush(self) -> None:
        pass


def fsync_directory(directory: Path) -> None:
    """Make the renames into ``directory`` durable: a rename is only once the directory entry is on disk."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

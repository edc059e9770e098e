"""HTTP client of NGAS: STATUS, RETRIEVE streamed to ``<target>.part`` and verified, resume, retries.

Every download is checked against NGAS's own ``FileSize`` and checksum (and the caller's expected size):
the status code alone never decides that the bytes are the file. Transient failures (connection errors,
read timeouts, 5xx) are retried with exponential backoff on one server, then on the next configured URL;
a reply that is not the file (an HTML page, the wrong size, a checksum mismatch) is discarded and the
file fetched again, a bounded number of times. URLs in messages and logs never carry credentials.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Protocol, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from etl.database import mask_url
from etl.errors import (
    ArchiveFileMissing,
    ArchiveRefused,
    ArchiveUnavailable,
    ConfigurationError,
    DownloadNotVerified,
)
from etl.logs import fields
from etl.ngas.checksums import (
    CRC32,
    ExpectedChecksum,
    RunningChecksum,
    UnknownChecksum,
    checksum_of_file,
    expected_checksum,
)
from etl.ngas.status import MAX_STATUS_BYTES, FileStatus, NotNgamsStatus, error_message, parse_status
from etl.safe_files import open_append, same_file
from etl.settings import ArchiveSettings

log = logging.getLogger(__name__)

PART_SUFFIX: Final = ".part"
# How often a reply that is not the file (HTML, wrong size, wrong checksum) is fetched again.
BAD_REPLY_LIMIT: Final = 3
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+)\s*$", re.I)
_HTML_TYPES = ("text/html", "application/xhtml")
_HTML_START = (b"<!doctype html", b"<html")

T = TypeVar("T")
# Called with (bytes of the file held so far, the file's size) as a download goes on.
ProgressCallback = Callable[[int, int], None]


class _Transient(Exception):
    """A failure worth retrying: connection error, read timeout, 5xx, a reply cut short."""


class _BadReply(Exception):
    """A reply that is not the file."""


class _PartChanged(Exception):
    """The .part is not what this download wrote (another writer, or replaced): never put in place."""


@dataclass(frozen=True)
class Download:
    """A verified file, in place under its target name."""

    file_id: str
    path: Path
    size: int
    checksum: ExpectedChecksum | None
    resumed_from: int  # bytes of an earlier .part kept (0: from the start)
    received: int  # bytes received over the network by this download
    seconds: float


@dataclass(frozen=True)
class FetchedDocument:
    """A small file received whole and verified: NGAS's description of it, and its bytes."""

    status: FileStatus
    content: bytes


@dataclass(frozen=True)
class _Server:
    base: str  # without credentials
    auth: httpx.BasicAuth | None
    name: str  # masked, for messages

    def url(self, command: str) -> str:
        return f"{self.base.rstrip('/')}/{command}"


def _server(url: str) -> _Server:
    parts = urlsplit(url)
    auth = None
    if parts.username is not None:
        auth = httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    base = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return _Server(base, auth, mask_url(url))


class _Sink(Protocol):
    """Where the bytes of one download go: a ``.part`` file, or memory for small documents."""

    offset: int
    size: int
    received: int  # bytes that came over the network, over every attempt

    def write(self, chunk: bytes) -> None: ...
    def restart(self) -> None: ...
    def flush(self) -> None: ...


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
        self.servers = [_server(url) for url in settings.ngas_urls]
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.bad_reply_limit = bad_reply_limit
        connections = settings.workers + 2
        self.http = httpx.Client(
            timeout=httpx.Timeout(
                connect=settings.connect_timeout, read=settings.read_timeout,
                write=settings.read_timeout, pool=None,
            ),
            follow_redirects=True,  # NGAS answers 303 for files another node holds
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            headers={"User-Agent": "almamirror"},
        )

    def __enter__(self) -> NgasClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # --- what callers use ---------------------------------------------------------------------

    def status(self, file_id: str, version: int | None = None) -> FileStatus:
        """NGAS's size and checksum of a file (the highest version unless ``version``)."""
        return self._located_status(file_id, version)[0]

    def download(
        self,
        file_id: str,
        target: Path,
        expected_size: int | None = None,
        version: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Download:
        """Fetch a file to ``target`` through ``target.part``, resuming a ``.part`` left by an earlier run.

        The file appears under ``target`` only when its size and checksum are verified, fsynced.
        """
        started = time.monotonic()
        status, holder = self._located_status(file_id, version)
        checksum = _checked_expectations(file_id, status, expected_size)
        algorithm = checksum.algorithm if checksum is not None else CRC32
        part = part_path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        problem = ""
        for attempt in range(1, self.bad_reply_limit + 1):
            sink = _PartFile(part, status.file_size, algorithm)
            try:
                received = self._fill(file_id, status, sink, on_progress, holder)
                problem = _verification_problem(sink.checksum.value, sink.offset, status, checksum)
                if not problem:
                    try:
                        sink.commit(target)
                    except _PartChanged as changed:
                        raise DownloadNotVerified(file_id, str(changed)) from None
                    download = Download(
                        file_id, target, status.file_size, checksum, sink.resumed_from, received,
                        time.monotonic() - started,
                    )
                    _log_download(download)
                    return download
            except _BadReply as bad:
                problem = str(bad)
            finally:
                sink.close()
            sink.discard()
            log.warning("ngas.discarded %s", fields(file_id=file_id, attempt=attempt, reason=problem))
        raise DownloadNotVerified(
            file_id, f"{problem}; discarded {self.bad_reply_limit} time(s), giving up"
        )

    def fetch_document(
        self, file_id: str, expected_size: int | None = None, max_bytes: int = 1 << 24
    ) -> FetchedDocument:
        """A small archived document (a pipeline manifest, a restore script), verified, in memory."""
        status, holder = self._located_status(file_id, None)
        if status.file_size > max_bytes:
            raise DownloadNotVerified(
                file_id, f"it is {status.file_size:,} bytes, more than the {max_bytes:,} a document may be"
            )
        checksum = _checked_expectations(file_id, status, expected_size)
        problem = ""
        for attempt in range(1, self.bad_reply_limit + 1):
            sink = _Memory(status.file_size, checksum.algorithm if checksum is not None else CRC32)
            try:
                self._fill(file_id, status, sink, None, holder)
                problem = _verification_problem(sink.checksum.value, sink.offset, status, checksum)
                if not problem:
                    return FetchedDocument(status, bytes(sink.buffer))
            except _BadReply as bad:
                problem = str(bad)
            log.warning("ngas.discarded %s", fields(file_id=file_id, attempt=attempt, reason=problem))
        raise DownloadNotVerified(file_id, f"{problem}; discarded {self.bad_reply_limit} time(s), giving up")

    def verify_local(self, path: Path, status: FileStatus) -> bool:
        """Whether a file on disk is the archived file: its size and NGAS's checksum."""
        try:
            if path.stat().st_size != status.file_size:
                return False
        except FileNotFoundError:
            return False
        checksum = _checked_expectations(status.file_id, status, None)
        if checksum is None:
            return True
        return checksum.matches(checksum_of_file(path, checksum.algorithm))

    # --- servers, retries -----------------------------------------------------------------------

    def _on_any_server(
        self, file_id: str, operation: Callable[[_Server], T], first: _Server | None = None
    ) -> T:
        """Each configured server in order (``first`` before them), each with retries; 404 everywhere
        means missing."""
        missing: ArchiveFileMissing | None = None
        unavailable = ""
        servers = self.servers if first is None else [
            first, *(server for server in self.servers if server.base != first.base)
        ]
        for server in servers:
            try:
                return self._with_retries(file_id, server, operation)
            except _Transient as exc:
                unavailable = str(exc)
                log.warning("ngas.server_unavailable %s", fields(file_id=file_id, server=server.name,
                                                                  reason=unavailable))
            except ArchiveFileMissing as exc:
                missing = missing or exc
        if unavailable:
            raise ArchiveUnavailable(file_id, unavailable)
        assert missing is not None
        raise missing

    def _with_retries(self, file_id: str, server: _Server, operation: Callable[[_Server], T]) -> T:
        def before_sleep(state: RetryCallState) -> None:
            outcome = state.outcome.exception() if state.outcome is not None else None
            log.warning("ngas.retry %s", fields(
                file_id=file_id, server=server.name, attempt=state.attempt_number,
                wait_seconds=round(state.upcoming_sleep, 2), reason=str(outcome),
            ))

        retrying = Retrying(
            stop=stop_after_attempt(self.settings.retries + 1),
            wait=wait_exponential_jitter(
                multiplier=self.backoff_seconds, max=self.max_backoff_seconds, jitter=self.backoff_seconds
            ),
            retry=retry_if_exception_type(_Transient),
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(operation, server)

    def _located_status(self, file_id: str, version: int | None) -> tuple[FileStatus, _Server]:
        """The file's status and the node that answered it: after NGAS's 303, the one holding the file."""
        return self._on_any_server(file_id, lambda server: self._status_from(server, file_id, version))

    def _status_from(
        self, server: _Server, file_id: str, version: int | None
    ) -> tuple[FileStatus, _Server]:
        try:
            response = self.http.get(server.url("STATUS"), params=_file_params(file_id, version),
                                     auth=server.auth or httpx.USE_CLIENT_DEFAULT)
        except httpx.RequestError as exc:
            raise _Transient(_transport_problem(server, exc)) from None
        _raise_for_error(response.status_code, response.content, file_id, server)
        try:
            found = parse_status(response.content)
        except NotNgamsStatus as exc:
            raise _Transient(f"{server.name} answered STATUS with something else than NgamsStatus ({exc})") \
                from None
        for file_status in found.files:
            if file_status.file_id == file_id:
                return file_status, _holder(server, response.url)
        raise ArchiveFileMissing(file_id, found.message or "STATUS lists no such file")

    # --- one transfer -------------------------------------------------------------------------

    def _fill(
        self,
        file_id: str,
        status: FileStatus,
        sink: _Sink,
        on_progress: ProgressCallback | None,
        holder: _Server | None = None,
    ) -> int:
        """Bring ``sink`` to the file's full size, resuming on every retry; returns bytes received.

        ``holder``, the node whose STATUS described the file, is asked first: a RETRIEVE there needs
        no second 303 (the configured servers follow if it fails).
        """

        def receive(server: _Server) -> None:
            self._receive(server, file_id, status.file_version, sink, on_progress)

        if sink.offset < sink.size:
            self._on_any_server(file_id, receive, holder)
        return sink.received

    def _receive(
        self, server: _Server, file_id: str, version: int, sink: _Sink, on_progress: ProgressCallback | None
    ) -> None:
        start = sink.offset
        headers = {"Range": f"bytes={start}-"} if start else {}
        try:
            with self.http.stream(
                "GET", server.url("RETRIEVE"), params=_file_params(file_id, version), headers=headers,
                auth=server.auth or httpx.USE_CLIENT_DEFAULT,
            ) as response:
                _check_reply(response, file_id, server, sink, start)
                # Chunks as they arrive, not re-chunked: what came before a drop is on disk.
                for chunk in response.iter_raw():
                    if sink.offset + len(chunk) > sink.size:
                        raise _BadReply(f"{server.name} sent more than the file's {sink.size:,} bytes")
                    sink.write(chunk)
                    if on_progress is not None:
                        on_progress(sink.offset, sink.size)
        except httpx.RequestError as exc:
            sink.flush()
            raise _Transient(_transport_problem(server, exc, sink.offset)) from None
        sink.flush()
        if sink.offset < sink.size:
            raise _Transient(
                f"{server.name} ended the reply after {sink.offset:,} of {sink.size:,} bytes"
            )


def _holder(asked: _Server, answered: httpx.URL) -> _Server:
    """The node that answered ``asked``'s STATUS, possibly after a 303; credentials only for ``asked``'s
    own origin, as httpx itself drops them when a redirect leaves it."""
    prefix = answered.path.rsplit("/", 1)[0]
    base = urlunsplit((answered.scheme, answered.netloc.decode("ascii"), prefix, "", ""))
    if base.rstrip("/") == asked.base.rstrip("/"):
        return asked
    same_origin = urlsplit(base)[:2] == urlsplit(asked.base)[:2]
    return _Server(base, asked.auth if same_origin else None, mask_url(base))


def part_path(target: Path) -> Path:
    """Where a download of ``target`` accumulates until verified: ``<target>.part``."""
    return target.with_name(target.name + PART_SUFFIX)


def _file_params(file_id: str, version: int | None) -> dict[str, str]:
    params = {"file_id": file_id}
    if version is not None:
        params["file_version"] = str(version)
    return params


def _transport_problem(server: _Server, exc: httpx.RequestError, offset: int | None = None) -> str:
    where = f" after {offset:,} bytes" if offset else ""
    detail = str(exc) or type(exc).__name__
    return f"{type(exc).__name__} from {server.name}{where}: {mask_url(detail)}"


def _raise_for_error(code: int, body: bytes, file_id: str, server: _Server) -> None:
    """NGAS errors come as NgamsStatus with a 4xx/5xx status: missing, refused, or try later."""
    if code < 400:
        return
    message = error_message(body[:MAX_STATUS_BYTES]) or f"HTTP {code} from {server.name}"
    if code == 404:
        raise ArchiveFileMissing(file_id, message)
    if code >= 500 or code in (408, 429):
        raise _Transient(f"{server.name} answered HTTP {code}: {message}")
    raise ArchiveRefused(file_id, code, message)


def _check_reply(response: httpx.Response, file_id: str, server: _Server, sink: _Sink, start: int) -> None:
    """Decide from status and headers whether the reply carries the file's bytes from ``sink.offset``."""
    code = response.status_code
    if code >= 400:
        body = b""
        for chunk in response.iter_raw(64 * 1024):
            body += chunk
            if len(body) > MAX_STATUS_BYTES:
                break
        _raise_for_error(code, body, file_id, server)
    if code not in (200, 206):
        raise _BadReply(f"{server.name} answered HTTP {code} instead of the file")
    content_type = response.headers.get("content-type", "").lower()
    if content_type.startswith(_HTML_TYPES):
        raise _BadReply(f"{server.name} answered HTTP {code} with an HTML page instead of the file")
    content_range = response.headers.get("content-range")
    if start and content_range is None:
        if code == 206:
            raise _BadReply(f"{server.name} answered 206 without Content-Range")
        # The server ignored the Range: the body is the whole file.
        log.info("ngas.range_ignored %s", fields(file_id=file_id, server=server.name, offset=start))
        sink.restart()
    elif content_range is not None:
        _check_content_range(content_range, server, sink.offset, sink.size)
    length = response.headers.get("content-length")
    remaining = sink.size - sink.offset
    if length is not None and length.strip() != str(remaining):
        raise _BadReply(
            f"{server.name} announced {length.strip()} bytes where {remaining:,} remain of the file's "
            f"{sink.size:,}"
        )


def _check_content_range(content_range: str, server: _Server, offset: int, size: int) -> None:
    # NGAS answers a Range with 200 (not 206) and this header; proxies answer 206.
    match = _CONTENT_RANGE.match(content_range.strip())
    if match is None:
        raise _BadReply(f"{server.name} sent an unreadable Content-Range {content_range!r}")
    first, last, total = (int(value) for value in match.groups())
    if (first, last, total) != (offset, size - 1, size):
        raise _BadReply(
            f"{server.name} sent bytes {first}-{last}/{total} where {offset}-{size - 1}/{size} was asked"
        )


def _checked_expectations(
    file_id: str, status: FileStatus, expected_size: int | None
) -> ExpectedChecksum | None:
    if expected_size is not None and status.file_size != expected_size:
        raise DownloadNotVerified(
            file_id, f"NGAS's FileSize {status.file_size:,} differs from the archive metadata's STORED_SIZE "
            f"{expected_size:,}; not fetched",
        )
    if status.checksum is None or status.checksum_plugin is None:
        log.warning("ngas.no_checksum %s", fields(file_id=file_id))
        return None
    try:
        return expected_checksum(status.checksum_plugin, status.checksum)
    except UnknownChecksum as exc:
        log.warning("ngas.unknown_checksum %s", fields(file_id=file_id, reason=str(exc)))
        return None


def _verification_problem(
    computed: int, held: int, status: FileStatus, checksum: ExpectedChecksum | None
) -> str:
    if held != status.file_size:
        return f"received {held:,} bytes, but NGAS's FileSize is {status.file_size:,}"
    if checksum is not None and not checksum.matches(computed):
        return (
            f"checksum mismatch: {checksum.algorithm} of the bytes received is {computed & 0xFFFFFFFF}, "
            f"NGAS has {checksum.stored} ({checksum.plugin})"
        )
    return ""


def _log_download(download: Download) -> None:
    rate = download.received / download.seconds / 1e6 if download.seconds > 0 else 0.0
    log.info("ngas.downloaded %s", fields(
        file_id=download.file_id, bytes=download.size, received=download.received,
        resumed_from=download.resumed_from, seconds=round(download.seconds, 3), mb_per_s=round(rate, 1),
    ))


class _PartFile:
    """``<target>.part``: appended to, checksummed as it grows, renamed into place when verified."""

    def __init__(self, part: Path, size: int, algorithm: str) -> None:
        self.part = part
        self.size = size
        self.checksum = RunningChecksum(algorithm)
        # Never through a symbolic link planted as the .part: it would append to whatever it names.
        self.handle = open_append(part)
        existing = os.fstat(self.handle.fileno()).st_size
        if existing > size:
            self.handle.truncate(0)
            existing = 0
        if existing:
            # A resumed file's checksum covers the bytes already held: read them once.
            self.checksum.value = checksum_of_file(part, algorithm, existing)
        self.offset = existing
        self.resumed_from = existing
        self.received = 0

    def write(self, chunk: bytes) -> None:
        self.handle.write(chunk)
        self.checksum.update(chunk)
        self.offset += len(chunk)
        self.received += len(chunk)

    def restart(self) -> None:
        self.handle.truncate(0)
        self.handle.seek(0)
        self.checksum.reset()
        self.offset = 0
        self.resumed_from = 0

    def flush(self) -> None:
        self.handle.flush()

    def commit(self, target: Path) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        # What is renamed must be exactly the bytes verified: the same file, of the verified size.
        held = os.fstat(self.handle.fileno()).st_size
        if held != self.offset or not same_file(self.handle, self.part):
            raise _PartChanged(
                f"{self.part} changed while it was written ({held:,} bytes for {self.offset:,} "
                "received; another process writes it?); not put in place"
            )
        self.handle.close()
        self.part.replace(target)
        _fsync_directory(target.parent)

    def close(self) -> None:
        if not self.handle.closed:
            self.handle.close()

    def discard(self) -> None:
        self.close()
        self.part.unlink(missing_ok=True)


class _Memory:
    def __init__(self, size: int, algorithm: str) -> None:
        self.size = size
        self.offset = 0
        self.received = 0
        self.buffer = bytearray()
        self.checksum = RunningChecksum(algorithm)

    def write(self, chunk: bytes) -> None:
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


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

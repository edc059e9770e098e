"""One request to an NGAS node: redirects followed by hand, NGAS's errors classified, bodies read in bounds.

Redirects are followed here, for two reasons: an error must name the node that failed (the 303's target,
not the node first asked), and credentials must go along to the archive's other nodes and to no other
host. Requests go over keep-alive HTTP/1.1 connections shared by the fetch's threads (``Connections``),
read here rather than by ``http.client``: a request is one write, a reply's headers a few lines split
without the ``email`` parser (a third of the CPU per request), and a body is received straight into
the caller's buffer (``Reply.readinto``), up to 1 MiB per read.
"""

from __future__ import annotations

import io
import re
import select
import socket
import ssl
import threading
import time
import zlib
from base64 import b64encode
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, overload
from urllib.parse import SplitResult, unquote, urlencode, urljoin, urlsplit, urlunsplit

from etl.logs import mask_url
from etl.ngas.status import MAX_STATUS_BYTES, error_message

MAX_REDIRECTS: Final = 5
REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_UNAVAILABLE_FILE: Final = "NGAMS_ER_UNAVAIL_FILE"
_IMPROPER_STATE: Final = "NGAMS_ER_IMPROPER_STATE"
# The most one read of a body asks of the socket: it returns what has arrived, up to this. (64 KiB reads
# cost a large download CPU that, on two loaded cores, held it to half of curl's rate.)
READ_BYTES: Final = 1 << 20
# Idle keep-alive connections kept per node.
IDLE_PER_NODE: Final = 16
# Pipelined requests (``Connections.get_pipelined``) sent and not yet answered, at most: few enough that
# neither side's socket buffer fills while the other waits (deadlock), enough that one write sends many.
PIPELINE_DEPTH: Final = 16
_HEADERS: Final = {"User-Agent": "almamirror", "Accept-Encoding": "identity"}
# A connection's read buffer: a reply's status line and headers, and the start of its body, in one read.
_BUFFER_BYTES: Final = 1 << 16
_MAX_LINE: Final = 1 << 16
_MAX_HEADERS: Final = 100
_NOT_IN_TARGET: Final = re.compile(r"[\x00-\x20\x7f]")
_NOT_IN_HEADER: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Server:
    """An NGAS node: its base URL (without credentials), the credentials sent to it, its name for messages."""

    base: str
    authorization: str | None  # the Authorization header sent to it (HTTP Basic), never logged
    name: str

    def url(self, command: str) -> str:
        return f"{self.base.rstrip('/')}/{command}"

    @property
    def host(self) -> str:
        return (urlsplit(self.base).hostname or "").lower()


def server_of(url: str) -> Server:
    """The node of a configured URL, its credentials taken out of the URL."""
    parts = urlsplit(url)
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + b64encode(pair).decode("ascii")
    base = urlunsplit((parts.scheme, _netloc(parts.hostname or "", parts.port), parts.path, "", ""))
    return Server(base, authorization, mask_url(url))


def _netloc(host: str, port: int | None) -> str:
    netloc = f"[{host}]" if ":" in host else host
    return netloc if port is None else f"{netloc}:{port}"


def where(server: Server, via: Server | None) -> str:
    """A node as messages name it: the redirect's target, and who sent the client there."""
    return server.name if via is None else f"{server.name} (where {via.name} redirected)"


class ConnectError(Exception):
    """No connection to the node: refused, unreachable, a name that does not resolve, a connect timeout."""


class TransferError(Exception):
    """The connection failed while a reply was read: reset, closed early, a read timeout."""


class Transient(Exception):
    """Worth retrying on the same node: a connection error, a read timeout, 5xx, a reply cut short."""


class Unreachable(Transient):
    """The node refused the connection (or never answered it); ``redirected``: it was a 303's target;
    ``node``: its base URL."""

    def __init__(self, message: str, redirected: bool, node: str = "") -> None:
        super().__init__(message)
        self.redirected = redirected
        self.node = node


class NotHere(Exception):
    """The node answered ``NGAMS_ER_UNAVAIL_FILE``: it does not have the file (another node may)."""

    def __init__(self, server: str, message: str) -> None:
        super().__init__(f"{server}: {message}")
        self.server = server
        self.message = message  # NGAS's own words, the same from every node


class Offline(Exception):
    """The node answered ``NGAMS_ER_IMPROPER_STATE``: OFFLINE for maintenance, or otherwise not serving."""


class NotNgas(Exception):
    """The node answered 404, NGAS's "Command not found": the URL is not an NGAS server's."""


class Refused(Exception):
    """Any other 4xx: NGAS rejects the request itself (a login it refuses, a bad parameter)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class BadReply(Exception):
    """A reply that is not the file."""


class DeadlinePassed(Exception):
    """The transfer's overall deadline went by."""


@dataclass(frozen=True)
class Deadline:
    """When a whole operation (every attempt, every node) must be over; ``why`` says where it comes from."""

    at: float  # time.monotonic()
    why: str

    @classmethod
    def after(cls, seconds: float, why: str) -> Deadline:
        return cls(time.monotonic() + seconds, why)

    def left(self) -> float:
        return self.at - time.monotonic()

    def check(self, doing: str) -> None:
        if self.left() <= 0:
            raise DeadlinePassed(f"{doing} passed its deadline ({self.why})")

    def earlier(self, other: Deadline | None) -> Deadline:
        return self if other is None or self.at <= other.at else other

    def timeout(self, base: float) -> float:
        """``base`` shortened to the time left: no single connect or read waits past the deadline."""
        return min(base, max(self.left(), 0.001))


class _Connection:
    """One keep-alive HTTP/1.1 connection: its socket and the buffered reader kept for every reply on it."""

    def __init__(self, sock: socket.socket, host: str) -> None:
        self.sock = sock
        self.reader = io.BufferedReader(socket.SocketIO(sock, "rb"), _BUFFER_BYTES)
        self.host = host  # the Host header
        self.timeout: float | None = None  # the socket's, set only when it changes (a syscall each time)

    def set_timeout(self, seconds: float) -> None:
        if seconds != self.timeout:
            self.sock.settimeout(seconds)
            self.timeout = seconds

    def request(self, target: str, headers: dict[str, str]) -> None:
        """Send a GET in one write."""
        self.sock.sendall(self.encoded(target, headers))

    def encoded(self, target: str, headers: dict[str, str]) -> bytes:
        """A GET's bytes (``_ProtocolError`` for a control character where none may be)."""
        if _NOT_IN_TARGET.search(target) or any(
            _NOT_IN_HEADER.search(text) for header in headers.items() for text in header
        ):
            raise _ProtocolError("a control character or space where the request cannot have one")
        lines = [f"GET {target} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class _ProtocolError(Exception):
    """What the node sent is not HTTP/1.x as this client reads it (or the request could not be sent)."""


class Headers(dict[str, str]):
    """A reply's headers by lower-case name (the first of repeated ones); ``get`` takes any case."""

    @overload  # type: ignore[override]
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        return dict.get(self, name.lower(), default)


class Reply:
    """A node's reply: status, headers, the body read as it arrives; its connection kept if reusable.

    Bodies are framed by ``Content-Length``, chunked, or the connection's end (an HTTP/1.0 reply)."""

    def __init__(self, connection: _Connection, url: str, release: Callable[[bool], None]) -> None:
        self._reader = connection.reader
        self.url = url
        self._release = release
        self._closed = False
        self.status_code, version = _read_status(self._reader)
        self.headers = _read_headers(self._reader)
        tokens = (self.headers.get("connection") or "").lower()
        self._will_close = "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens)
        self._chunked = "chunked" in (self.headers.get("transfer-encoding") or "").lower()
        self._chunk_left = 0  # bytes left in the current chunk; -1 once the last chunk was read
        self._left: int | None = None  # bytes of the body still to come, when its length is known
        if self._chunked:
            pass
        elif self.status_code in (204, 304) or 100 <= self.status_code < 200:
            self._left = 0
        else:
            self._left = _content_length(self.headers.get("content-length"))
            if self._left is None:
                self._will_close = True  # the body ends with the connection

    def readinto(self, view: memoryview) -> int:
        """Bytes of the body that have arrived, at most ``len(view)``, read into ``view`` (one receive at
        most); 0 at the body's end. ``TransferError`` if the connection fails."""
        try:
            if self._chunked:
                return self._readinto_chunked(view)
            if self._left is not None:
                if self._left <= 0:
                    return 0
                if len(view) > self._left:
                    view = view[:self._left]
            count = self._reader.readinto1(view)
            if self._left is not None:
                if count == 0:
                    self._will_close = True  # cut short: the caller finds the bytes missing
                else:
                    self._left -= count
            return count
        except (OSError, ValueError, _ProtocolError) as exc:
            raise TransferError(type(exc).__name__) from None

    def iter_raw(self) -> Iterator[bytes]:
        """The body's bytes as they come, at most ``READ_BYTES`` at a time; ``TransferError`` if cut."""
        size = READ_BYTES if self._left is None else max(min(READ_BYTES, self._left), 1)
        view = memoryview(bytearray(size))
        while count := self.readinto(view):
            yield bytes(view[:count])

    def close(self) -> None:
        if self._closed:
            return  # a connection given back twice would serve two requests at once
        self._closed = True
        # Reusable only when the whole body was read and the node keeps the connection open.
        reusable = not self._will_close and not self._chunked and self._left == 0
        self._release(reusable)

    def _readinto_chunked(self, view: memoryview) -> int:
        if self._chunk_left < 0:
            return 0
        if self._chunk_left == 0:
            size_line = self._reader.readline(_MAX_LINE + 1)
            try:
                self._chunk_left = int(size_line.split(b";", 1)[0], 16)
            except ValueError:
                raise _ProtocolError(f"a chunk size {size_line[:40]!r}") from None
            if self._chunk_left == 0:
                _read_headers(self._reader)  # the trailer, up to its blank line
                self._chunk_left = -1
                return 0
        count = self._reader.readinto1(view[:min(len(view), self._chunk_left)])
        if count == 0:
            raise _ProtocolError("the reply ended within a chunk")
        self._chunk_left -= count
        if self._chunk_left == 0:
            self._reader.readline(_MAX_LINE + 1)  # the CRLF after the chunk's data
        return count


def _read_status(reader: io.BufferedReader[socket.SocketIO]) -> tuple[int, str]:
    """The status code and protocol of a reply's first line (``_ProtocolError`` if it is not one)."""
    while True:
        line = reader.readline(_MAX_LINE + 1)
        if not line:
            raise _ProtocolError("the node closed the connection without a reply")
        parts = line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit() \
                or len(parts[1]) != 3:
            raise _ProtocolError(f"a status line {line[:60]!r}")
        code = int(parts[1])
        if code != 100:
            return code, parts[0]
        _read_headers(reader)  # 100 Continue: its headers, then the real reply


def _read_headers(reader: io.BufferedReader[socket.SocketIO]) -> Headers:
    headers = Headers()
    name = ""
    for _ in range(_MAX_HEADERS):
        line = reader.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise _ProtocolError("a header line longer than 64 KiB")
        if line in (b"\r\n", b"\n", b""):
            return headers
        text = line.decode("latin-1")
        if text[0] in " \t" and name:  # a folded line continues the header before it
            headers[name] = f"{headers[name]} {text.strip()}"
            continue
        name, colon, value = text.partition(":")
        name = name.strip().lower()
        if not colon or not name:
            raise _ProtocolError(f"a header line {line[:60]!r}")
        if name not in headers:
            headers[name] = value.strip()
    raise _ProtocolError(f"more than {_MAX_HEADERS} headers")


def _content_length(value: str | None) -> int | None:
    """The body's length, or None when it runs to the connection's end (absent, unreadable, negative)."""
    if value is None:
        return None
    try:
        length = int(value.strip())
    except ValueError:
        return None
    return length if length >= 0 else None


class Connections:
    """Keep-alive connections to NGAS nodes, shared by threads; a thread takes one per request."""

    def __init__(
        self, connect_timeout: float, read_timeout: float, tls: Callable[[], ssl.SSLContext]
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._tls = tls
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}

    def get(self, url: str, headers: dict[str, str], deadline: Deadline) -> Reply:
        """GET ``url``: ``ConnectError`` without a connection, ``TransferError`` if it fails after."""
        key = _node_key(url)
        connection = self._take(key, deadline)
        target = _target_of(url)
        try:
            connection.set_timeout(deadline.timeout(self.read_timeout))
            connection.request(target, {**_HEADERS, **headers})
            reply = Reply(connection, url, lambda reusable: self._give_back(key, connection, reusable))
        except (OSError, ValueError, _ProtocolError) as exc:
            connection.close()
            raise TransferError(_failure(exc)) from None
        return reply

    def get_pipelined(
        self, urls: Sequence[str], headers: dict[str, str], deadline: Deadline
    ) -> Generator[Reply, None, None]:
        """GET each of ``urls`` (one node's) on one connection, the requests written ahead of the replies
        (HTTP/1.1 pipelining, several per write): the replies in order, each to be read whole and closed
        before the next is taken. One request goes first, then twice as many may wait after each reply,
        up to ``PIPELINE_DEPTH``: a caller that stops at the first reply (a node that is not NGAS, or
        refuses the login) has made one request, not a batch. Ends early, without an error,
        once the node closes the connection or a reply is not read whole: the requests not answered are
        the caller's to ask again. ``ConnectError`` without a connection; ``TransferError`` if the first
        reply fails (as ``get`` would), not a later one (the node may have closed before reading it)."""
        if not urls:
            return
        key = _node_key(urls[0])
        connection = self._take(key, deadline)
        sent = answered = 0
        window = 1  # one request first, twice as many waiting after each reply, up to PIPELINE_DEPTH
        released: list[bool] = []
        sent_headers = {**_HEADERS, **headers}
        try:
            while answered < len(urls):
                connection.set_timeout(deadline.timeout(self.read_timeout))
                if sent - answered <= window // 2 and sent < len(urls):
                    batch = urls[sent:answered + window]
                    connection.sock.sendall(b"".join(connection.encoded(_target_of(url), sent_headers)
                                                     for url in batch))
                    sent += len(batch)
                reply = Reply(connection, urls[answered], released.append)
                yield reply
                reply.close()  # (once more changes nothing)
                answered += 1
                if not released[-1]:
                    return  # closed by the node, or a body not read whole: the rest are asked again
                window = min(2 * window, PIPELINE_DEPTH)
        except (OSError, ValueError, _ProtocolError) as exc:
            if answered == 0:
                raise TransferError(_failure(exc)) from None
        finally:
            if answered == len(urls) and released and released[-1]:
                self._give_back(key, connection, True)
            else:
                connection.close()

    def close(self) -> None:
        with self._lock:
            idle = [connection for connections in self._idle.values() for connection in connections]
            self._idle.clear()
        for connection in idle:
            connection.close()

    def _take(self, key: tuple[str, str, int], deadline: Deadline) -> _Connection:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                connection = idle.pop() if idle else None
            if connection is None:
                return self._connect(key, deadline)
            if not _closed_by_peer(connection):
                return connection
            connection.close()

    def _connect(self, key: tuple[str, str, int], deadline: Deadline) -> _Connection:
        scheme, host, port = key
        timeout = deadline.timeout(self.connect_timeout)
        try:
            sock = socket.create_connection((host, port), timeout)
        except OSError as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from None
        try:
            # A request goes out at once (as curl sends it): a file costs a STATUS and a RETRIEVE or two.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = self._tls().wrap_socket(sock, server_hostname=host)
        except OSError as exc:
            sock.close()
            raise ConnectError(str(exc) or type(exc).__name__) from None
        default = 443 if scheme == "https" else 80
        connection = _Connection(sock, _netloc(host, None if port == default else port))
        connection.timeout = timeout
        return connection

    def _give_back(self, key: tuple[str, str, int], connection: _Connection, reusable: bool) -> None:
        if reusable:
            with self._lock:
                idle = self._idle.setdefault(key, [])
                if len(idle) < IDLE_PER_NODE:
                    idle.append(connection)
                    return
        connection.close()


def _failure(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _node_key(url: str) -> tuple[str, str, int]:
    """Which node's idle connections serve ``url``: scheme, host and port (the scheme's by default)."""
    parts = urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def _target_of(url: str) -> str:
    """A request line's target: the URL's path and query."""
    parts = urlsplit(url)
    return urlunsplit(("", "", parts.path or "/", parts.query, ""))


def _closed_by_peer(connection: _Connection) -> bool:
    """Whether an idle connection is readable: the node closed it (or sent what no request asked for)."""
    try:
        readable, _, _ = select.select([connection.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


@contextmanager
def open_reply(
    http: Connections,
    server: Server,
    command: str,
    params: dict[str, str],
    headers: dict[str, str],
    deadline: Deadline,
    redirected: RedirectPolicy,
) -> Iterator[tuple[Reply, Server, Server | None]]:
    """The streamed final reply, the node that sent it, and (after a 303) the node that redirected."""
    current, via = server, None
    url = f"{server.url(command)}?{urlencode(params)}" if params else server.url(command)
    for _ in range(MAX_REDIRECTS + 1):
        deadline.check(f"{command} of {params.get('file_id', '')}")
        sent = dict(headers)
        if current.authorization is not None:
            sent["Authorization"] = current.authorization
        try:
            reply = http.get(url, sent, deadline)
        except ConnectError as exc:
            raise Unreachable(transport_problem(current, via, exc), redirected=via is not None,
                              node=current.base) from None
        except TransferError as exc:
            raise Transient(transport_problem(current, via, exc)) from None
        location = reply.headers.get("location")
        if reply.status_code in REDIRECTS and location:
            reply.close()
            target = urlsplit(urljoin(url, location))
            via, current = current, redirected(current, target)
            url = urlunsplit((target.scheme, _netloc(target.hostname or "", target.port), target.path,
                              target.query, ""))
            continue
        try:
            yield reply, current, via
        finally:
            reply.close()
        return
    raise Transient(f"{where(current, via)} redirected more than {MAX_REDIRECTS} times")


class RedirectPolicy:
    """Where a 303 leads: the configured node of that URL, or a node of the archive given the credentials
    of the node that redirected, or any other host, given none."""

    def __init__(self, configured: list[Server], node_hosts: tuple[str, ...]) -> None:
        self.configured = {server.base.rstrip("/"): server for server in configured}
        self.trusted = {server.host for server in configured} | {host.lower() for host in node_hosts}

    def __call__(self, current: Server, target: SplitResult) -> Server:
        prefix = target.path.rsplit("/", 1)[0]
        host = target.hostname or ""
        base = urlunsplit((target.scheme, _netloc(host, target.port), prefix, "", ""))
        known = self.configured.get(base.rstrip("/"))
        if known is not None and known.authorization is not None:
            return known
        authorization = current.authorization if host.lower() in self.trusted else None
        return Server(base, authorization, mask_url(base))


def raise_for_error(response: Reply, server: Server, via: Server | None, deadline: Deadline) -> None:
    """NGAS's errors: an NgamsStatus document whose Message says what happened, with 4xx or 5xx."""
    code = response.status_code
    if code < 400:
        return
    try:
        body, _ = read_capped(response, MAX_STATUS_BYTES, deadline)
    except BadReply:
        body = b""  # an error all the same; only its Message is lost
    message = error_message(body) or ""
    said = f"{where(server, via)} answered HTTP {code}" + (f": {message}" if message else "")
    if code == 404:
        raise NotNgas(f"it answered 404{f' ({message})' if message else ''} to {urlsplit(response.url).path}")
    if code >= 500 or code in (408, 429):
        raise Transient(said)
    if message.startswith(_UNAVAILABLE_FILE):
        raise NotHere(where(server, via), message)
    if message.startswith(_IMPROPER_STATE):
        raise Offline(said)
    raise Refused(code, said)


def read_capped(response: Reply, cap: int, deadline: Deadline) -> tuple[bytes, bool]:
    """At most ``cap`` bytes of the body, decoded (gzip, deflate) within the same bound while it streams;
    and whether there was more. Neither a gzip bomb nor an endless body is held whole."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    decoder = None
    if encoding in ("gzip", "x-gzip", "deflate"):
        decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
    elif encoding not in ("", "identity"):
        raise BadReply(f"the reply is encoded as {encoding!r}, which an NGAS reply never is")
    body = bytearray()
    try:
        for raw in response.iter_raw():
            deadline.check("reading a reply")
            data = raw
            while data:
                if decoder is None:
                    body += data[:cap + 1 - len(body)]
                    data = b""
                else:
                    body += decoder.decompress(data, cap + 1 - len(body))
                    data = decoder.unconsumed_tail
                if len(body) > cap:
                    return bytes(body[:cap]), True
    except zlib.error as exc:
        raise BadReply(f"the reply's {encoding} encoding is broken ({exc})") from None
    except TransferError as exc:
        raise Transient(f"the reply was cut short ({exc})") from None
    return bytes(body), False


def transport_problem(server: Server, via: Server | None, exc: ConnectError | TransferError) -> str:
    detail = str(exc) or type(exc).__name__
    return f"{type(exc).__name__} from {where(server, via)}: {mask_url(detail)}"

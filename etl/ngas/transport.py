"""One request to an NGAS node: redirects followed by hand, NGAS's errors classified, bodies read in bounds.

Redirects are followed here, for two reasons: an error must name the node that failed (the 303's target,
not the node first asked), and credentials must go along to the archive's other nodes and to no other
host. Requests go over the standard library's ``http.client``, on keep-alive connections shared by the
fetch's threads (``Connections``): per request it costs a fraction of the CPU of a general HTTP client
library, and a body is read as it arrives, up to 1 MiB per read.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
import zlib
from base64 import b64encode
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final
from urllib.parse import SplitResult, unquote, urlencode, urljoin, urlsplit, urlunsplit

from etl.logs import mask_url
from etl.ngas.status import MAX_STATUS_BYTES, error_message

MAX_REDIRECTS: Final = 5
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_UNAVAILABLE_FILE: Final = "NGAMS_ER_UNAVAIL_FILE"
_IMPROPER_STATE: Final = "NGAMS_ER_IMPROPER_STATE"
# The most one read of a body asks of the socket: it returns what has arrived, up to this. (64 KiB reads
# cost a large download CPU that, on two loaded cores, held it to half of curl's rate.)
READ_BYTES: Final = 1 << 20
# Idle keep-alive connections kept per node.
IDLE_PER_NODE: Final = 16
_HEADERS: Final = {"User-Agent": "almamirror", "Accept-Encoding": "identity"}


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
    """The node refused the connection (or never answered it); ``redirected``: it was a 303's target."""

    def __init__(self, message: str, redirected: bool) -> None:
        super().__init__(message)
        self.redirected = redirected


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


class Reply:
    """A node's reply: status, headers, the body read as it arrives; its connection kept if reusable."""

    def __init__(self, response: http.client.HTTPResponse, url: str, release: Callable[[bool], None]) -> None:
        self._response = response
        self.url = url
        self.status_code = response.status
        self.headers = response.msg  # .get() is case-insensitive
        self._release = release

    def iter_raw(self) -> Iterator[bytes]:
        """The body's bytes as they come, at most ``READ_BYTES`` at a time; ``TransferError`` if cut."""
        while True:
            try:
                chunk = self._response.read1(READ_BYTES)
            except (OSError, http.client.HTTPException) as exc:
                raise TransferError(type(exc).__name__) from None
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        response = self._response
        # Reusable only when the whole body was read and the node keeps the connection open.
        reusable = not response.will_close and not response.chunked and response.length == 0
        response.close()
        self._release(reusable)


class Connections:
    """Keep-alive connections to NGAS nodes, shared by threads; a thread takes one per request."""

    def __init__(
        self, connect_timeout: float, read_timeout: float, tls: Callable[[], ssl.SSLContext]
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._tls = tls
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}

    def get(self, url: str, headers: dict[str, str], deadline: Deadline) -> Reply:
        """GET ``url``: ``ConnectError`` without a connection, ``TransferError`` if it fails after."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        connection = self._take(key, deadline)
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        try:
            connection.sock.settimeout(deadline.timeout(self.read_timeout))
            connection.request("GET", target, headers={**_HEADERS, **headers})
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise TransferError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None

        def release(reusable: bool) -> None:
            self._give_back(key, connection, reusable)

        return Reply(response, url, release)

    def close(self) -> None:
        with self._lock:
            idle = [connection for connections in self._idle.values() for connection in connections]
            self._idle.clear()
        for connection in idle:
            connection.close()

    def _take(self, key: tuple[str, str, int], deadline: Deadline) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                connection = idle.pop() if idle else None
            if connection is None:
                return self._connect(key, deadline)
            if not _closed_by_peer(connection):
                return connection
            connection.close()

    def _connect(self, key: tuple[str, str, int], deadline: Deadline) -> http.client.HTTPConnection:
        scheme, host, port = key
        timeout = deadline.timeout(self.connect_timeout)
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._tls())
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.connect()
            # A request goes out at once (as curl sends it): a file costs a STATUS and a RETRIEVE or two.
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            connection.close()
            raise ConnectError(str(exc) or type(exc).__name__) from None
        return connection

    def _give_back(self, key: tuple[str, str, int], connection: http.client.HTTPConnection,
                   reusable: bool) -> None:
        if reusable and connection.sock is not None:
            with self._lock:
                idle = self._idle.setdefault(key, [])
                if len(idle) < IDLE_PER_NODE:
                    idle.append(connection)
                    return
        connection.close()


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection is readable: the node closed it (or sent what no request asked for)."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
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
    url = f"{server.url(command)}?{urlencode(params)}"
    for _ in range(MAX_REDIRECTS + 1):
        deadline.check(f"{command} of {params.get('file_id', '')}")
        sent = dict(headers)
        if current.authorization is not None:
            sent["Authorization"] = current.authorization
        try:
            reply = http.get(url, sent, deadline)
        except ConnectError as exc:
            raise Unreachable(_transport_problem(current, via, exc), redirected=via is not None) from None
        except TransferError as exc:
            raise Transient(_transport_problem(current, via, exc)) from None
        location = reply.headers.get("location")
        if reply.status_code in _REDIRECTS and location:
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


def _transport_problem(server: Server, via: Server | None, exc: ConnectError | TransferError) -> str:
    detail = str(exc) or type(exc).__name__
    return f"{type(exc).__name__} from {where(server, via)}: {mask_url(detail)}"

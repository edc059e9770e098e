"""One request to an NGAS node: redirects followed by hand, NGAS's errors classified, bodies read in bounds.

Redirects are followed here, not by the HTTP library, for two reasons: an error must name the node that
failed (the 303's target, not the node first asked), and credentials must go along to the archive's other
nodes (which the library drops when the origin changes) and to no other host.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from etl.ngas.status import MAX_STATUS_BYTES, error_message
from etl.urls import mask_url

MAX_REDIRECTS: Final = 5
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_UNAVAILABLE_FILE: Final = "NGAMS_ER_UNAVAIL_FILE"
_IMPROPER_STATE: Final = "NGAMS_ER_IMPROPER_STATE"


@dataclass(frozen=True)
class Server:
    """An NGAS node: its base URL (without credentials), the credentials sent to it, its name for messages."""

    base: str
    auth: httpx.BasicAuth | None
    name: str

    def url(self, command: str) -> str:
        return f"{self.base.rstrip('/')}/{command}"

    @property
    def host(self) -> str:
        return (urlsplit(self.base).hostname or "").lower()


def server_of(url: str) -> Server:
    """The node of a configured URL, its credentials taken out of the URL."""
    parts = urlsplit(url)
    auth = None
    if parts.username is not None:
        auth = httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
    base = urlunsplit((parts.scheme, _netloc(parts.hostname or "", parts.port), parts.path, "", ""))
    return Server(base, auth, mask_url(url))


def _netloc(host: str, port: int | None) -> str:
    netloc = f"[{host}]" if ":" in host else host
    return netloc if port is None else f"{netloc}:{port}"


def where(server: Server, via: Server | None) -> str:
    """A node as messages name it: the redirect's target, and who sent the client there."""
    return server.name if via is None else f"{server.name} (where {via.name} redirected)"


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

    def timeout(self, base: httpx.Timeout) -> httpx.Timeout:
        """``base`` shortened to the time left: no single read waits past the deadline."""
        left = max(self.left(), 0.001)
        return httpx.Timeout(
            connect=min(base.connect or left, left), read=min(base.read or left, left),
            write=min(base.write or left, left), pool=None,
        )


@contextmanager
def open_reply(
    http: httpx.Client,
    server: Server,
    command: str,
    params: dict[str, str],
    headers: dict[str, str],
    deadline: Deadline,
    redirected: RedirectPolicy,
) -> Iterator[tuple[httpx.Response, Server, Server | None]]:
    """The streamed final reply, the node that sent it, and (after a 303) the node that redirected."""
    current, via = server, None
    url: str = server.url(command)
    query: dict[str, str] | None = params
    for _ in range(MAX_REDIRECTS + 1):
        deadline.check(f"{command} of {params.get('file_id', '')}")
        request = http.build_request("GET", url, params=query, headers=headers,
                                     timeout=deadline.timeout(http.timeout))
        try:
            response = http.send(request, auth=current.auth, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Unreachable(_transport_problem(current, via, exc), redirected=via is not None) from None
        except httpx.RequestError as exc:
            raise Transient(_transport_problem(current, via, exc)) from None
        location = response.headers.get("location")
        if response.status_code in _REDIRECTS and location:
            response.close()
            target = response.url.join(location)
            via, current = current, redirected(current, target)
            url = urlunsplit((target.scheme, _netloc(target.host, target.port), target.path,
                              target.query.decode("ascii"), ""))
            query = None
            continue
        try:
            yield response, current, via
        finally:
            response.close()
        return
    raise Transient(f"{where(current, via)} redirected more than {MAX_REDIRECTS} times")


class RedirectPolicy:
    """Where a 303 leads: the configured node of that URL, or a node of the archive given the credentials
    of the node that redirected, or any other host, given none."""

    def __init__(self, configured: list[Server], node_hosts: tuple[str, ...]) -> None:
        self.configured = {server.base.rstrip("/"): server for server in configured}
        self.trusted = {server.host for server in configured} | {host.lower() for host in node_hosts}

    def __call__(self, current: Server, target: httpx.URL) -> Server:
        prefix = target.path.rsplit("/", 1)[0]
        base = urlunsplit((target.scheme, _netloc(target.host, target.port), prefix, "", ""))
        known = self.configured.get(base.rstrip("/"))
        if known is not None and known.auth is not None:
            return known
        auth = current.auth if target.host.lower() in self.trusted else None
        return Server(base, auth, mask_url(base))


def raise_for_error(response: httpx.Response, server: Server, via: Server | None, deadline: Deadline) -> None:
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
        raise NotNgas(f"it answered 404{f' ({message})' if message else ''} to {response.url.path}")
    if code >= 500 or code in (408, 429):
        raise Transient(said)
    if message.startswith(_UNAVAILABLE_FILE):
        raise NotHere(where(server, via), message)
    if message.startswith(_IMPROPER_STATE):
        raise Offline(said)
    raise Refused(code, said)


def read_capped(response: httpx.Response, cap: int, deadline: Deadline) -> tuple[bytes, bool]:
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
    except httpx.RequestError as exc:
        raise Transient(f"the reply was cut short ({type(exc).__name__})") from None
    return bytes(body), False


def _transport_problem(server: Server, via: Server | None, exc: httpx.RequestError) -> str:
    detail = str(exc) or type(exc).__name__
    return f"{type(exc).__name__} from {where(server, via)}: {mask_url(detail)}"

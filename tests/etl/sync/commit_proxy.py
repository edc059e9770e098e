"""A TCP proxy in front of PostgreSQL that drops a connection at its COMMIT, for fault tests.

It reads the client's side of the protocol message by message (startup, then typed messages) and
carries everything unchanged, until a connection that has sent ``armed_by`` (bytes of a statement,
e.g. the one only the sync's writing transaction runs) sends a simple-query COMMIT. Then, with
``forward_commit``, the COMMIT goes to the server and the client's side is closed at once: the server
commits and its answer is lost. Without, the connection is cut before the COMMIT reaches the server:
the server sees its client gone mid-transaction and rolls back.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType

from sqlalchemy.engine import URL

# Startup-phase request codes that the server answers and that are followed by another startup packet.
_SSL_REQUEST, _GSS_REQUEST = 80877103, 80877104


def _upstream(url: URL) -> socket.socket:
    """A connection to the server ``url`` names: a Unix socket directory (``?host=/dir``) or TCP."""
    query_host = url.query.get("host")
    host = query_host if isinstance(query_host, str) else (query_host[0] if query_host else None)
    host = host or url.host or "localhost"
    query_port = url.query.get("port")
    port = int(query_port if isinstance(query_port, str) else url.port or 5432)
    if host.startswith("/"):
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.connect(f"{host}/.s.PGSQL.{port}")
        return unix
    return socket.create_connection((host, port), timeout=30)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


class CommitDropProxy:
    """Listens on a free loopback port; a context manager. ``dropped`` counts connections cut."""

    def __init__(self, server: URL, armed_by: bytes, forward_commit: bool) -> None:
        self.server = server
        self.armed_by = armed_by
        self.forward_commit = forward_commit
        self.dropped = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._closing = False

    def url_for(self, url: URL) -> URL:
        """``url`` pointed at the proxy (same user, password and database), in plain text: the proxy
        reads the messages."""
        plain = url.difference_update_query(["host", "port"]).update_query_dict(
            {"sslmode": "disable", "gssencmode": "disable"}
        )
        return plain.set(host="127.0.0.1", port=self.port)

    def __enter__(self) -> CommitDropProxy:
        self._spawn(self._accept)
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self._closing = True
        # close() alone does not wake a thread blocked in accept() on Linux: each exit waited out the
        # join's 10 s. shutdown() makes the accept fail at once.
        _close(self._listener)
        for sock in self._sockets:
            _close(sock)
        for thread in self._threads:
            thread.join(timeout=10)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = _upstream(self.server)
            server.settimeout(None)
            self._sockets += [client, server]
            lost = threading.Event()
            self._spawn(self._client_to_server, client, server, lost)
            self._spawn(_server_to_client, server, client, lost)

    def _client_to_server(self, client: socket.socket, server: socket.socket, lost: threading.Event) -> None:
        try:
            self._startup(client, server)
            armed = False
            while True:
                kind = _read_exactly(client, 1)
                length = _read_exactly(client, 4)
                body = _read_exactly(client, struct.unpack("!i", length)[0] - 4)
                armed = armed or self.armed_by in body
                if armed and kind == b"Q" and body.lstrip().upper().startswith(b"COMMIT"):
                    # Set before the COMMIT goes: a server that answered before the flag was up had its
                    # answer carried to the client, which then saw an ordinary commit.
                    lost.set()  # the server's answer, if any, goes nowhere
                    self.dropped += 1
                    if self.forward_commit:
                        server.sendall(kind + length + body)
                    _close(client)
                    if not self.forward_commit:
                        _close(server)
                    return
                server.sendall(kind + length + body)
        except OSError:
            _close(client)
            _close(server)

    @staticmethod
    def _startup(client: socket.socket, server: socket.socket) -> None:
        """Carry the untyped startup packets: SSL or GSS requests (the server answers), then the startup."""
        while True:
            length = _read_exactly(client, 4)
            body = _read_exactly(client, struct.unpack("!i", length)[0] - 4)
            server.sendall(length + body)
            if struct.unpack("!i", body[:4])[0] not in (_SSL_REQUEST, _GSS_REQUEST):
                return


def _server_to_client(server: socket.socket, client: socket.socket, lost: threading.Event) -> None:
    try:
        while chunk := server.recv(65536):
            if lost.is_set():
                break  # the answer to the dropped COMMIT: the server has committed
            client.sendall(chunk)
    except OSError:
        pass
    _close(server)
    _close(client)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()

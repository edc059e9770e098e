"""A slow link for benchmarks: a TCP proxy in front of PostgreSQL that delays, paces and counts bytes.

ALMA's Oracle is across a continent from the mirrors: what a sync costs there is round trips times the
latency, plus bytes over a shared bandwidth. The proxy makes a local PostgreSQL look that far away. It
carries the bytes unchanged (any protocol: startup, queries, COPY, cursors), adds ``latency`` seconds to
every chunk in each direction, lets each direction carry at most ``mbit`` Mbit/s (shared by all
connections, as a link is), and counts the bytes each way.

In-process (its own asyncio loop in a thread, so the code under test stays synchronous)::

    with LinkProxy(upstream_address(source_url), latency=0.040, mbit=50) as link:
        engine = create_source_engine(link.url_for(source_url), settings)
        ...
        print(link.counts().down)   # bytes pulled from the server

Standalone, until Ctrl-C::

    .venv/bin/python bench/link_proxy.py postgresql://…/alma_demo [--latency-ms 40] [--mbit 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import TracebackType

from sqlalchemy.engine import URL, make_url

# Bytes read per chunk: small enough that pacing at 50 Mbit/s is smooth (16 KiB is 2.6 ms there).
CHUNK_BYTES = 16 * 1024
# Chunks in flight per direction of one connection: enough to fill a 40 ms, 1 Gbit/s pipe, and bounded.
QUEUED_CHUNKS = 512
DEFAULT_LATENCY = 0.040
DEFAULT_MBIT = 50.0
POSTGRES_PORT = 5432


@dataclass(frozen=True)
class Address:
    """Where the proxy connects: a Unix socket path, or a TCP host and port."""

    unix_path: str | None = None
    host: str | None = None
    port: int = POSTGRES_PORT

    def __str__(self) -> str:
        return self.unix_path or f"{self.host}:{self.port}"


def upstream_address(url: URL | str) -> Address:
    """The PostgreSQL server a libpq-style URL points at (``?host=/dir`` is a Unix socket directory)."""
    url = make_url(url) if isinstance(url, str) else url
    query_host = url.query.get("host")
    host = query_host if isinstance(query_host, str) else (query_host[0] if query_host else None)
    host = host or url.host or "localhost"
    query_port = url.query.get("port")
    port = int(query_port if isinstance(query_port, str) else url.port or POSTGRES_PORT)
    if host.startswith("/"):
        return Address(unix_path=f"{host}/.s.PGSQL.{port}", port=port)
    return Address(host=host, port=port)


@dataclass(frozen=True)
class LinkBytes:
    """What the link carried so far: bytes ``down`` from the server to its clients and ``up`` the other
    way, and ``round_trips``: the times a client spoke again after the server had answered (messages a
    client sends without waiting for the answer count once, as on a real link they cost one latency)."""

    down: int = 0
    up: int = 0
    round_trips: int = 0

    def __sub__(self, earlier: LinkBytes) -> LinkBytes:
        return LinkBytes(
            self.down - earlier.down, self.up - earlier.up, self.round_trips - earlier.round_trips
        )


class _Direction:
    """One direction of the link: a serialising wire of ``rate`` bytes/s, then ``latency`` of flight."""

    def __init__(self, latency: float, bytes_per_second: float | None) -> None:
        self.latency = latency
        self.bytes_per_second = bytes_per_second
        self.wire_free_at = 0.0  # when the wire has sent everything it was given
        self.carried = 0

    def arrival(self, size: int, now: float) -> float:
        """When a chunk of ``size`` bytes given to the wire at ``now`` reaches the far end."""
        self.carried += size
        start = max(now, self.wire_free_at)
        self.wire_free_at = start + (size / self.bytes_per_second if self.bytes_per_second else 0.0)
        return self.wire_free_at + self.latency


class LinkProxy:
    """A proxy on a free loopback port to ``upstream``; a context manager that starts and stops it."""

    def __init__(
        self, upstream: Address, latency: float = DEFAULT_LATENCY, mbit: float | None = DEFAULT_MBIT
    ) -> None:
        """``latency`` in seconds each way; ``mbit`` per direction, None or 0 for no cap."""
        self.upstream = upstream
        self.latency = latency
        self.mbit = mbit or None
        rate = self.mbit * 1e6 / 8 if self.mbit else None
        self._down = _Direction(latency, rate)
        self._up = _Direction(latency, rate)
        self._round_trips = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def describe(self) -> str:
        cap = f"{self.mbit:g} Mbit/s" if self.mbit else "no bandwidth cap"
        return f"{self.latency * 1000:g} ms each way, {cap}"

    def counts(self) -> LinkBytes:
        return LinkBytes(down=self._down.carried, up=self._up.carried, round_trips=self._round_trips)

    def url_for(self, url: URL | str) -> URL:
        """``url`` pointed at the proxy instead of its server (same user, password and database)."""
        url = make_url(url) if isinstance(url, str) else url
        return url.difference_update_query(["host", "port"]).set(host="127.0.0.1", port=self.port)

    def start(self) -> LinkProxy:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="link-proxy", daemon=True)
        self._thread.start()
        ready.wait()
        if self._failure is not None:
            raise self._failure
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join()
            self._thread = None

    def __enter__(self) -> LinkProxy:
        return self.start()

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve(ready))
        except BaseException as exc:  # reported to start() if it failed before serving
            self._failure = exc
            ready.set()
        finally:
            self._loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        connections: set[asyncio.Task[None]] = set()

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            connections.add(task)
            try:
                await self._carry(reader, writer)
            except asyncio.CancelledError:
                pass  # stopped: asyncio's stream callback would report a cancelled task as an error
            finally:
                connections.discard(task)

        server = await asyncio.start_server(accepted, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            # Connections just closed by their clients still have the link's latency to go.
            if connections:
                await asyncio.wait(list(connections), timeout=2 * self.latency + 0.5)
            for task in list(connections):
                task.cancel()
            await asyncio.gather(*connections, return_exceptions=True)

    async def _carry(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        """One client connection: open one to the server and pump both ways until both ends are done."""
        try:
            if self.upstream.unix_path:
                server_reader, server_writer = await asyncio.open_unix_connection(self.upstream.unix_path)
            else:
                server_reader, server_writer = await asyncio.open_connection(
                    self.upstream.host, self.upstream.port
                )
        except OSError:
            client_writer.close()
            return
        for writer in (client_writer, server_writer):
            _no_delay(writer)
        turn = _Turn()
        try:
            await asyncio.gather(
                _pump(client_reader, server_writer, self._up, partial(self._heard, turn, "client")),
                _pump(server_reader, client_writer, self._down, partial(self._heard, turn, "server")),
            )
        except (OSError, asyncio.IncompleteReadError):
            pass  # one end dropped: close both below, as a real link would
        finally:
            for writer in (client_writer, server_writer):
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    def _heard(self, turn: _Turn, side: str) -> None:
        if turn.starts_round_trip(side):
            self._round_trips += 1


def _no_delay(writer: asyncio.StreamWriter) -> None:
    # Nagle's algorithm would hold back the protocol's small messages on top of the latency we add.
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Turn:
    """Who spoke last on one connection: a client speaking after the server starts a round trip."""

    def __init__(self) -> None:
        self.last = "server"

    def starts_round_trip(self, side: str) -> bool:
        starts = side == "client" and self.last == "server"
        self.last = side
        return starts


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    direction: _Direction,
    heard: Callable[[], None],
) -> None:
    """Copy ``reader`` to ``writer``, each chunk delivered when the link would deliver it, in order."""
    loop = asyncio.get_running_loop()
    in_flight: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(maxsize=QUEUED_CHUNKS)

    async def deliver() -> None:
        try:
            while (item := await in_flight.get()) is not None:
                arrival, data = item
                wait = arrival - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()  # a half-close: the other direction may still be carrying
        except OSError:
            # The far end is gone: keep taking chunks so the reading side never waits on a full queue.
            while await in_flight.get() is not None:
                pass
            raise

    delivering = asyncio.create_task(deliver())
    try:
        while data := await reader.read(CHUNK_BYTES):
            heard()
            await in_flight.put((direction.arrival(len(data), loop.time()), data))
        await in_flight.put(None)
        await delivering
    finally:
        delivering.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", help="the PostgreSQL server's URL (a database URL; only its address is used)")
    parser.add_argument("--latency-ms", type=float, default=DEFAULT_LATENCY * 1000)
    parser.add_argument("--mbit", type=float, default=DEFAULT_MBIT, help="per direction; 0: no cap")
    args = parser.parse_args()
    link = LinkProxy(upstream_address(args.url), args.latency_ms / 1000, args.mbit)
    with link:
        print(f"proxy to {link.upstream} ({link.describe()}): {link.url_for(args.url).render_as_string()}")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    counts = link.counts()
    print(f"carried {counts.down:,} bytes down, {counts.up:,} bytes up; {counts.round_trips:,} round trips")


if __name__ == "__main__":
    main()

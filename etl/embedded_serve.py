"""Keeping the embedded PostgreSQL up between commands (``almamirror db serve``).

The embedded server stops when its last almamirror process exits, so each report paid for a start
and a stop, and a URL printed by ``db url`` pointed at nothing. A serving process holds the server
(it is one more of pgserver's registered processes) until it is told to stop or no client has been
connected for a while; every command in between joins the running server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from etl.errors import MirrorUnavailable, StopAndFix
from etl.logs import fields

log = logging.getLogger(__name__)

PID_FILE = "serve.pid"
LOG_FILE = "serve.log"
READY_SECONDS = 60.0


def pid_file(home: Path) -> Path:
    return home / PID_FILE


def serving_pid(home: Path) -> int | None:
    """The process that keeps ``home``'s server up, if one is alive."""
    try:
        pid = int(pid_file(home).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if process_alive(pid) else None


def served_socket(home: Path) -> Path | None:
    """The socket directory of ``home``'s server while a 'db serve' keeps it up and it is ready."""
    if serving_pid(home) is None:
        return None
    try:
        lines = (home / "pgdata" / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    # postmaster.pid: pid, data directory, start time, port, socket directory, listen address,
    # shared memory key, status.
    if len(lines) < 8 or lines[7].strip() != "ready" or not lines[4].strip():
        return None
    return Path(lines[4].strip())


def serve(home: Path, idle_minutes: float, ready: Callable[[str], None] | None = None) -> str:
    """Hold the embedded server of ``home`` up until SIGTERM, SIGINT, or ``idle_minutes`` without a
    client (0: no idle limit); returns why it stopped. ``ready`` gets the admin URI once it is up."""
    from etl import embedded

    if serving_pid(home) not in (None, os.getpid()):
        raise StopAndFix(f"the embedded server of {home} is already served by process {serving_pid(home)}")
    server = embedded.start_server(home)
    admin_uri: str = server.get_uri("postgres")
    stop = threading.Event()
    previous = _on_signals(stop.set)
    pid_file(home).write_text(f"{os.getpid()}\n")
    try:
        if ready is not None:
            ready(admin_uri)
        return _wait(admin_uri, idle_minutes * 60.0, stop)
    finally:
        _restore_signals(previous)
        with contextlib.suppress(OSError):
            if serving_pid(home) == os.getpid():
                pid_file(home).unlink()


def _wait(admin_uri: str, idle_seconds: float, stop: threading.Event) -> str:
    poll = min(5.0, idle_seconds / 3) if idle_seconds > 0 else 5.0
    last_client = time.monotonic()
    while not stop.wait(poll):
        if client_count(admin_uri) > 0:
            last_client = time.monotonic()
        elif idle_seconds > 0 and time.monotonic() - last_client >= idle_seconds:
            log.info("embedded.idle %s", fields(minutes=round(idle_seconds / 60, 2)))
            return "idle"
    return "stopped"


def client_count(admin_uri: str) -> int:
    """Client connections on the server, this one left out."""
    import psycopg

    try:
        with psycopg.connect(admin_uri, autocommit=True) as connection:
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchone()
    except psycopg.OperationalError as exc:
        raise MirrorUnavailable(f"the embedded server went away: {exc}") from exc
    return int(row[0]) if row else 0


def detach(home: Path, idle_minutes: float, config: str | None) -> int:
    """Start ``db serve`` as a process of its own session (it outlives this one); returns its pid
    once the server is up. Its lines go to ``home``/serve.log."""
    running = serving_pid(home)
    if running is not None:
        return running
    home.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "etl.cli", "db", "serve", "--idle", str(idle_minutes)]
    if config is not None:
        command += ["--config", config]
    environment = {**os.environ, "ALMAMIRROR_HOME": str(home)}
    with (home / LOG_FILE).open("ab") as output:
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=output, stderr=output, env=environment,
            start_new_session=True,  # a Ctrl-C in this terminal is not meant for it
        )
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if serving_pid(home) == child.pid:
            return child.pid
        if child.poll() is not None:
            raise MirrorUnavailable(
                f"db serve exited with status {child.returncode} before the server was up "
                f"(see {home / LOG_FILE})"
            )
        time.sleep(0.1)
    raise MirrorUnavailable(
        f"the embedded server was not up within {READY_SECONDS:.0f} s (see {home / LOG_FILE})"
    )


def stop_serving(home: Path, timeout: float = 30.0) -> int | None:
    """Ask the serving process to stop and wait for it to go; its pid, or None when none was serving."""
    pid = serving_pid(home)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process_alive(pid):  # gone once its exit stopped the server
        time.sleep(0.1)
    return pid


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


_Handler = Callable[[int, FrameType | None], object] | int | None


def _on_signals(action: Callable[[], None]) -> dict[int, _Handler]:
    previous: dict[int, _Handler] = {}
    for number in (signal.SIGTERM, signal.SIGINT):
        previous[number] = signal.signal(number, lambda _n, _f: action())
    return previous


def _restore_signals(previous: dict[int, _Handler]) -> None:
    for number, handler in previous.items():
        signal.signal(number, handler if handler is not None else signal.SIG_DFL)

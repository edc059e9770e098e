"""Helpers for fault tests: real almamirror processes, and waiting for them inside PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

from tests.conftest import open_engine

WAITING = text(
    "SELECT pid FROM pg_stat_activity "
    "WHERE datname = :database AND application_name = :application AND wait_event_type = 'Lock'"
)
BACKENDS = text(
    "SELECT pid FROM pg_stat_activity WHERE datname = :database AND application_name = :application"
)


def cli_env(source: URL | None, mirror: URL, home: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "ALMAMIRROR_CONFIG"}
    env.update(ALMAMIRROR_HOME=str(home), ALMAMIRROR_MIRROR_URL=mirror.render_as_string(hide_password=False))
    if source is not None:
        env["ALMAMIRROR_SOURCE_URL"] = source.render_as_string(hide_password=False)
    env.update(extra)
    return env


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """An ``almamirror`` process, its output captured as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "etl.cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etl.cli", *args], env=env, capture_output=True, text=True, timeout=timeout,
        check=False,
    )


@contextmanager
def locked(url: URL, *statements: str) -> Iterator[Connection]:
    """A transaction holding the locks ``statements`` take, open for the block, then committed."""
    engine = open_engine(url)
    try:
        with engine.connect() as connection, connection.begin():
            for statement in statements:
                connection.execute(text(statement))
            yield connection
    finally:
        engine.dispose()


def wait_for_lock_wait(
    url: URL, application: str, process: subprocess.Popen[str] | None = None, timeout: float = 90
) -> int:
    """Wait until a backend of ``application`` on ``url``'s database waits for a lock; its pid."""
    return _wait_for(url, WAITING, application, process, timeout)


def wait_for_backend(
    url: URL, application: str, process: subprocess.Popen[str] | None = None, timeout: float = 90
) -> int:
    return _wait_for(url, BACKENDS, application, process, timeout)


def _wait_for(
    url: URL, query: Any, application: str, process: subprocess.Popen[str] | None, timeout: float
) -> int:
    engine = open_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                found = {"database": url.database, "application": application}
                pid = connection.execute(query, found).scalar()
            if pid is not None:
                return int(pid)
            if process is not None and process.poll() is not None:
                _out, err = process.communicate()
                raise AssertionError(f"the process ended early ({process.returncode}): {err}")
            time.sleep(0.1)
    finally:
        engine.dispose()
    raise AssertionError(f"no {application} backend of {url.database} reached the state in {timeout} s")


def terminate_backends(url: URL, application: str) -> int:
    """pg_terminate_backend every backend of ``application`` on ``url``'s database; how many."""
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            pids = list(
                connection.execute(BACKENDS, {"database": url.database, "application": application}).scalars()
            )
            for pid in pids:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            connection.commit()
    finally:
        engine.dispose()
    return len(pids)


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    """Wait for the process (killing it if it overruns); its exit code, stdout and stderr."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"the process did not end within {timeout} s: {err[-2000:]}") from None
    return process.returncode, out, err


def start_logged(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    """An ``almamirror`` process whose stderr goes to ``log``, to be read while it runs."""
    with log.open("w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "etl.cli", *args], env=env, stdout=subprocess.DEVNULL, stderr=stderr,
            text=True,
        )


def wait_for_text(log: Path, wanted: str, process: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if wanted in log.read_text():
            return
        if process.poll() is not None:
            raise AssertionError(f"the process ended ({process.returncode}): {log.read_text()[-2000:]}")
        time.sleep(0.1)
    raise AssertionError(f"{wanted!r} not logged in {timeout} s: {log.read_text()[-2000:]}")


def wait_for_exit(process: subprocess.Popen[str], timeout: float) -> int:
    """The exit code; the process is killed (and the test fails) if it does not end in time."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"the process did not end within {timeout} s") from None

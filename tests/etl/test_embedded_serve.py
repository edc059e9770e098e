"""``db serve`` keeps the embedded server up between commands; ``db url`` gives a URL that works."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from etl.embedded_serve import serving_pid
from tests.scratch import memory_directory


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALMAMIRROR_")}
    env["ALMAMIRROR_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "etl.cli", *args], env=env, capture_output=True, text=True,
        timeout=180, check=False,
    )


@pytest.fixture
def home() -> Iterator[Path]:
    # A short path of our own: the server's socket lives in its data directory.
    with memory_directory("am-serve-") as directory:
        yield Path(directory)
        run(Path(directory), "db", "stop")


def _wait_gone(pid: int, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_db_url_gives_a_url_psql_can_use_after_the_command_exits(home: Path) -> None:
    done = run(home, "db", "url", "--psql")
    assert done.returncode == 0, done.stderr
    assert "keeps the embedded server up" in done.stderr
    with psycopg.connect(done.stdout.strip()) as connection:
        assert connection.execute("SELECT current_database()").fetchone() == ("almamirror",)
    # A second command joins the served server: nothing is started, nothing more detached.
    pid = serving_pid(home)
    again = run(home, "db", "url", "--psql")
    assert (again.stdout, again.stderr) == (done.stdout, "")
    assert serving_pid(home) == pid


def test_commands_join_a_served_server_and_db_stop_stops_it(home: Path) -> None:
    started = run(home, "db", "serve", "--detach")
    assert started.returncode == 0, started.stderr
    pid = serving_pid(home)
    assert pid is not None
    upgrade = run(home, "-v", "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert "embedded.started" not in upgrade.stderr  # the served server was used as it was
    assert (home / "pgdata" / "postmaster.pid").exists()
    stopped = run(home, "db", "stop")
    assert stopped.stdout.strip() == f"db stop: process {pid} stopped"
    assert _wait_gone(pid)
    assert not (home / "pgdata" / "postmaster.pid").exists()
    assert run(home, "db", "stop").stdout.strip() == "db stop: no 'db serve' was running"


def test_db_serve_stops_after_its_idle_time(home: Path) -> None:
    started = run(home, "db", "serve", "--detach", "--idle", "0.02")  # 1.2 s without a client
    assert started.returncode == 0, started.stderr
    pid = serving_pid(home)
    assert pid is not None
    assert _wait_gone(pid, 60)
    assert "embedded.idle" in (home / "serve.log").read_text()
    assert not (home / "pgdata" / "postmaster.pid").exists()


def test_db_serve_refuses_a_configured_mirror_and_a_negative_idle(home: Path) -> None:
    env = {**os.environ, "ALMAMIRROR_MIRROR_URL": "postgresql://u@127.0.0.1:1/x",
           "ALMAMIRROR_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "etl.cli", "db", "serve"], env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert (done.returncode, done.stderr.strip()) == (
        2, "almamirror: db serve is for the embedded server; the mirror is configured (mirror.url)"
    )
    negative = run(home, "db", "serve", "--idle", "-1")
    assert negative.returncode == 2
    assert "--idle must be 0 (never) or more minutes" in negative.stderr

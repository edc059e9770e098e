"""The embedded PostgreSQL: started on demand, shared by processes that use it at once."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from etl import migrations


def almamirror_process(home: Path, *args: str, quiet: bool = True) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALMAMIRROR_")}
    env["ALMAMIRROR_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-m", "etl.cli", *(["-q"] if quiet else []), *args], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_embedded_started_is_logged_only_by_the_process_that_started_the_server() -> None:
    with tempfile.TemporaryDirectory(prefix="am-emb-") as directory:
        home = Path(directory)
        holder = almamirror_process(home, "db", "psql", "--", "-c", "select pg_sleep(6)", quiet=False)
        deadline = time.monotonic() + 60
        while not (home / "pgdata" / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        joiner = almamirror_process(home, "db", "current", quiet=False)
        joined_out, joined = joiner.communicate(timeout=120)
        _out, started = holder.communicate(timeout=120)
        assert holder.returncode == 0, started
        assert "embedded.started" in started
        assert "embedded.started" not in joined, joined
        assert (joiner.returncode, joined_out.strip()) == (1, "current: base (not migrated); head: "
                                                           + ", ".join(migrations.heads()))


def test_two_processes_start_and_share_one_embedded_server() -> None:
    # A short path of our own: the server's socket lives in its data directory.
    with tempfile.TemporaryDirectory(prefix="am-emb-") as directory:
        home = Path(directory)
        first = almamirror_process(home, "db", "upgrade")
        second = almamirror_process(home, "db", "upgrade")
        outputs = [process.communicate(timeout=180) for process in (first, second)]
        for process, (out, err) in zip((first, second), outputs, strict=True):
            assert process.returncode == 0, err
            assert out == ""  # -q: nothing on stdout on success
        assert (home / "pgdata" / "PG_VERSION").is_file()
        # Both left; the server stopped with the last of them, and starts again for the next user.
        runs = almamirror_process(home, "report", "runs", "--format", "json")
        out, err = runs.communicate(timeout=120)
        assert runs.returncode == 0, err
        assert out.strip() == "[]"
        assert not (home / "pgdata" / "postmaster.pid").exists()

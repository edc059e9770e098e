"""The embedded PostgreSQL: started on demand, shared by processes that use it at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from etl import migrations
from tests.scratch import memory_directory


def almamirror_process(home: Path, *args: str, quiet: bool = True) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALMAMIRROR_")}
    env["ALMAMIRROR_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-m", "etl.cli", *(["-q"] if quiet else []), *args], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def until_file_exists(path: Path, seconds: int = 120) -> str:
    """SQL that returns once ``path`` exists (or after ``seconds``): a session open until the test says."""
    # .size: the whole row is never NOT NULL, its creation time being NULL on Linux.
    return (
        f"DO $$ BEGIN FOR i IN 1..{seconds * 10} LOOP "
        f"EXIT WHEN (pg_stat_file('{path}', true)).size IS NOT NULL; PERFORM pg_sleep(0.1); END LOOP; END $$"
    )


def test_embedded_started_is_logged_only_by_the_process_that_started_the_server() -> None:
    with memory_directory("am-emb-") as directory:
        home = Path(directory)
        # The holder keeps its server in use until the joiner has finished (no fixed sleep to outlast it).
        joined_flag = home / "joined"
        holder = almamirror_process(
            home, "db", "psql", "--", "-c", until_file_exists(joined_flag), quiet=False
        )
        deadline = time.monotonic() + 60
        while not (home / "pgdata" / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        joiner = almamirror_process(home, "db", "current", quiet=False)
        joined_out, joined = joiner.communicate(timeout=120)
        assert holder.poll() is None, holder.communicate()  # the holder was still there
        joined_flag.touch()
        _out, started = holder.communicate(timeout=120)
        assert holder.returncode == 0, started
        assert "embedded.started" in started
        assert "embedded.started" not in joined, joined
        assert (joiner.returncode, joined_out.strip()) == (1, "current: base (not migrated); head: "
                                                           + ", ".join(migrations.heads()))


def test_two_processes_start_and_share_one_embedded_server() -> None:
    # A short path of our own: the server's socket lives in its data directory.
    with memory_directory("am-emb-") as directory:
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

"""The embedded PostgreSQL: started on demand, shared by processes that use it at once."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path


def almamirror_process(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALMAMIRROR_")}
    env["ALMAMIRROR_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-m", "etl.cli", "-q", *args], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )


def test_two_processes_start_and_share_one_embedded_server() -> None:
    # A short path of our own: the server's socket lives in its data directory.
    with tempfile.TemporaryDirectory(prefix="am-emb-") as directory:
        home = Path(directory)
        first = almamirror_process(home, "db", "upgrade")
        second = almamirror_process(home, "db", "upgrade")
        outputs = [process.communicate(timeout=180) for process in (first, second)]
        for process, (out, err) in zip((first, second), outputs, strict=True):
            assert process.returncode == 0, err
            assert "the mirror is at revision" in out
        assert (home / "pgdata" / "PG_VERSION").is_file()
        # Both left; the server stopped with the last of them, and starts again for the next user.
        runs = almamirror_process(home, "report", "runs", "--format", "json")
        out, err = runs.communicate(timeout=120)
        assert runs.returncode == 0, err
        assert out.strip() == "[]"
        assert not (home / "pgdata" / "postmaster.pid").exists()

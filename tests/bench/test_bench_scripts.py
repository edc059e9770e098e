"""The bench scripts run at their smallest scale, so they cannot rot; their figures are not checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scratch import memory_directory

ROOT = Path(__file__).resolve().parents[2]


def test_bench_ppr_at_the_small_scale_prints_every_figure() -> None:
    # The bench's embedded server and the request directories it writes (under $TMPDIR) on the memory
    # file system where there is one: the figures are not checked, its fsyncs return at once.
    with memory_directory("am-bp-") as home:
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "ppr.py"), "--scale", "small", "--home", home,
             "--repeat", "10"],
            capture_output=True, text=True, timeout=600, check=False, cwd=ROOT,
            env={**os.environ, "TMPDIR": home},
        )
    assert done.returncode == 0, done.stderr
    steps = [line.split("  ")[0] for line in done.stdout.splitlines()]
    assert steps[:3] == ["demo archive", "baseline sync", "history of change events"], done.stdout
    for step in ("ppr --all-restorable --build", "file system alone (a batch flushed at once)",
                 "file system alone (each file flushed)", "single PPR (in-process, validated)",
                 "SELECT * FROM restorable_mous (server)"):
        assert step in steps, done.stdout
    assert "x the target of 1,000/s" in done.stdout
    assert "x the target of 10 ms" in done.stdout
    assert "x the target of 200 ms" in done.stdout


@pytest.mark.long  # a demo built in a home of its own, and the server started and stopped around it
def test_bench_startup_prints_every_command_with_its_target() -> None:
    with memory_directory("am-bs-") as home:  # short: the server's socket is in it
        done = subprocess.run(
            # The suite's processes have written the bytecode caches the untimed first runs would write.
            [sys.executable, str(ROOT / "bench" / "startup.py"), "--home", home, "--repeat", "1",
             "--no-warm-up"],
            capture_output=True, text=True, timeout=900, check=False, cwd=ROOT,
        )
    assert done.returncode == 0, done.stderr
    labels = [line.split("  wall")[0].strip() for line in done.stdout.splitlines() if "  wall" in line]
    assert labels == [
        "almamirror --version", "almamirror --help", "almamirror report --help",
        "report restorable (db serve)", "report newly-restorable (db serve)",
        "explain uid://A001/X129e/Xb6 (db serve)", "report restorable (no db serve)",
    ], done.stdout
    assert done.stdout.count("target 0.3 s") == 3
    assert done.stdout.count("target 0.5 s") == 3


def test_bench_demo_features_at_the_small_scale_finds_every_feature(tmp_path: Path) -> None:
    with memory_directory("am-bf-") as home:  # as above
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "demo_features.py"), "--scale", "small", "--home", home],
            capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("small archive filled in "), done.stdout
    assert lines[-1] == "every feature present", done.stdout

"""The bench scripts run at their smallest scale, so they cannot rot; their figures are not checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_ppr_at_the_small_scale_prints_every_figure(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ppr.py"), "--scale", "small", "--home", str(tmp_path),
         "--repeat", "10"],
        capture_output=True, text=True, timeout=600, check=False, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    steps = [line.split("  ")[0] for line in done.stdout.splitlines()]
    assert steps[:3] == ["demo archive", "baseline sync", "history of change events"], done.stdout
    for step in ("ppr --all-restorable --build", "file system alone (same writer threads)",
                 "single PPR (in-process, validated)",
                 "SELECT * FROM restorable_mous (server)"):
        assert step in steps, done.stdout
    assert "x the target of 1,000/s" in done.stdout
    assert "x the target of 10 ms" in done.stdout
    assert "x the target of 200 ms" in done.stdout

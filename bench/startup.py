"""Benchmark what an operator waits for at the terminal: --help, --version, a report, explain.

Each command runs as its own process (as from a shell), ``--repeat`` times; the median wall time and
the median CPU time (user + system of the process) are printed beside the target. Reports and
explain run against the demo mirror while ``almamirror db serve`` keeps the embedded server up, and
once more without it (each command starts and stops the server, as before ``db serve``).

    .venv/bin/python bench/startup.py --home /tmp/am-bench-startup [--repeat 7] [--no-warm-up]

The demo archive is built in HOME first if it is not there (``almamirror demo``).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SEED_MOUS = "uid://A001/X129e/Xb6"
COMMANDS = (
    ("almamirror --version", ["--version"], 0.3, False),
    ("almamirror --help", ["--help"], 0.3, False),
    ("almamirror report --help", ["report", "--help"], 0.3, False),
    ("report restorable (db serve)", ["report", "restorable", "--no-pager"], 0.5, True),
    ("report newly-restorable (db serve)", ["report", "newly-restorable", "--no-pager"], 0.5, True),
    (f"explain {SEED_MOUS} (db serve)", ["explain", SEED_MOUS], 0.5, True),
)


def _environment(home: Path) -> dict[str, str]:
    # PYTHONDONTWRITEBYTECODE (set on some development machines) would compile every almamirror
    # module from source on each run, ~0.1 s that an installed wheel (pip compiles it) never pays.
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("ALMAMIRROR_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["ALMAMIRROR_HOME"] = str(home)
    return env


def _cli(home: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etl.cli", *args], env=_environment(home), capture_output=True,
        text=True, check=False, timeout=600,
    )


def _samples(home: Path, args: list[str], repeat: int, warm_up: bool) -> list[tuple[float, float]]:
    if warm_up:
        _cli(home, args)  # untimed: writes the bytecode caches an installed wheel already has
    return [_time(home, args) for _ in range(repeat)]


def _time(home: Path, args: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = _cli(home, args)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"almamirror {' '.join(args)} failed: {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _line(label: str, samples: list[tuple[float, float]], target: float | None) -> str:
    wall = statistics.median(sample[0] for sample in samples)
    cpu = statistics.median(sample[1] for sample in samples)
    aim = f"  target {target:.1f} s ({wall / target:.1f}x)" if target else ""
    return f"{label:<44} wall {wall:6.3f} s  cpu {cpu:6.3f} s{aim}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="embedded home with (or for) the demo")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--no-warm-up", dest="warm_up", action="store_false",
        help="no untimed first run of each command (where the bytecode caches are written already)",
    )
    args = parser.parse_args()
    home: Path = args.home.resolve()
    if not (home / "pgdata" / "PG_VERSION").exists():
        built = _cli(home, ["-q", "demo", "--no-fetch", "--output", str(home / "demo-output")])
        if built.returncode != 0:
            sys.exit(f"almamirror demo failed: {built.stderr.strip()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} cores)")
    _cli(home, ["db", "stop"])
    for label, argv, target, _served in COMMANDS:
        if not _served:
            print(_line(label, _samples(home, argv, args.repeat, args.warm_up), target), flush=True)
    serving = _cli(home, ["-q", "db", "serve", "--detach"])
    if serving.returncode != 0:
        sys.exit(f"db serve failed: {serving.stderr.strip()}")
    try:
        for label, argv, target, served in COMMANDS:
            if served:
                print(_line(label, _samples(home, argv, args.repeat, args.warm_up), target), flush=True)
    finally:
        _cli(home, ["db", "stop"])
    # Half as many (each starts and stops the server), and one when --repeat 1 asks for a quick run.
    unserved = _samples(home, ["report", "restorable", "--no-pager"], max(1, args.repeat // 2), args.warm_up)
    print(_line("report restorable (no db serve)", unserved, None))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

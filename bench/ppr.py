"""Benchmark restore requests in bulk: ``ppr --all-restorable --build``, one PPR, ``restorable_mous``.

    .venv/bin/python bench/ppr.py [--scale alma] [--home DIR] [--seed N] [--repeat N]
                                  [--source-url URL --mirror-url URL]

Uses its own embedded PostgreSQL under --home (default ~/.cache/almamirror-bench-ppr): a source database
``bench_source_<scale>`` filled once with the demo archive and a mirror ``bench_ppr_mirror_<scale>``
synced from it once and given a history of change events; later runs reuse both. ``--source-url`` and
``--mirror-url`` name such databases on another server (a stock one) instead. Then, in one run:
every restorable MOUS's request directory written and validated into a fresh directory (request
directories per second), directories of fixed content written by the same writer threads (the file
system's ceiling), one MOUS's PPR built from the mirror and validated (median and 95th percentile),
and the server time of a full scan of ``restorable_mous`` (``EXPLAIN ANALYZE``, median). Each figure
is printed with its ratio to the target.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory comes first on the path, where its name hides the ppr package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import os
import shutil
import statistics
import tempfile
import time

from sqlalchemy import Connection, Engine, func, select, text

from etl import embedded, migrations
from etl.database import create_mirror_engine, create_source_engine, mirror_url, source_url
from etl.demo.fill import demo_archive_present, demo_archive_scale, fill_demo_archive
from etl.mirror import SyncRun, table_of
from etl.settings import PprSettings, Settings, load_settings
from etl.source.contract import CONTRACT
from etl.sync.pipeline import run_sync
from ppr import writer
from ppr.layout import RequestFiles
from ppr.query import verdicts
from ppr.service import build_all_restorable, generate_ppr
from ppr.writer import RequestWriter

# Issue 12's targets for restore requests in bulk.
TARGET_DIRS_PER_SECOND = 1_000.0
TARGET_SINGLE_MS = 10.0
TARGET_SCAN_MS = 200.0
# The file-system ceiling: directories like a PPR's (its file and manifest of typical sizes at ALMA
# scale), written by the bulk run's own writer threads with nothing to build.
FILE_SYSTEM_DIRECTORIES = {"small": 200, "medium": 2_000, "alma": 10_000}
PPR_BYTES = 4_900
MANIFEST_BYTES = 4_800
# The other files of a request directory at ALMA scale (mean sizes on the bench's mirror, which has no
# archive, so every directory carries a written pipeline manifest): six files, each flushed.
EXTRA_FILES = (
    ("README.txt", 900), ("restore.json", 1_800), ("run-restore.sh", 1_900),
    ("products/pipeline_manifest.xml", 1_400),
)
FULL_SCAN = text("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) SELECT * FROM restorable_mous")
# A baseline records no change events, so the mirror is given three years of nightly history, as
# bench/report_views.py fills it: 1,100 runs, 100 events per MOUS in groups of 10 per (MOUS, run).
HISTORY_SOURCE = "bench:history"
HISTORY_RUNS = 1_100
EVENTS_PER_MOUS = 100
EVENTS_PER_CHANGE = 10
HISTORY_RUNS_FILL = text("""
    INSERT INTO sync_run (started_at, finished_at, status, "full", baseline, host, pid, source)
    SELECT day + interval '3 hours', day + interval '3 hours 4 minutes', 'succeeded', false, false,
           'bench', 1, :source
    FROM generate_series(1, :runs) AS n,
         LATERAL (SELECT date_trunc('day', now()) - (:runs - n) * interval '1 day' AS day) AS days
""")
HISTORY_EVENTS_FILL = text("""
    INSERT INTO change_event (run_id, table_name, row_key, mous_uid, kind, changed_columns, old_values,
                              new_values)
    SELECT run.run_id, 'execution_block', format('bench %s %s', c, e), mous.mous_uid, 'update',
           ARRAY['qa0_status'], '{"qa0_status": "Pending"}'::jsonb, '{"qa0_status": "Pass"}'::jsonb
    FROM generate_series(1, :changes) AS c
    JOIN (SELECT mous_uid, row_number() OVER (ORDER BY mous_uid) AS m FROM mous_status) AS mous
      ON mous.m = 1 + abs(hashtext('e' || c)) % :mous
    JOIN (SELECT run_id, row_number() OVER (ORDER BY run_id) AS r FROM sync_run WHERE source = :source)
      AS run ON run.r = 1 + ((c - 1)::bigint * :runs) / :changes
    CROSS JOIN generate_series(1, :per_change) AS e
    ORDER BY c, e
""")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", default="alma", choices=("small", "medium", "alma"))
    parser.add_argument("--home", type=Path, default=Path.home() / ".cache" / "almamirror-bench-ppr")
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--repeat", type=int, default=200, help="single PPRs timed (default: 200)")
    parser.add_argument("--source-url", help="the source database (filled if empty), instead of the embedded")
    parser.add_argument("--mirror-url", help="the mirror database (synced once), instead of the embedded")
    args = parser.parse_args(argv)
    if bool(args.source_url) != bool(args.mirror_url):
        parser.error("--source-url and --mirror-url go together")

    urls = (args.source_url, args.mirror_url) if args.source_url else None
    settings, source, mirror = prepare(args.home, args.scale, args.seed, urls)
    # What each step wrote is removed at the end, not between steps: ext4 skips the inodes it freed in
    # the last minutes when it allocates new ones (recently_deleted), and creating files right after
    # removing 450,000 cost ten times the kernel CPU (perf, 7 December 2026).
    written: list[Path] = []
    try:
        with mirror.connect() as connection:
            describe(connection)
            bulk_rate = measure_bulk(connection, settings.ppr, written)
            measure_file_system(FILE_SYSTEM_DIRECTORIES[args.scale], bulk_rate, written)
            measure_file_system(FILE_SYSTEM_DIRECTORIES[args.scale], bulk_rate, written, each_file=True)
            measure_single(connection, settings.ppr, args.repeat)
            measure_scan(connection, max(5, args.repeat // 40))
    finally:
        mirror.dispose()
        source.dispose()
        for base in written:
            shutil.rmtree(base, ignore_errors=True)
    return 0


def prepare(
    home: Path, scale: str, seed: int, urls: tuple[str, str] | None = None
) -> tuple[Settings, Engine, Engine]:
    """The settings and engines of a demo archive of ``scale`` and a mirror synced from it once: the
    embedded server's databases, or those of ``urls`` (source, mirror) on another server."""
    if urls is None:
        urls = (
            embedded.database_url(home, f"bench_source_{scale}").render_as_string(hide_password=False),
            embedded.database_url(home, f"bench_ppr_mirror_{scale}").render_as_string(hide_password=False),
        )
    settings = load_settings(environ={
        "ALMAMIRROR_HOME": str(home),
        "ALMAMIRROR_SOURCE_URL": urls[0],
        "ALMAMIRROR_MIRROR_URL": urls[1],
        "ALMAMIRROR_LOG_LEVEL": "WARNING",
    })
    source = create_source_engine(source_url(settings), settings)
    if not demo_archive_present(source, "alma") or demo_archive_scale(source, "alma")[1] != scale:
        started = time.monotonic()
        summary = fill_demo_archive(source, CONTRACT, "alma", scale=scale, seed=seed)
        report("demo archive", f"{time.monotonic() - started:.1f} s", summary.describe())
    mirror = create_mirror_engine(mirror_url(settings))
    migrations.upgrade(mirror)
    if not synced(mirror):
        # No NGAS in these settings: the mirror holds no calibration records (bench/calibration_record.py).
        summary = run_sync(mirror, source, settings.source, archive=settings.archive)
        report("baseline sync", f"{summary.seconds:.1f} s", f"{summary.restorable_total:,} restorable")
    add_history(mirror)
    with mirror.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # Statistics and a visibility map, as autovacuum leaves a mirror between nightly syncs.
        connection.execute(text("VACUUM ANALYZE"))
    return settings, source, mirror


def synced(mirror: Engine) -> bool:
    runs = table_of(SyncRun)
    with mirror.connect() as connection:
        found = connection.execute(
            select(func.count()).select_from(runs).where(runs.c.status == "succeeded")
        ).scalar_one()
    return bool(found)


def add_history(mirror: Engine) -> None:
    """Nightly runs and their change events, once, so ``last_change_at`` has a history to look in."""
    runs = table_of(SyncRun)
    with mirror.begin() as connection:
        if connection.execute(select(runs.c.run_id).where(runs.c.source == HISTORY_SOURCE).limit(1)).first():
            return
        mous = connection.execute(text("SELECT count(*) FROM mous_status")).scalar_one()
        started = time.monotonic()
        connection.execute(HISTORY_RUNS_FILL, {"runs": HISTORY_RUNS, "source": HISTORY_SOURCE})
        events = connection.execute(HISTORY_EVENTS_FILL, {
            "changes": mous * EVENTS_PER_MOUS // EVENTS_PER_CHANGE, "mous": mous, "runs": HISTORY_RUNS,
            "per_change": EVENTS_PER_CHANGE, "source": HISTORY_SOURCE,
        }).rowcount
    report("history of change events", f"{time.monotonic() - started:.1f} s",
           f"{HISTORY_RUNS:,} runs, {events:,} events")


def describe(connection: Connection) -> None:
    counts = connection.execute(text("""
        SELECT (SELECT count(*) FROM mous_status) AS mous,
               (SELECT count(*) FROM mous_status WHERE restorable) AS restorable,
               (SELECT count(*) FROM change_event) AS change_events,
               (SELECT count(*) FROM product_file) AS product_files
    """)).one()
    print(", ".join(f"{name} {value:,}" for name, value in counts._mapping.items()))


def measure_bulk(connection: Connection, site: PprSettings, written: list[Path]) -> float:
    """``ppr --all-restorable --build`` into a fresh directory: request directories per second."""
    base = Path(tempfile.mkdtemp(prefix="almamirror-bench-ppr-"))
    written.append(base)
    os.sync()  # the step's own flushes, not those of what ran before it
    before = os.times()
    started = time.perf_counter()
    summary = build_all_restorable(connection, base, site, allow_proprietary=True)
    seconds = time.perf_counter() - started
    after = os.times()
    rate = len(summary.written) / seconds
    # CPU of this process and of the worker processes it waited for (user + system, the kernel's file
    # system work included): what the run costs whatever else shares the machine's cores.
    cpu = sum(after[:4]) - sum(before[:4])
    report(
        "ppr --all-restorable --build", f"{rate:,.0f} dirs/s",
        f"{len(summary.written):,} written, {len(summary.refused):,} refused in {seconds:.2f} s; "
        f"{rate / TARGET_DIRS_PER_SECOND:.2f}x the target of {TARGET_DIRS_PER_SECOND:,.0f}/s; "
        f"CPU {cpu * 1000 / max(len(summary.written), 1):.2f} ms per directory (client side, "
        f"{cpu:.1f} s); load average {os.getloadavg()[0]:.1f}",
    )
    return rate


def measure_file_system(count: int, bulk_rate: float, written: list[Path], each_file: bool = False) -> None:
    """The same directories with fixed content through the same writer: the file system's ceiling;
    with ``each_file``, every file flushed before its directory's rename (the writer's fallback)."""
    base = Path(tempfile.mkdtemp(prefix="almamirror-bench-fs-"))
    written.append(base)
    ppr_bytes, manifest_bytes = b"x" * PPR_BYTES, b"x" * MANIFEST_BYTES
    extra = tuple((name, b"x" * size) for name, size in EXTRA_FILES)
    directories: list[Path] = []
    os.sync()
    writer.flush_mode.each_file = each_file
    try:
        started = time.perf_counter()
        with RequestWriter(False, on_written=lambda _uid, path: directories.append(path),
                           on_exists=lambda _uid, error: sys.exit(f"bench: {error}")) as bulk:
            for number in range(count):
                target = base / f"run_{number // 1000}" / f"MOUS_{number}"
                bulk.submit(str(number), RequestFiles(target, "PPR.xml", ppr_bytes, manifest_bytes, extra))
        seconds = time.perf_counter() - started
    finally:
        writer.flush_mode.each_file = False
    how = "each file flushed" if each_file else "a batch flushed at once"
    report(
        f"file system alone ({how})", f"{len(directories) / seconds:,.0f} dirs/s",
        f"{len(directories):,} directories of {2 + len(EXTRA_FILES)} files in {seconds:.2f} s; "
        f"the bulk run wrote {bulk_rate / (len(directories) / seconds):.2f}x as many per second",
    )


def measure_single(connection: Connection, site: PprSettings, repeat: int) -> None:
    """One MOUS's PPR from the mirror, validated (``generate_ppr``), over a spread of MOUSes."""
    # Restored by a PPR: verdicts also lists MOUSes restored by a delivery's scriptForPI.py.
    restorable = sorted(uid for uid, verdict in verdicts(connection).items() if verdict.restorable)
    if not restorable:
        sys.exit("bench: the mirror holds no restorable MOUS")
    step = max(1, len(restorable) // repeat)
    chosen = [restorable[(i * step) % len(restorable)] for i in range(repeat)]
    generate_ppr(connection, chosen[0], site, allow_proprietary=True)  # schema compiled, caches warm
    times = []
    for mous_uid in chosen:
        started = time.perf_counter()
        generate_ppr(connection, mous_uid, site, allow_proprietary=True)
        times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times)
    p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
    report(
        "single PPR (in-process, validated)", f"{median:.2f} ms",
        f"median of {len(times)}, p95 {p95:.2f} ms; {median / TARGET_SINGLE_MS:.2f}x the target of "
        f"{TARGET_SINGLE_MS:.0f} ms",
    )


def measure_scan(connection: Connection, repeat: int) -> None:
    """``SELECT * FROM restorable_mous``: the server's execution time, median of ``repeat``."""
    times = [connection.execute(FULL_SCAN).scalar_one()[0]["Execution Time"] for _ in range(repeat)]
    median = statistics.median(times)
    report(
        "SELECT * FROM restorable_mous (server)", f"{median:.1f} ms",
        f"median of {repeat} (min {min(times):.1f}, max {max(times):.1f}); "
        f"{median / TARGET_SCAN_MS:.2f}x the target of {TARGET_SCAN_MS:.0f} ms",
    )


def report(step: str, figure: str, detail: str) -> None:
    print(f"{step:<42} {figure:>14}  {detail}", flush=True)


if __name__ == "__main__":
    sys.exit(main())

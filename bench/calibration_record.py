"""Benchmark the calibration record: what fetching every document from NGAS adds to a baseline sync.

    .venv/bin/python bench/calibration_record.py [--scale alma] [--home DIR] [--workers 8]

In one run, on a demo archive of ``--scale`` (the ``alma`` scale has ≈36,000 MOUSes with caltables,
each with a manifest, a restore script and an archived PPR):

1. a baseline sync of a fresh mirror with no archive configured (the documents are not fetched), and
   a quiet night on that mirror;
2. a baseline sync of another fresh mirror against the stand-in NGAS (``almamirror archive serve``, a
   separate process), ``--workers`` documents at a time: every document is fetched;
3. a quiet night on that mirror: nothing changed, so no document is fetched.

Prints each run's time and the documents fetched, what step 2 adds to step 1's baseline, the CPU per
document on either side, and what step 3 adds to step 1's quiet night. Uses its own
embedded PostgreSQL under --home, a source database ``bench_source_<scale>`` filled once, and fresh
mirror databases per run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import Engine
from sync import peak_rss_mb, reset_peak_rss  # bench/sync.py, beside this script

from etl import embedded, migrations
from etl.database import create_mirror_engine, create_source_engine
from etl.demo.fill import demo_archive_present, fill_demo_archive
from etl.demo.ngas_process import start_stand_in
from etl.settings import ArchiveSettings, Settings, load_settings
from etl.source.contract import CONTRACT
from etl.sync.pipeline import SyncSummary, run_sync

TARGET_ADDED_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", default="alma", choices=("small", "medium", "alma"))
    parser.add_argument("--home", type=Path, default=Path.home() / ".cache" / "almamirror-bench")
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()

    source_url = embedded.database_url(args.home, f"bench_source_{args.scale}")
    settings = load_settings(environ={
        "ALMAMIRROR_HOME": str(args.home),
        "ALMAMIRROR_SOURCE_URL": source_url.render_as_string(hide_password=False),
        "ALMAMIRROR_LOG_LEVEL": "WARNING",
    })
    source = create_source_engine(source_url, settings)
    if not demo_archive_present(source, "alma"):
        started = time.monotonic()
        summary = fill_demo_archive(source, CONTRACT, "alma", scale=args.scale, seed=args.seed)
        report("demo archive", time.monotonic() - started, summary.describe())

    without = fresh_mirror(args.home, f"bench_record_none_{args.scale}")
    reset_peak_rss()  # each sync's own peak, printed under it
    cpu = time.process_time()
    baseline = run_sync(without, source, settings.source)
    baseline_cpu = time.process_time() - cpu
    report_sync("baseline sync, no archive configured", baseline)
    quiet_without = run_sync(without, source, settings.source)
    report_sync("quiet night (no source change), no archive configured", quiet_without)
    without.dispose()

    environment = {
        "ALMAMIRROR_SOURCE_URL": source_url.render_as_string(hide_password=False),
        "ALMAMIRROR_HOME": str(args.home), "ALMAMIRROR_LOG_LEVEL": "WARNING",
    }
    with start_stand_in(environment) as ngas:
        archive = bench_archive(settings, ngas.url, args.workers)
        mirror = fresh_mirror(args.home, f"bench_record_ngas_{args.scale}")
        cpu, server_before = time.process_time(), process_cpu_seconds(ngas.process.pid)
        fetched = run_sync(mirror, source, settings.source, archive=archive)
        fetched_cpu = time.process_time() - cpu
        server_cpu = process_cpu_seconds(ngas.process.pid) - server_before
        report_sync(f"baseline sync, documents from the stand-in NGAS ({args.workers} workers)", fetched)
        quiet = run_sync(mirror, source, settings.source, archive=archive)
        report_sync("quiet night (no source change), same archive", quiet)
        mirror.dispose()
    source.dispose()

    added = fetched.seconds - baseline.seconds
    documents = fetched.documents
    rate = documents.fetched / documents.seconds if documents.seconds else 0.0
    print(f"documents: {documents.listed:,} listed, {documents.fetched:,} fetched in "
          f"{documents.seconds:.1f} s ({rate:,.0f} per second), {documents.missing:,} not in the archive")
    client_cpu = fetched_cpu - baseline_cpu
    per_document = 1000 / max(documents.fetched, 1)
    print(f"CPU per document fetched: {client_cpu * per_document:.2f} ms in the sync's process (its CPU "
          f"beyond the baseline's, {client_cpu:.1f} s), {server_cpu * per_document:.2f} ms in the stand-in "
          f"NGAS ({server_cpu:.1f} s); {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    verdict = "met" if added <= TARGET_ADDED_SECONDS else "NOT met"
    print(f"added to the baseline sync: {added:.1f} s (target ≤ {TARGET_ADDED_SECONDS:.0f} s: {verdict}); "
          f"ratio {fetched.seconds / baseline.seconds:.2f}")
    print(f"quiet night: {quiet.documents.fetched:,} documents fetched (target 0), "
          f"{quiet.seconds - quiet_without.seconds:+.1f} s against a quiet night without an archive")


def bench_archive(settings: Settings, url: str, workers: int) -> ArchiveSettings:
    # A budget far above the fetch: the bench measures the whole fetch, not the budget.
    return replace(settings.archive, ngas_urls=(url,), workers=workers, document_time_budget=86_400)


def fresh_mirror(home: Path, name: str) -> Engine:
    url = embedded.database_url(home, name)
    mirror = create_mirror_engine(url, "almamirror-sync")
    migrations.downgrade(mirror, "base")
    migrations.upgrade(mirror)
    return mirror


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of another process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(step: str, seconds: float, detail: str) -> None:
    print(f"{step:<66} {seconds:8.1f} s  {detail}")
    sys.stdout.flush()


def report_sync(step: str, summary: SyncSummary) -> None:
    documents = summary.documents
    fetched = f"{documents.fetched:,} documents fetched" if documents.configured else "no archive"
    report(step, summary.seconds, f"{fetched}, {summary.mous_derived:,} MOUSes derived, "
           f"{summary.restorable_total:,} restorable")
    slowest = sorted(summary.tables, key=lambda table: table.seconds, reverse=True)[:3]
    print("    slowest: " + ", ".join(f"{t.table} {t.seconds:.1f} s" for t in slowest)
          + f"; this process's peak RSS since the step before: {peak_rss_mb():.0f} MB")
    reset_peak_rss()


if __name__ == "__main__":
    main()

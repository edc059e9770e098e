"""Benchmark the sync: baseline, no-change, incremental and full runs on a demo archive.

    .venv/bin/python bench/sync.py [--scale alma] [--home DIR] [--seed N]

Uses its own embedded PostgreSQL under --home (default ~/.cache/almamirror-bench), a source database
``bench_source_<scale>`` filled once with the demo archive, and a fresh mirror database per run.
Prints one line per measured step and peak memory of this process (the sync runs in it).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, Insert, Table, func, insert, select, update

from etl import embedded, migrations
from etl.database import create_mirror_engine, create_source_engine
from etl.demo.fill import demo_archive_present, fill_demo_archive
from etl.demo.fixed_cases import FIXED_CASES
from etl.settings import load_settings
from etl.source.contract import CONTRACT, contract_table
from etl.sync.pipeline import SyncSummary, run_sync


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", default="alma", choices=("small", "medium", "alma"))
    parser.add_argument("--home", type=Path, default=Path.home() / ".cache" / "almamirror-bench")
    parser.add_argument("--seed", type=int, default=2017)
    args = parser.parse_args()

    source_url = embedded.database_url(args.home, f"bench_source_{args.scale}")
    mirror_url = embedded.database_url(args.home, f"bench_mirror_{args.scale}")
    settings = load_settings(environ={
        "ALMAMIRROR_HOME": str(args.home),
        "ALMAMIRROR_SOURCE_URL": source_url.render_as_string(hide_password=False),
        "ALMAMIRROR_MIRROR_URL": mirror_url.render_as_string(hide_password=False),
        "ALMAMIRROR_LOG_LEVEL": "WARNING",
    })
    source = create_source_engine(source_url, settings)
    if not demo_archive_present(source, "alma"):
        started = time.monotonic()
        summary = fill_demo_archive(source, CONTRACT, "alma", scale=args.scale, seed=args.seed)
        report("demo archive", time.monotonic() - started, summary.describe())

    mirror = create_mirror_engine(mirror_url)
    migrations.downgrade(mirror, "base")
    migrations.upgrade(mirror)

    # No NGAS in these settings: the calibration documents are left out (bench/calibration_record.py).
    archive = settings.archive
    report_sync("baseline sync", run_sync(mirror, source, settings.source, archive=archive))
    report_sync("no-change sync", run_sync(mirror, source, settings.source, archive=archive))
    changed = script_changes(source)
    report_sync(f"incremental sync ({changed})", run_sync(mirror, source, settings.source, archive=archive))
    report_sync(
        "full sync (every MOUS re-derived)",
        run_sync(mirror, source, settings.source, full=True, archive=archive),
    )
    mirror.dispose()
    source.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the benchmark process: {peak_mb:,.0f} MB")


def script_changes(source: Engine) -> str:
    """A realistic night: some QA0 changes, a claw-back, calibrations appearing for an old MOUS."""
    execblocks = contract_table(CONTRACT, "aqua_execblock")
    deliveries = contract_table(CONTRACT, "asa_delivery_status")
    products = contract_table(CONTRACT, "asa_product_files")
    case = FIXED_CASES["missing_calibration"]
    disk = case.mous_uid.replace(":", "_").replace("/", "_")
    with source.begin() as connection:
        qa0 = connection.execute(
            update(execblocks).where(
                execblocks.c.execblockuid.in_(
                    select(execblocks.c.execblockuid).where(execblocks.c.qa0status == "Pass")
                    .order_by(execblocks.c.execblockuid).limit(25)
                )
            ).values(qa0status="SemiPass")
        ).rowcount
        clawed = connection.execute(
            update(deliveries).where(deliveries.c.id.in_(
                select(deliveries.c.id).where(deliveries.c.release_date.is_not(None))
                .order_by(deliveries.c.id).limit(10)
            )).values(release_date=deliveries.c.release_date + timedelta(days=365))
        ).rowcount
        sessions = [n for n, ebs in enumerate(case.expected_sessions, start=1) if ebs]
        existing = connection.execute(
            select(func.count()).where(products.c.asa_ous_id == case.mous_uid,
                                       products.c.ngas_file_id.like("%caltables%"))
        ).scalar_one()
        if not existing:
            connection.execute(insert_caltables(products, case.mous_uid, disk, sessions))
    return f"{qa0} QA0 changes, {clawed} release dates moved, caltables for 1 MOUS"


def insert_caltables(products: Table, mous_uid: str, disk: str, sessions: list[int]) -> Insert:
    return insert(products).values([
        {"asa_ous_id": mous_uid, "ngas_file_id": f"{disk}.session_{n}.caltables.tar.gz", "stored_size": 1}
        for n in sessions
    ])


def report(step: str, seconds: float, detail: str) -> None:
    print(f"{step:<60} {seconds:8.1f} s  {detail}")
    sys.stdout.flush()


def report_sync(step: str, summary: SyncSummary) -> None:
    rows = sum(table.rows_read for table in summary.tables)
    report(step, summary.seconds,
           f"{rows:,} rows staged or derived, {summary.changes:,} changes, "
           f"{summary.mous_derived:,} MOUSes derived, {summary.restorable_total:,} restorable")
    slowest = sorted(summary.tables, key=lambda table: table.seconds, reverse=True)[:3]
    print("    slowest: " + ", ".join(f"{t.table} {t.seconds:.1f} s" for t in slowest))


if __name__ == "__main__":
    main()

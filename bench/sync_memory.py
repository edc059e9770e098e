"""Memory over many syncs in one process, as the scheduler runs them: it must stay flat.

    .venv/bin/python bench/sync_memory.py [--syncs 20] [--scale small] [--home DIR]
        [--source-url URL --mirror-url URL]

Fills the source (if it holds no demo archive) and migrates the mirror afresh, then runs the
scheduler's job (``etl.schedule``: engines made and disposed for each sync, the schema checked)
``--syncs`` times in this process, a scripted change before every other one, and prints the
process's resident memory after each sync and the growth per sync over the second half (the first
syncs fill caches that then stay). Without URLs, databases of the embedded server under --home.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.engine import URL, make_url

from etl import embedded, migrations
from etl.database import create_mirror_engine, create_source_engine
from etl.demo.fill import demo_archive_present, fill_demo_archive
from etl.schedule import _sync_once
from etl.settings import Settings, load_settings
from etl.source.contract import CONTRACT, contract_table

PROC_STATUS = Path("/proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--syncs", type=int, default=20)
    parser.add_argument("--scale", default="small")
    parser.add_argument("--home", type=Path, default=Path.home() / ".cache" / "almamirror-bench")
    parser.add_argument("--source-url", help="the source database (filled if empty)")
    parser.add_argument("--mirror-url", help="the mirror database (migrated afresh)")
    args = parser.parse_args()
    if bool(args.source_url) != bool(args.mirror_url):
        sys.exit("--source-url and --mirror-url go together")
    source_url, mirror_url = _urls(args)
    settings = load_settings(environ={
        "ALMAMIRROR_HOME": str(args.home),
        "ALMAMIRROR_SOURCE_URL": source_url.render_as_string(hide_password=False),
        "ALMAMIRROR_MIRROR_URL": mirror_url.render_as_string(hide_password=False),
        "ALMAMIRROR_LOG_LEVEL": "WARNING",
    })
    _prepare(settings, source_url, mirror_url, args.scale)
    resident = []
    for n in range(1, args.syncs + 1):
        if n % 2 == 0:
            _change_one_execblock(settings, source_url, n)
        started = time.monotonic()
        summary = _sync_once(settings)
        gc.collect()
        resident.append(resident_mb())
        print(f"sync {n:3d}: {time.monotonic() - started:6.2f} s, {summary.changes:4d} changes, "
              f"resident {resident[-1]:7.1f} MB")
        sys.stdout.flush()
    half = len(resident) // 2
    growth = (resident[-1] - resident[half - 1]) / (len(resident) - half) if half else 0.0
    print(f"resident memory: {resident[0]:.1f} MB after the first sync, {resident[-1]:.1f} MB after sync "
          f"{len(resident)}; {growth:+.2f} MB per sync over syncs {half + 1}-{len(resident)}")


def _urls(args: argparse.Namespace) -> tuple[URL, URL]:
    if args.source_url:
        return _psycopg(make_url(args.source_url)), _psycopg(make_url(args.mirror_url))
    return (embedded.database_url(args.home, f"bench_source_{args.scale}"),
            embedded.database_url(args.home, "bench_mirror_memory"))


def _psycopg(url: URL) -> URL:
    return url.set(drivername="postgresql+psycopg") if url.drivername in ("postgresql", "postgres") else url


def _prepare(settings: Settings, source_url: URL, mirror_url: URL, scale: str) -> None:
    source = create_source_engine(source_url, settings)
    if not demo_archive_present(source, settings.source.schema):
        fill_demo_archive(source, CONTRACT, settings.source.schema, scale=scale)
    source.dispose()
    mirror = create_mirror_engine(mirror_url, "almamirror-bench")
    migrations.downgrade(mirror, "base")
    migrations.upgrade(mirror)
    mirror.dispose()


def _change_one_execblock(settings: Settings, source_url: URL, n: int) -> None:
    """A night with a change: one EB's QA0 status flips, so the sync merges and derives."""
    execblocks = contract_table(CONTRACT, "aqua_execblock")
    source = create_source_engine(source_url, settings)
    try:
        with source.begin() as connection:
            first = connection.execute(
                execblocks.select().with_only_columns(execblocks.c.execblockuid)
                .order_by(execblocks.c.execblockuid).limit(1)
            ).scalar_one()
            status = "Pass" if n % 4 else "SemiPass"
            connection.execute(
                update(execblocks).where(execblocks.c.execblockuid == first).values(qa0status=status)
            )
    finally:
        source.dispose()


def resident_mb() -> float:
    for line in PROC_STATUS.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()

"""Benchmark the sync against the copy floor: baseline, no-change, incremental and full syncs of a demo.

    .venv/bin/python bench/sync.py [--scales small,medium,alma] [--home DIR] [--seed N]
        [--link [--latency-ms 40] [--mbit 50]] [--sweep 2000,20000,100000]
        [--source-url URL --mirror-url URL] [--interleave N]

For each scale, on the embedded PostgreSQL under --home (default ~/.cache/almamirror-bench): a source
database ``bench_source_<scale>`` filled once with the demo archive, and a mirror ``bench_mirror_<scale>``
migrated afresh. (``--source-url``/``--mirror-url`` name the two databases instead, for one scale; the
source is filled if it holds no demo archive, and the scripted changes write to it.) In one run: the copy
floor (bench/copy_floor.py) first, then the syncs, each printed as seconds, as a multiple of the copy
floor, and with the peak memory of this process during it (the sync runs in it).

``--link`` puts the source behind bench/link_proxy.py (latency each way, a bandwidth cap), for the copy
floor and every sync, and adds the bytes pulled from the source to each line; ``--sweep`` then runs one
``--full`` sync per ``source.batch_rows`` value given (``source.arraysize`` set alike; it acts on Oracle
only). The end of the run gives the time per source row at each scale, and the ratios between scales.
``--interleave N`` then runs N quiet nights (``--interleave-full``: ``--full`` syncs), each between two copy
floors, and gives each one's ratio to the mean of the two (on a shared machine the load moves between the
floor and a sync run minutes later).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import resource
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

from copy_floor import CopyFloor, measure_copy_floor
from link_proxy import DEFAULT_LATENCY, DEFAULT_MBIT, LinkBytes, LinkProxy, upstream_address
from sqlalchemy import Engine, Insert, Table, func, insert, select, update
from sqlalchemy.engine import URL, make_url

from etl import embedded, migrations
from etl.database import create_mirror_engine, create_source_engine
from etl.demo.fill import demo_archive_present, fill_demo_archive
from etl.demo.fixed_cases import FIXED_CASES
from etl.settings import Settings, load_settings
from etl.source.contract import CONTRACT, contract_table
from etl.sync.pipeline import SyncSummary, run_sync

SCALES = ("small", "medium", "alma")
# The steps whose time per source row should not grow with the archive (issue target: flat).
PER_ROW_STEPS = ("copy floor", "full sync", "no-change sync")
CLEAR_REFS = Path("/proc/self/clear_refs")
PROC_STATUS = Path("/proc/self/status")
T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    """One measured step: its time, this process's peak memory during it, the bytes over the link."""

    name: str
    seconds: float
    peak_rss_mb: float
    carried: LinkBytes | None = None


@dataclass
class ScaleRun:
    scale: str
    source_rows: int = 0
    steps: dict[str, Step] = field(default_factory=dict)


def main() -> None:
    args = parse_arguments()
    scales = [scale.strip() for scale in args.scales.split(",") if scale.strip()]
    unknown = [scale for scale in scales if scale not in SCALES]
    if unknown or not scales:
        sys.exit(f"--scales: unknown scale(s) {', '.join(unknown) or '(none)'}; known: {', '.join(SCALES)}")
    named = [url for url in (args.source_url, args.mirror_url) if url]
    if named and (len(named) < 2 or len(scales) > 1):
        sys.exit("--source-url and --mirror-url go together, with one scale")
    runs = [run_scale(scale, args) for scale in scales]
    report_per_row(runs)
    peak = max(step.peak_rss_mb for run in runs for step in run.steps.values())
    print(f"peak RSS of the benchmark process: {peak:,.0f} MB")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", "--scale", default="alma", help="comma-separated: small,medium,alma")
    parser.add_argument("--home", type=Path, default=Path.home() / ".cache" / "almamirror-bench")
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--source-url", help="the source database (filled if empty), instead of the embedded")
    parser.add_argument("--mirror-url", help="the mirror database (migrated afresh), instead of the embedded")
    parser.add_argument("--refill", action="store_true",
                        help="fill the source afresh (else the scripted changes of earlier runs stay in it)")
    parser.add_argument("--link", action="store_true", help="read the source through a slow link")
    parser.add_argument("--latency-ms", type=float, default=DEFAULT_LATENCY * 1000, help="each way")
    parser.add_argument("--mbit", type=float, default=DEFAULT_MBIT, help="per direction; 0: no cap")
    parser.add_argument("--sweep", default="", help="source.batch_rows values to try over the link")
    parser.add_argument("--interleave", type=int, default=0, metavar="N",
                        help="after the syncs, N rounds of a quiet night between two copy floors")
    parser.add_argument("--interleave-full", action="store_true",
                        help="with --interleave: a --full sync between the floors instead of a quiet night")
    args = parser.parse_args()
    args.sweep_rows = [int(value) for value in args.sweep.split(",") if value.strip()]
    if args.sweep_rows and not args.link:
        parser.error("--sweep measures the link: give --link too")
    return args


def run_scale(scale: str, args: argparse.Namespace) -> ScaleRun:
    """The copy floor, then the four syncs on a fresh mirror (and the sweep), at one scale."""
    source_url, mirror_url = database_urls(scale, args)
    settings = bench_settings(args.home, source_url, mirror_url)
    source = create_source_engine(source_url, settings)
    if args.refill or not demo_archive_present(source, settings.source.schema):
        started = time.monotonic()
        filled = fill_demo_archive(source, CONTRACT, settings.source.schema, scale=scale, seed=args.seed)
        print(f"{scale} demo archive filled in {time.monotonic() - started:.1f} s: {filled.describe()}")
    mirror = create_mirror_engine(mirror_url, "almamirror-bench")
    migrations.downgrade(mirror, "base")
    migrations.upgrade(mirror)
    link = LinkProxy(upstream_address(source_url), args.latency_ms / 1000, args.mbit) if args.link else None
    run = ScaleRun(scale)
    with link or nullcontext():
        # The sync reads through the link; the night's changes are made on the source itself.
        reading = create_source_engine(link.url_for(source_url), settings) if link else source
        bench = Bench(run, link)
        floor = bench.copy_floor(reading, mirror, settings)
        run.source_rows = floor.rows
        sync_sequence(bench, mirror, reading, source, settings)
        if args.interleave:
            interleave(bench, mirror, reading, settings, args.interleave, full=args.interleave_full)
        if link is not None:
            report_link(run, link)
            for batch_rows in args.sweep_rows:
                options = replace(settings.source, batch_rows=batch_rows, arraysize=batch_rows)
                bench.sync(f"full sync, batch_rows {batch_rows:,}",
                           partial(run_sync, mirror, reading, options, full=True, archive=settings.archive))
        if reading is not source:
            reading.dispose()
    mirror.dispose()
    source.dispose()
    return run


def database_urls(scale: str, args: argparse.Namespace) -> tuple[URL, URL]:
    if args.source_url:
        return _psycopg(make_url(args.source_url)), _psycopg(make_url(args.mirror_url))
    return (
        embedded.database_url(args.home, f"bench_source_{scale}"),
        embedded.database_url(args.home, f"bench_mirror_{scale}"),
    )


def _psycopg(url: URL) -> URL:
    return url.set(drivername="postgresql+psycopg") if url.drivername in ("postgresql", "postgres") else url


def bench_settings(home: Path, source_url: URL, mirror_url: URL) -> Settings:
    return load_settings(environ={
        "ALMAMIRROR_HOME": str(home),
        "ALMAMIRROR_SOURCE_URL": source_url.render_as_string(hide_password=False),
        "ALMAMIRROR_MIRROR_URL": mirror_url.render_as_string(hide_password=False),
        "ALMAMIRROR_LOG_LEVEL": "WARNING",
    })


def sync_sequence(bench: Bench, mirror: Engine, reading: Engine, source: Engine, settings: Settings) -> None:
    # No NGAS in these settings: the calibration documents are left out (bench/calibration_record.py).
    sync = partial(run_sync, mirror, reading, settings.source, archive=settings.archive)
    bench.sync("baseline sync", sync)
    bench.sync("no-change sync", sync)
    changed = script_changes(source)
    bench.sync("incremental sync", sync, f"after {changed}; ")
    bench.sync("full sync", partial(sync, full=True), "every MOUS re-derived; ")


class Bench:
    """Measures steps of one scale's run and prints one line for each, against its copy floor."""

    def __init__(self, run: ScaleRun, link: LinkProxy | None) -> None:
        self.run = run
        self.link = link
        self.floor_seconds = 0.0

    def copy_floor(self, reading: Engine, mirror: Engine, settings: Settings) -> CopyFloor:
        floor, step = self.measure("copy floor", lambda: measure_copy_floor(reading, mirror, settings.source))
        self.floor_seconds = floor.seconds
        # The floor's own timing leaves out making and dropping its scratch tables.
        step = replace(step, seconds=floor.seconds)
        self.run.steps[step.name] = step
        self.line(step, f"{floor.rows:,} source rows, {floor.bytes / 1e6:,.1f} MB of COPY text")
        return floor

    def measure(self, name: str, action: Callable[[], T]) -> tuple[T, Step]:
        """Run ``action``, timing it and watching this process's peak memory and the link's bytes."""
        before = self.link.counts() if self.link else None
        reset_peak_rss()
        started = time.monotonic()
        result = action()
        seconds = time.monotonic() - started
        carried = self.link.counts() - before if self.link and before is not None else None
        return result, Step(name, seconds, peak_rss_mb(), carried)

    def sync(self, name: str, sync: Callable[[], SyncSummary], what: str = "") -> None:
        """Run one sync and print its line, with the three tables that took longest."""
        summary, step = self.measure(name, sync)
        step = replace(step, seconds=summary.seconds)  # the sync's own figure, as its summary reports it
        self.run.steps[step.name] = step
        rows = sum(table.rows_read for table in summary.tables)
        self.line(step, f"{what}{rows:,} rows staged or derived, {summary.changes:,} changes, "
                        f"{summary.mous_derived:,} MOUSes derived, {summary.restorable_total:,} restorable")
        slowest = sorted(summary.tables, key=lambda table: table.seconds, reverse=True)[:3]
        print("    slowest: " + ", ".join(f"{t.table} {t.seconds:.1f} s" for t in slowest))

    def line(self, step: Step, detail: str) -> None:
        ratio = step.seconds / self.floor_seconds if self.floor_seconds else 0.0
        carried = ""
        if step.carried is not None:
            carried = (f"  {step.carried.down / 1e6:9.3f} MB pulled, {step.carried.up / 1e6:.2f} MB sent, "
                       f"{step.carried.round_trips:,} round trips")
        print(f"{self.run.scale} {step.name:<30} {step.seconds:9.2f} s {ratio:7.2f}× floor"
              f"  peak RSS {step.peak_rss_mb:5.0f} MB{carried}  {detail}")
        sys.stdout.flush()


def reset_peak_rss() -> None:
    """Start this process's peak-RSS count afresh (Linux: ``5`` in /proc/self/clear_refs)."""
    # Elsewhere the peak is that of the whole process so far.
    with contextlib.suppress(OSError):
        CLEAR_REFS.write_text("5")


def peak_rss_mb() -> float:
    """This process's peak resident memory since the last reset, in MB."""
    try:
        for line in PROC_STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def interleave(
    bench: Bench, mirror: Engine, reading: Engine, settings: Settings, rounds: int, full: bool = False
) -> None:
    """Quiet nights (``full``: --full syncs), each between two copy floors: on a machine whose load
    changes from minute to minute, a ratio to the floors measured just before and after the sync says
    more than one to a floor measured a quarter of an hour earlier."""
    sync = partial(run_sync, mirror, reading, settings.source, full=full, archive=settings.archive)
    name = "--full sync" if full else "quiet night"
    floors = [measure_copy_floor(reading, mirror, settings.source).seconds]
    for number in range(1, rounds + 1):
        seconds = sync().seconds
        floors.append(measure_copy_floor(reading, mirror, settings.source).seconds)
        around = (floors[-2] + floors[-1]) / 2
        print(f"{bench.run.scale} {name} {number} between floors {floors[-2]:.2f} s and "
              f"{floors[-1]:.2f} s: {seconds:.2f} s, {seconds / around:.2f}× their mean")
        sys.stdout.flush()


def report_link(run: ScaleRun, link: LinkProxy) -> None:
    """What a full read and a quiet night cost over the link, and the share of bytes the night pulls."""
    full, night = run.steps["full sync"], run.steps["no-change sync"]
    assert full.carried is not None
    assert night.carried is not None
    share = night.carried.down / full.carried.down if full.carried.down else 0.0
    print(f"{run.scale} over the link ({link.describe()}):")
    for label, step in (("full read (sync --full)", full), ("quiet night (no-change sync)", night)):
        assert step.carried is not None
        print(f"    {label:<30} {step.seconds:9.2f} s {step.carried.down / 1e6:9.3f} MB pulled")
    print(f"    the quiet night pulls {share:.2%} of the full read's bytes")
    sys.stdout.flush()


def report_per_row(runs: list[ScaleRun]) -> None:
    """Time per source row of each scale, and the ratio of each scale's to the one before it."""
    print("time per source row (µs):")
    header = "".join(f"{run.scale:>12}" for run in runs)
    pairs = list(itertools.pairwise(runs))
    header += "".join(f"{f'{later.scale}/{earlier.scale}':>16}" for earlier, later in pairs)
    print(f"    {'source rows':<16}" + "".join(f"{run.source_rows:>12,}" for run in runs))
    print(f"    {'step':<16}{header}")
    for name in PER_ROW_STEPS:
        per_row = [run.steps[name].seconds / run.source_rows * 1e6 for run in runs]
        ratios = [later / earlier for earlier, later in itertools.pairwise(per_row)]
        print(f"    {name:<16}" + "".join(f"{value:>12.2f}" for value in per_row)
              + "".join(f"{ratio:>15.2f}×" for ratio in ratios))


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


if __name__ == "__main__":
    main()

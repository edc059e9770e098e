"""Loopback throughput of ``almamirror fetch`` against ``curl`` on the same server, the same run.

Puts FILES generated files of SIZE MiB, and SMALL products of a request's sizes (a few kB to a few MB),
in a throwaway catalogue (schema ``bench_ngas`` of the source database), starts the stand-in NGAS
(``almamirror archive serve``) on it as a separate process (two nodes: half the files come by a 303),
and in one run measures:

- a plain copy of the large files, file to file (``shutil.copyfile``, as ``cp`` does), from page cache;
- ``curl`` fetching the large files one at a time, and ``--workers`` at a time (``curl -Z``), following
  the 303s as the client does; ``fetch`` of a request directory listing them, with 1 and ``--workers``;
- ``curl -Z`` with the default workers and ``fetch`` with the default workers on the small products
  (after an untimed pass, so that neither pays the stand-in's first catalogue lookup of each file, and
  each step, as every timed step, after an ``os.sync()``);
- the checksum alone over the large files (CRC-32 and CRC-32C), as a share of the fetch's time.

With ``--rounds N`` the large files are measured N times each way, curl and ``fetch`` alternating (which
goes first alternates too), and the median is printed with each round's ratio. Every timed step starts
with nothing left to write back (``os.sync()``) and deletes what it wrote when timed.

With ``--small-only --rounds N`` it measures the small products only, N rounds on the same stand-in and
the same files, curl and ``fetch`` alternating (which goes first alternates too), each ratio to the curl
of its own round; it prints each round's and the median ratio.

    ALMAMIRROR_HOME=/tmp/am-bench .venv/bin/python bench/fetch.py [--files 4] [--size-mib 128] [--small 48]
    ALMAMIRROR_HOME=/tmp/am-bench .venv/bin/python bench/fetch.py --small-only --rounds 9
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.schema import CreateSchema

from etl.database import create_source_engine, source_url
from etl.demo.ngas_bodies import body_chunks
from etl.demo.ngas_catalogue import CATALOGUE
from etl.demo.ngas_process import start_stand_in
from etl.ngas.checksums import CRC32, CRC32C, RunningChecksum, checksum_of_file
from etl.settings import Settings, load_settings
from etl.source.contract import source_execution_options
from ppr.fetch import FetchOptions, fetch_request

SCHEMA = "bench_ngas"


def main() -> None:
    args = _arguments()
    size = args.size_mib << 20
    names = [f"bench.file_{n:02d}.caltables.tgz" for n in range(args.files)]
    sizes = dict.fromkeys(names, size)
    # A request's products: weblog pages, scripts, small FITS: 4 kB to 4 MB, most under 1 MB.
    picker = random.Random(2018)
    small = {f"bench.small_{n:02d}.product.fits": int(4096 * 2 ** picker.uniform(0, 10))
             for n in range(args.small)}
    with tempfile.TemporaryDirectory(prefix="almamirror-bench-fetch-") as scratch:
        work = Path(scratch)
        site = work / "site.toml"
        site.write_text(f'[source]\nschema = "{SCHEMA}"\n', "utf-8")
        settings = load_settings(site)
        url = source_url(settings)
        _catalogue(settings, {**sizes, **small}, args.plugin)
        print(f"{args.files} files x {args.size_mib} MiB = {args.files * size / 2**30:.2f} GiB, "
              f"{len(small)} small products = {sum(small.values()) / 1e6:.1f} MB, checksum {args.plugin}, "
              f"load average {_load()}")
        environment = {"ALMAMIRROR_SOURCE_URL": url.render_as_string(hide_password=False),
                       "ALMAMIRROR_LOG_LEVEL": "WARNING"}
        if args.small_only:
            _small_only(environment, site, settings, small, work, args.rounds)
            return

        originals = _write_originals(work / "originals", names, size)
        copy_seconds = _timed_copy(originals, work / "copies")
        print(f"plain copy (shutil.copyfile):      {copy_seconds:6.2f} s  "
              f"{_rate(args.files * size, copy_seconds)}")

        with start_stand_in(environment, config_file=str(site)) as stand_in:
            archive = settings.archive.__class__(
                (stand_in.url,), 10.0, 60.0, args.workers, 2, settings.archive.asdm_command
            )
            results = {}
            total = args.files * size
            for workers in sorted({1, args.workers}):
                timings = [
                    _alternating(
                        number,
                        partial(_curl, stand_in.url, names, work / f"curl-{workers}", workers),
                        partial(_fetch, work / f"request-{workers}", sizes, archive, workers),
                    )
                    for number in range(1, args.rounds + 1)
                ]
                ratios = [curl_seconds / seconds for curl_seconds, seconds in timings]
                curl_seconds = statistics.median(curl for curl, _ in timings)
                seconds = results[workers] = statistics.median(fetch for _, fetch in timings)
                print(f"curl, {workers} at a time:                {curl_seconds:6.2f} s  "
                      f"{_rate(total, curl_seconds)}")
                print(f"fetch, {workers} worker(s):               {seconds:6.2f} s  {_rate(total, seconds)}  "
                      f"{statistics.median(ratios):.2f} of curl's rate, "
                      f"{copy_seconds / seconds:.2f} of the copy's")
                if args.rounds > 1:
                    print(f"    {args.rounds} rounds, alternating: "
                          + ", ".join(f"{ratio:.2f}" for ratio in ratios) + " of curl's rate")
            default = settings.archive.workers
            small_bytes = sum(small.values())
            # The stand-in looks each file up in its catalogue the first time it is asked, then keeps
            # it: an untimed pass first, so that neither side pays the lookups (curl would, going first).
            _curl(stand_in.url, list(small), work / "warm-up", default)
            curl_seconds = _curl(stand_in.url, list(small), work / "curl-small", default)
            print(f"small products, curl {default} at a time:  {curl_seconds:6.2f} s  "
                  f"{_rate(small_bytes, curl_seconds)}")
            seconds = _fetch(work / "request-small", small, archive, default)
            print(f"small products, fetch {default} workers:   {seconds:6.2f} s  "
                  f"{_rate(small_bytes, seconds)}  {curl_seconds / seconds:.2f} of curl's rate")

        checksum_times = {}
        for algorithm in (CRC32, CRC32C):
            started = time.monotonic()
            for path in originals:
                checksum_of_file(path, algorithm)
            checksum_times[algorithm] = time.monotonic() - started
        fetch_seconds = results[args.workers]
        for algorithm, seconds in checksum_times.items():
            print(f"checksum alone ({algorithm:<6}):           {seconds:6.2f} s  "
                  f"{_rate(args.files * size, seconds)}  {seconds / fetch_seconds:.0%} of the "
                  f"{args.workers}-worker fetch's time (one core)")
    _drop_catalogue(settings)
    print(f"load average at the end: {_load()}")


def _small_only(
    environment: dict[str, str], site: Path, settings: Settings, small: dict[str, int], work: Path,
    rounds: int,
) -> None:
    with start_stand_in(environment, config_file=str(site)) as stand_in:
        archive = settings.archive.__class__(
            (stand_in.url,), 10.0, 60.0, settings.archive.workers, 2, settings.archive.asdm_command
        )
        _small_rounds(stand_in.url, small, archive, settings.archive.workers, work, rounds)
    _drop_catalogue(settings)
    print(f"load average at the end: {_load()}")


def _small_rounds(
    url: str, small: dict[str, int], archive: object, workers: int, work: Path, rounds: int
) -> None:
    """curl and fetch alternating on the small products, ``rounds`` times; each round's ratio and the
    median. The same stand-in and files throughout; who goes first alternates from round to round."""
    names = list(small)
    # Untimed: the stand-in's first catalogue lookups, and the fetch's imports and first connections.
    _curl(url, names, work / "warm-up", workers)
    _fetch(work / "request-warm-up", small, archive, workers)
    ratios = []
    for number in range(1, rounds + 1):
        curl_seconds, seconds = _alternating(
            number,
            partial(_curl, url, names, work / f"curl-small-{number}", workers),
            partial(_fetch, work / f"request-small-{number}", small, archive, workers),
        )
        ratios.append(curl_seconds / seconds)
        print(f"round {number:2d} ({'curl' if number % 2 else 'fetch'} first): curl {curl_seconds:5.3f} s, "
              f"fetch {workers} workers {seconds:5.3f} s, {ratios[-1]:.2f} of curl's rate  "
              f"(load {_load().split()[0]})")
    print(f"small products, {rounds} rounds: {min(ratios):.2f}-{max(ratios):.2f} of curl's rate, "
          f"median {statistics.median(ratios):.2f}")




def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--size-mib", type=int, default=128)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--small", type=int, default=48, help="small products, as a request lists")
    parser.add_argument("--plugin", choices=("crc32", "crc32c"), default="crc32c")
    parser.add_argument("--small-only", action="store_true",
                        help="only the small products, curl and fetch alternating for --rounds rounds")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of curl and fetch, alternating: the large files (with --small-only the "
                             "small products)")
    args = parser.parse_args()
    if args.small_only:
        args.files = 0
    return args


def _load() -> str:
    """The 1, 5 and 15 minute load averages: the machine's state, to read every ratio with."""
    try:
        return " ".join(Path("/proc/loadavg").read_text("ascii").split()[:3])
    except OSError:
        return "unknown"


def _alternating(number: int, curl: Callable[[], float], fetch: Callable[[], float]) -> tuple[float, float]:
    """curl's and the fetch's seconds, curl first in odd rounds: neither always has the warmer cache."""
    if number % 2:
        curl_seconds = curl()
        return curl_seconds, fetch()
    seconds = fetch()
    return curl(), seconds


def _settled() -> None:
    """Before a timed step: nothing left to write back. curl never flushes what it wrote, and an ext4
    fsync (the fetch's, before each rename) waits for the dirty pages the journal orders before it, so
    a fetch after curl would pay for curl's writeback."""
    os.sync()


def _curl(url: str, names: list[str], into: Path, parallel: int) -> float:
    """Seconds for curl to fetch ``names`` (following the 303s), ``parallel`` at a time in one process.

    What it wrote is deleted afterwards, as ``_fetch`` deletes its directory: each step writes into
    page cache the steps before it gave back. Memory a virtual machine's guest never used before costs
    the host a fault per page when first written, and in a fresh VM that made whichever fetch came
    second 2-4 times slower (its system time 4x), the same for 1 worker or 4."""
    into.mkdir()
    command = ["curl", "--silent", "--show-error", "--no-progress-meter", "--fail", "--location"]
    if parallel > 1:
        command += ["--parallel", "--parallel-max", str(parallel)]
    for name in names:
        command += [f"{url}/RETRIEVE?file_id={name}", "--output", str(into / name)]
    _settled()
    started = time.monotonic()
    subprocess.run(command, check=True)
    seconds = time.monotonic() - started
    shutil.rmtree(into)
    return seconds


def _fetch(directory: Path, sizes: dict[str, int], archive: object, workers: int) -> float:
    _request_directory(directory, sizes)
    _settled()
    started = time.monotonic()
    summary = fetch_request(directory, archive, FetchOptions(products_only=True, workers=workers))  # type: ignore[arg-type]
    seconds = time.monotonic() - started
    assert not summary.failed, summary.failed
    shutil.rmtree(directory)
    return seconds


def _catalogue(settings: object, sizes: dict[str, int], plugin: str) -> None:
    from etl.ngas.checksums import PLUGINS, stored_form

    engine = create_source_engine(source_url(settings), settings)  # type: ignore[arg-type]
    try:
        with engine.begin() as connection:
            connection.execute(CreateSchema(SCHEMA, if_not_exists=True))
            translated = connection.execution_options(**source_execution_options(SCHEMA))
            CATALOGUE.metadata.create_all(translated, checkfirst=True)
            translated.execute(CATALOGUE.delete())
            for index, (name, size) in enumerate(sizes.items()):
                running = RunningChecksum(PLUGINS[plugin])
                for chunk in body_chunks(name, size):
                    running.update(chunk)
                translated.execute(CATALOGUE.insert().values(
                    file_id=name, file_version=1, file_size=size, checksum=stored_form(plugin, running.value),
                    checksum_plugin=plugin, mime_type="application/x-tar", node=1 + index % 2,
                    ingestion_date=time.strftime("%Y-%m-%d"), content=None,
                ))
    finally:
        engine.dispose()


def _drop_catalogue(settings: object) -> None:
    engine = create_source_engine(source_url(settings), settings)  # type: ignore[arg-type]
    try:
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    finally:
        engine.dispose()


def _write_originals(directory: Path, names: list[str], size: int) -> list[Path]:
    directory.mkdir()
    paths = []
    for name in names:
        path = directory / name
        with path.open("wb") as handle:
            for chunk in body_chunks(name, size):
                handle.write(chunk)
        paths.append(path)
    os.sync()
    return paths


def _timed_copy(originals: list[Path], into: Path) -> float:
    into.mkdir()
    for path in originals:  # read once, so both sides start from page cache
        checksum_of_file(path, CRC32C)
    started = time.monotonic()
    for path in originals:
        shutil.copyfile(path, into / path.name)
    return time.monotonic() - started


def _request_directory(directory: Path, sizes: dict[str, int]) -> Path:
    for part in ("rawdata", "working", "products"):
        (directory / part).mkdir(parents=True)
    manifest = {
        "manifest_version": 2, "mous_uid": "uid://A001/X0/X0", "asdms": [],
        "products": [{"archived_name": name, "target": f"products/{name}", "size_bytes": size,
                      "source": {"via": "ngas", "ngas_file_id": name}} for name, size in sizes.items()],
    }
    (directory / "fetch-manifest.json").write_text(json.dumps(manifest), "utf-8")
    return directory


def _rate(size: int, seconds: float) -> str:
    return f"{size / seconds / 1e6:8,.0f} MB/s"


if __name__ == "__main__":
    main()

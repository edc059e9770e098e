"""Loopback throughput of ``almamirror fetch`` against a plain copy of the same bytes; the checksum's share.

Puts FILES generated files of SIZE MiB in a throwaway catalogue (schema ``bench_ngas`` of the source
database), starts the stand-in NGAS (``almamirror archive serve``) on it as a separate process, and in
one run measures:

- a plain copy of the same bytes, file to file (``shutil.copyfile``, as ``cp`` does), from page cache;
- ``fetch`` of a request directory listing those files, with 1 and with ``--workers`` workers;
- the checksum alone over the same bytes (CRC-32 and CRC-32C), as a share of the fetch's time.

    ALMAMIRROR_HOME=/tmp/am-bench .venv/bin/python bench/fetch.py [--files 8] [--size-mib 128] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.schema import CreateSchema

from etl.database import create_source_engine, source_url
from etl.demo.ngas_bodies import body_chunks
from etl.demo.ngas_catalogue import CATALOGUE
from etl.demo.ngas_process import start_stand_in
from etl.ngas.checksums import CRC32, CRC32C, RunningChecksum, checksum_of_file
from etl.settings import load_settings
from etl.source.contract import source_execution_options
from ppr.fetch import FetchOptions, fetch_request

SCHEMA = "bench_ngas"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--size-mib", type=int, default=128)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--plugin", choices=("crc32", "crc32c"), default="crc32c")
    args = parser.parse_args()
    size = args.size_mib << 20
    names = [f"bench.file_{n:02d}.caltables.tgz" for n in range(args.files)]
    with tempfile.TemporaryDirectory(prefix="almamirror-bench-fetch-") as scratch:
        work = Path(scratch)
        site = work / "site.toml"
        site.write_text(f'[source]\nschema = "{SCHEMA}"\n', "utf-8")
        settings = load_settings(site)
        url = source_url(settings)
        _catalogue(settings, names, size, args.plugin)
        print(f"{args.files} files x {args.size_mib} MiB = {args.files * size / 2**30:.2f} GiB, "
              f"checksum {args.plugin}")

        originals = _write_originals(work / "originals", names, size)
        copy_seconds = _timed_copy(originals, work / "copies")
        print(f"plain copy (shutil.copyfile):      {copy_seconds:6.2f} s  "
              f"{_rate(args.files * size, copy_seconds)}")

        environment = {"ALMAMIRROR_SOURCE_URL": url.render_as_string(hide_password=False),
                       "ALMAMIRROR_LOG_LEVEL": "WARNING"}
        with start_stand_in(environment, config_file=str(site)) as stand_in:
            archive = settings.archive.__class__(
                (stand_in.url,), 10.0, 60.0, args.workers, 2, settings.archive.asdm_command
            )
            results = {}
            for workers in sorted({1, args.workers}):
                directory = _request_directory(work / f"request-{workers}", names, size)
                started = time.monotonic()
                summary = fetch_request(directory, archive, FetchOptions(products_only=True, workers=workers))
                seconds = time.monotonic() - started
                assert not summary.failed, summary.failed
                results[workers] = seconds
                print(f"fetch, {workers} worker(s):               {seconds:6.2f} s  "
                      f"{_rate(args.files * size, seconds)}  {copy_seconds / seconds:.2f} of the copy's rate")

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


def _catalogue(settings: object, names: list[str], size: int, plugin: str) -> None:
    from etl.ngas.checksums import PLUGINS, stored_form

    engine = create_source_engine(source_url(settings), settings)  # type: ignore[arg-type]
    try:
        with engine.begin() as connection:
            connection.execute(CreateSchema(SCHEMA, if_not_exists=True))
            translated = connection.execution_options(**source_execution_options(SCHEMA))
            CATALOGUE.metadata.create_all(translated, checkfirst=True)
            translated.execute(CATALOGUE.delete())
            for index, name in enumerate(names):
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


def _request_directory(directory: Path, names: list[str], size: int) -> Path:
    for part in ("rawdata", "working", "products"):
        (directory / part).mkdir(parents=True)
    manifest = {
        "manifest_version": 2, "mous_uid": "uid://A001/X0/X0", "asdms": [],
        "products": [{"archived_name": name, "target": f"products/{name}", "size_bytes": size,
                      "source": {"via": "ngas", "ngas_file_id": name}} for name in names],
    }
    (directory / "fetch-manifest.json").write_text(json.dumps(manifest), "utf-8")
    return directory


def _rate(size: int, seconds: float) -> str:
    return f"{size / seconds / 1e6:8,.0f} MB/s"


if __name__ == "__main__":
    main()

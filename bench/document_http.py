"""Benchmark the NGAS client's two ways of fetching a calibration document: STATUS first, or RETRIEVE alone.

    .venv/bin/python bench/document_http.py [--scale alma] [--home DIR] [--documents 3000]

For the first ``--documents`` calibration documents the demo archive lists (as the sync lists them),
fetched by the sync's own client (``etl/ngas/client.py``) from the stand-in NGAS (``almamirror archive
serve``, a separate process), in one process and one thread, in batches of 250 documents that
alternate between ``fetch_document`` (STATUS, then RETRIEVE verified by size and checksum: what every
document cost before, and what one still costs when the record needs NGAS's date) and
``retrieve_exact`` (RETRIEVE alone, checked against the listed size: what most documents cost now),
so both meet the same load. Prints the CPU per document on each side (the client's and the
stand-in's). Uses the source database ``bench_source_<scale>`` under --home that
bench/calibration_record.py and bench/ppr.py fill.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from etl import embedded
from etl.database import create_source_engine
from etl.demo.fill import demo_archive_present
from etl.demo.ngas_process import start_stand_in
from etl.load.documents import ListedDocument, listed_documents
from etl.ngas.client import NgasClient
from etl.settings import load_settings

BATCH = 250


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", default="alma", choices=("small", "medium", "alma"))
    parser.add_argument("--home", type=Path, default=Path.home() / ".cache" / "almamirror-bench")
    parser.add_argument("--documents", type=int, default=3_000)
    args = parser.parse_args()

    source_url = embedded.database_url(args.home, f"bench_source_{args.scale}")
    environment = {
        "ALMAMIRROR_HOME": str(args.home), "ALMAMIRROR_LOG_LEVEL": "WARNING",
        "ALMAMIRROR_SOURCE_URL": source_url.render_as_string(hide_password=False),
    }
    settings = load_settings(environ=environment)
    source = create_source_engine(source_url, settings)
    if not demo_archive_present(source, "alma"):
        sys.exit("bench: fill the demo archive first (bench/calibration_record.py or bench/ppr.py)")
    listed = [document for document in listed_documents(source, settings.source) if document.size]
    listed = listed[:args.documents]
    source.dispose()

    with start_stand_in(environment) as ngas, \
            NgasClient(replace(settings.archive, ngas_urls=(ngas.url,))) as client:
        ways: dict[str, Callable[[ListedDocument], object]] = {
            "STATUS, then RETRIEVE": lambda d: client.fetch_document(d.file_id, expected_size=d.size),
            "RETRIEVE alone": lambda d: client.retrieve_exact(d.file_id, d.size or 0),
        }
        ways["RETRIEVE alone"](listed[0])  # connections open
        spent = dict.fromkeys(ways, 0.0)
        served = dict.fromkeys(ways, 0.0)
        asked = dict.fromkeys(ways, 0)
        taken = dict.fromkeys(ways, 0)
        names = list(ways)
        for number, start in enumerate(range(0, len(listed), BATCH)):
            # Batches of other documents, each way in turn: neither meets the stand-in's cache warm.
            name = names[number % len(names)]
            batch = listed[start:start + BATCH]
            cpu, server = time.process_time(), process_cpu_seconds(ngas.process.pid)
            taken[name] += sum(ways[name](document) is not None for document in batch)
            spent[name] += time.process_time() - cpu
            served[name] += process_cpu_seconds(ngas.process.pid) - server
            asked[name] += len(batch)
    for name in ways:
        documents = max(asked[name], 1)
        print(f"{name:<22} client {spent[name] * 1000 / documents:.3f} ms, stand-in "
              f"{served[name] * 1000 / documents:.3f} ms of CPU per document "
              f"({taken[name]:,} of {asked[name]:,} fetched)")
    print(f"load average {os.getloadavg()[0]:.1f}")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of another process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()

"""Benchmark the HTTP exchanges of fetching calibration documents: httpx against ``http.client``.

    .venv/bin/python bench/document_http.py [--scale alma] [--home DIR] [--documents 3000]

For the first ``--documents`` calibration documents the demo archive lists (as the sync lists them),
the exchanges the sync makes per document against the stand-in NGAS (``almamirror archive serve``, a
separate process): a STATUS, a RETRIEVE and, for a file the other node holds, the 303's target. Done
in one process and one thread, in batches of 250 that alternate between httpx (as etl/ngas/client.py
uses it: one pooled client, kept-alive connections) and the standard library's ``http.client`` (one
kept-alive connection per node), so both meet the same load. Prints the CPU per document of each.
Nothing is verified or parsed: this measures the HTTP path alone. Uses the source database
``bench_source_<scale>`` under --home that bench/calibration_record.py and bench/ppr.py fill.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

from etl import embedded
from etl.database import create_source_engine
from etl.demo.fill import demo_archive_present
from etl.demo.ngas_process import start_stand_in
from etl.load.documents import listed_documents
from etl.settings import load_settings

BATCH = 250
HEADERS = {"User-Agent": "almamirror", "Accept-Encoding": "identity"}


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
    file_ids = [document.file_id for document in listed_documents(source, settings.source)]
    file_ids = file_ids[:args.documents]
    source.dispose()

    with start_stand_in(environment) as ngas:
        base = ngas.url.rstrip("/")
        pooled = httpx.Client(timeout=30, headers=HEADERS)
        plain = PlainClient()
        seconds = {"httpx": 0.0, "http.client": 0.0}
        exchanges = {"httpx": lambda file_id: by_httpx(pooled, base, file_id),
                     "http.client": lambda file_id: by_http_client(plain, base, file_id)}
        for exchange in exchanges.values():
            exchange(file_ids[0])  # connections open
        for start in range(0, len(file_ids), BATCH):
            for name, exchange in exchanges.items():
                cpu = time.process_time()
                for file_id in file_ids[start:start + BATCH]:
                    exchange(file_id)
                seconds[name] += time.process_time() - cpu
        pooled.close()
    for name, spent in seconds.items():
        print(f"{name:<12} {spent * 1000 / len(file_ids):.3f} ms of CPU per document "
              f"(STATUS, RETRIEVE, 303s followed; {len(file_ids):,} documents)")
    print(f"ratio httpx / http.client: {seconds['httpx'] / seconds['http.client']:.2f}; "
          f"load average {os.getloadavg()[0]:.1f}")


def by_httpx(client: httpx.Client, base: str, file_id: str) -> int:
    client.get(f"{base}/STATUS", params={"file_id": file_id}).read()
    reply = client.get(f"{base}/RETRIEVE", params={"file_id": file_id})
    if reply.status_code == 303:
        reply = client.get(reply.headers["location"])
    return len(reply.content)


class PlainClient:
    """One kept-alive ``http.client`` connection per node; a closed one is opened again once."""

    def __init__(self) -> None:
        self.connections: dict[str, http.client.HTTPConnection] = {}

    def get(self, url: str) -> tuple[int, str | None, bytes]:
        parts = urlsplit(url)
        for _attempt in range(2):
            connection = self.connections.get(parts.netloc)
            if connection is None:
                connection = http.client.HTTPConnection(parts.hostname or "", parts.port)
                self.connections[parts.netloc] = connection
            try:
                connection.request("GET", f"{parts.path}?{parts.query}", headers=HEADERS)
                reply = connection.getresponse()
                body = reply.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                connection.close()
                del self.connections[parts.netloc]
                continue
            if reply.will_close:
                connection.close()
                del self.connections[parts.netloc]
            return reply.status, reply.getheader("Location"), body
        raise ConnectionError(f"{url}: the connection closed twice")


def by_http_client(client: PlainClient, base: str, file_id: str) -> int:
    query = "file_id=" + quote(file_id, safe="")
    client.get(f"{base}/STATUS?{query}")
    status, location, body = client.get(f"{base}/RETRIEVE?{query}")
    if status == 303 and location:
        status, location, body = client.get(location)
    return len(body)


if __name__ == "__main__":
    main()

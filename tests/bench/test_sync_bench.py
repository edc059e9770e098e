"""bench/sync.py and its slow link run at the small scale, so they cannot rot (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import itertools
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from etl.source.contract import SCHEMA_PLACEHOLDER, TABLE_NAMES

BENCH = Path(__file__).resolve().parents[2] / "bench"
SYNC_STEPS = ("baseline sync", "no-change sync", "incremental sync", "full sync")
# One line per step (Bench.line in bench/sync.py): seconds, ratio to the floor, peak RSS, bytes over a link.
STEP_LINE = re.compile(
    r"^small (?P<step>[a-z_ ,\-\d]+?) +(?P<seconds>\d+\.\d+) s +(?P<ratio>\d+\.\d+)× floor"
    r" +peak RSS +(?P<rss>[\d,]+) MB"
    r"(?: +(?P<pulled>\d+\.\d+) MB pulled, (?P<sent>\d+\.\d+) MB sent, (?P<trips>[\d,]+) round trips)?  "
)


def run_bench(source: URL, mirror: URL, home: Path, *options: str) -> str:
    completed = subprocess.run(
        [sys.executable, str(BENCH / "sync.py"), "--scales", "small", "--home", str(home),
         "--source-url", source.render_as_string(hide_password=False),
         "--mirror-url", mirror.render_as_string(hide_password=False), *options],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def step_lines(output: str) -> dict[str, re.Match[str]]:
    return {found["step"]: found for line in output.splitlines() if (found := STEP_LINE.match(line))}


def check_steps(steps: dict[str, re.Match[str]], link: bool) -> None:
    assert set(steps) >= {"copy floor", *SYNC_STEPS}, steps.keys()
    assert float(steps["copy floor"]["ratio"]) == 1.0
    for found in steps.values():
        assert float(found["seconds"]) > 0
        assert float(found["ratio"]) > 0
        assert int(found["rss"].replace(",", "")) > 0
        assert (found["pulled"] is not None) is link
        if link:
            assert float(found["pulled"]) > 0
            assert int(found["trips"].replace(",", "")) > 0


def per_row_table(output: str) -> dict[str, float]:
    """The one-scale table: each row's name and its value (the row of scale names left out)."""
    lines = output.splitlines()
    rows = itertools.takewhile(
        lambda line: line.startswith("    "), lines[lines.index("time per source row (µs):") + 1:]
    )
    values = {" ".join(row.split()[:-1]): row.split()[-1] for row in rows}
    return {name: float(value.replace(",", "")) for name, value in values.items() if name != "step"}


def test_the_sync_bench_measures_the_copy_floor_and_each_sync(
    source_copy: URL, mirror_db: URL, tmp_path: Path
) -> None:
    rows_before = count_source_rows(source_copy)  # the scripted night adds some
    output = run_bench(source_copy, mirror_db, tmp_path)

    steps = step_lines(output)
    check_steps(steps, link=False)
    floor_rows = re.search(r"^small copy floor .* ([\d,]+) source rows", output, re.MULTILINE)
    assert floor_rows is not None
    source_rows = int(floor_rows[1].replace(",", ""))
    assert source_rows == rows_before
    per_row = per_row_table(output)
    assert per_row["source rows"] == source_rows
    assert {"copy floor", "full sync", "no-change sync"} <= per_row.keys()
    assert all(value > 0 for value in per_row.values())
    assert re.search(r"^peak RSS of the benchmark process: [\d,]+ MB$", output, re.MULTILINE)


def test_over_a_slow_link_the_bench_reports_bytes_pulled_and_the_quiet_nights_share(
    source_copy: URL, mirror_db: URL, tmp_path: Path
) -> None:
    output = run_bench(source_copy, mirror_db, tmp_path, "--link", "--latency-ms", "0.5", "--sweep", "500")

    steps = step_lines(output)
    check_steps(steps, link=True)
    assert "full sync, batch_rows 500" in steps
    assert "small over the link (0.5 ms each way, 50 Mbit/s):" in output
    share = re.search(r"the quiet night pulls (\d+\.\d+)% of the full read's bytes", output)
    assert share is not None
    assert 0 < float(share[1]) <= 150
    # The COPY text is what the rows weigh; the sync pulls them in another encoding, but not tenfold.
    floor, full = float(steps["copy floor"]["pulled"]), float(steps["full sync"]["pulled"])
    assert floor / 10 < full < floor * 10


def test_the_link_carries_postgresql_unchanged_and_counts_each_way(admin_url: URL) -> None:
    link_proxy = load_bench_module("link_proxy")
    with link_proxy.LinkProxy(link_proxy.upstream_address(admin_url), latency=0.001, mbit=100) as link:
        url = link.url_for(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url) as connection, connection.cursor() as cursor:
            for number in range(50):  # many round trips
                assert cursor.execute("SELECT %s::int + 1", (number,)).fetchone() == (number + 1,)
            cursor.execute("CREATE TEMPORARY TABLE carried (n int, word text)")
            with cursor.copy("COPY carried FROM STDIN") as copy:
                for number in range(20_000):
                    copy.write_row((number, f"word {number}"))
            sent = link.counts().up
            pulled = bytearray()
            with cursor.copy("COPY (SELECT n, word FROM carried ORDER BY n) TO STDOUT") as copy:
                for chunk in copy:
                    pulled += chunk
    expected = "".join(f"{number}\tword {number}\n" for number in range(20_000)).encode()
    assert bytes(pulled) == expected
    assert sent > len(expected)  # the rows went up once, in COPY's text plus its framing
    assert link.counts().down > len(expected)


def load_bench_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def count_source_rows(source: URL) -> int:
    """Rows of every contract table: what the sync reads."""
    url = source.set(drivername="postgresql").render_as_string(hide_password=False)
    total = 0
    with psycopg.connect(url) as connection:
        for table in TABLE_NAMES:
            counted = connection.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA_PLACEHOLDER, table))
            ).fetchone()
            assert counted is not None
            total += int(counted[0])
    return total

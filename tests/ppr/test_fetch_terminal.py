"""``ppr --build --fetch`` on a terminal: one progress display for the process, as a person sees it.

Run on a pseudo-terminal at 80 and 120 columns against the stand-in NGAS, with the demo's ASDM exporter;
the scrollback is what stays on the terminal once the redrawn lines have settled.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.filesize import pick_unit_and_suffix
from sqlalchemy.engine import URL

from etl.demo.job import exporter_command
from ppr.fetch import read_plan
from tests.etl.ngas.conftest import RunningStandIn
from tests.terminal import cli_env, run_in_terminal, scrollback

SEED_MOUS = "uid://A001/X129e/Xb6"
LINES = 24


def _bytes_under(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def _as_drawn(size: int) -> str:
    """``size`` as the progress's byte column draws a finished total (``held/size unit``)."""
    unit, suffix = pick_unit_and_suffix(size, ["bytes", "kB", "MB", "GB", "TB"], 1000)
    precision = 0 if unit == 1 else 1
    return f"{size / unit:,.{precision}f}/{size / unit:,.{precision}f} {suffix}"


@pytest.mark.parametrize("columns", [80, 120])
def test_ppr_build_fetch_draws_one_display_whose_total_counts_the_asdms(
    tmp_path: Path, demo_source: URL, fetch_mirror: URL, test_home: Path, stand_in: RunningStandIn,
    columns: int,
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(f"[archive]\nasdm_command = {json.dumps(exporter_command())}\n", "utf-8")
    env = cli_env(fetch_mirror, test_home, source=demo_source, extra={
        "NO_COLOR": "1", "ALMAMIRROR_NGAS_URL": stand_in.url, "ALMAMIRROR_CONFIG": str(site),
    })
    spool = tmp_path / "spool"
    outcome = run_in_terminal(["ppr", SEED_MOUS, "--build", str(spool), "--fetch"], env, columns=columns,
                              lines=LINES, stderr_to_terminal=True, timeout=300)
    seen = scrollback(outcome.terminal, columns, LINES)
    shown = "\n".join(seen)
    assert outcome.status == 0, shown
    totals = [line for line in seen if line.startswith("total (")]
    assert len(totals) == 1, shown  # one block, not a copy per request or per redraw
    assert "0/?" not in outcome.terminal  # nor in any frame drawn on the way
    (manifest,) = spool.rglob("fetch-manifest.json")
    directory = manifest.parent
    products, asdms = read_plan(directory).product_bytes, _bytes_under(directory / "rawdata")
    assert asdms > 0
    assert _as_drawn(products + asdms) in totals[0], shown
    assert "64 fetched" in outcome.terminal, shown


@pytest.mark.parametrize("columns", [80, 120])
def test_fetching_every_request_built_draws_one_display_for_them_all(
    tmp_path: Path, demo_source: URL, fetch_mirror: URL, test_home: Path, stand_in: RunningStandIn,
    columns: int,
) -> None:
    env = cli_env(fetch_mirror, test_home, source=demo_source, extra={
        "NO_COLOR": "1", "ALMAMIRROR_NGAS_URL": stand_in.url,
    })
    spool = tmp_path / "spool"
    outcome = run_in_terminal(
        ["ppr", "--all-restorable", "--build", str(spool), "--fetch", "--products-only"], env,
        columns=columns, lines=LINES, stderr_to_terminal=True, timeout=600,
    )
    seen = scrollback(outcome.terminal, columns, LINES)
    shown = "\n".join(seen)
    assert outcome.status == 0, shown
    directories = [manifest.parent for manifest in spool.rglob("fetch-manifest.json")]
    assert len(directories) > 1
    totals = [line for line in seen if line.startswith("total (")]
    assert len(totals) == 1, shown  # not one block per request
    assert f", {len(directories)} requests)" in totals[0], shown
    # Of the products its manifests list (a request built from the mirror also holds files it wrote).
    products = sum(read_plan(directory).product_bytes for directory in directories)
    assert _as_drawn(products) in totals[0], shown
    assert f"ppr --fetch: {len(directories)} of {len(directories)} request(s) complete" in shown

"""``almamirror report html OUT_DIR``: the self-contained status page, read back with lxml and Chromium."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from lxml import html as lxml_html
from sqlalchemy import Text, cast, func, select, text
from sqlalchemy.engine import URL

from etl.report.html import RESTORABLE_COLOUR
from etl.report.views import mous_restore, restorable_mous
from tests.etl.report.conftest import Almamirror, cli_runner
from tests.helpers import rows

CHROMIUM = Path("/usr/bin/chromium")
CHARTS = (
    "chart-by-cycle", "chart-by-array", "chart-by-band", "chart-by-reason", "chart-by-restore-kind",
    "chart-over-time", "chart-newly-by-day", "chart-quality",
)


@pytest.fixture
def synced_mirror(shared_synced_mirror: URL) -> URL:
    """This module's tests only read the synced mirror (reports, explain): they share one copy."""
    return shared_synced_mirror


@pytest.fixture
def demo(
    synced_mirror: URL, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], test_home: Path
) -> Almamirror:
    return cli_runner(synced_mirror, monkeypatch, capsys, test_home)


def write_page(almamirror: Almamirror, out_dir: Path) -> Any:
    outcome = almamirror("report", "html", str(out_dir))
    assert outcome.status == 0, outcome.err
    assert outcome.out == f"status page: {out_dir / 'index.html'}\n"
    return lxml_html.parse(str(out_dir / "index.html")).getroot()


def chart(page: Any, chart_id: str) -> Any:
    figures = page.xpath(f"//figure[@id='{chart_id}']")
    assert len(figures) == 1, chart_id
    return figures[0]


def bar_ids(figure: Any) -> set[str]:
    """The ids of the chart's bars that are drawn (each a group holding a path), without the chart's
    prefix that keeps ids unique in the page."""
    prefix = f"{figure.get('id')}-bar-"
    return {
        group.get("id").removeprefix(f"{figure.get('id')}-") for group in figure.iter("g")
        if (group.get("id") or "").startswith(prefix) and list(group.iter("path"))
    }


def count_by(url: URL, column: str, restorable: bool | None = None, any_kind: bool = False) -> Counter[str]:
    """MOUSes per value of a restorable_mous column (NULL as 'unknown'), optionally only (not) restorable:
    by a PPR, or with ``any_kind`` by any restore kind but none (mous_restore)."""
    view = restorable_mous
    value = func.coalesce(cast(view.c[column], Text), "unknown")
    query = (select(value.label("c"), func.count().label("n"))
             .join(mous_restore, mous_restore.c.mous_uid == view.c.mous_uid).group_by(value))
    if restorable is not None:
        verdict = (mous_restore.c.restore_kind != "none") if any_kind else view.c.restorable
        query = query.where(verdict.is_(restorable))
    return Counter({row["c"]: row["n"] for row in rows(url, query)})


def test_every_chart_is_inline_svg_with_the_mirrors_data(
    demo: Almamirror, synced_mirror: URL, tmp_path: Path
) -> None:
    page = write_page(demo, tmp_path / "status")
    for chart_id in CHARTS:
        figure = chart(page, chart_id)
        svgs = figure.findall(".//svg")
        assert len(svgs) == 1, chart_id
        assert svgs[0].get("viewbox"), chart_id  # the HTML parser lowers attribute names
    # Every cycle, array and band of the mirror has its bars, restorable and not.
    for chart_id, column in (("chart-by-cycle", "cycle"), ("chart-by-array", "array_family"),
                             ("chart-by-band", "band")):
        # Restorable by any kind: a PPR, the archived script or scriptForPI.py.
        restorable = count_by(synced_mirror, column, restorable=True, any_kind=True)
        everything = count_by(synced_mirror, column)
        figure = chart(page, chart_id)
        ids = bar_ids(figure)
        for category in everything:
            if restorable[category]:
                assert f"bar-restorable-{category}" in ids, (chart_id, category)
            if everything[category] - restorable[category]:
                assert f"bar-not_restorable-{category}" in ids, (chart_id, category)
        assert int(figure.get("data-total")) == sum(everything.values())
    reasons = count_by(synced_mirror, "reason_code", restorable=False, any_kind=True)
    assert bar_ids(chart(page, "chart-by-reason")) == {f"bar-not_restorable-{code}" for code in reasons}
    restore_kinds = rows(
        synced_mirror, text("SELECT restore_kind, count(*) AS n FROM mous_restore GROUP BY restore_kind")
    )
    by_kind = chart(page, "chart-by-restore-kind")
    assert bar_ids(by_kind) == {f"bar-MOUSes-{row['restore_kind']}" for row in restore_kinds}
    assert int(by_kind.get("data-total")) == sum(row["n"] for row in restore_kinds)
    kinds = {row["kind"] for row in rows(synced_mirror, text("SELECT DISTINCT kind FROM data_quality"))}
    assert kinds
    assert bar_ids(chart(page, "chart-quality")) == {f"bar-open_findings-{kind}" for kind in kinds}
    over_time = chart(page, "chart-over-time")
    line = [g for g in over_time.iter("g") if g.get("id") == "chart-over-time-line-restorable"]
    assert len(line) == 1
    assert list(line[0].iter("path"))
    # Restorable since (the line, the newly restorable): by any restore kind but none.
    restorable_total = sum(count_by(synced_mirror, "cycle", restorable=True, any_kind=True).values())
    assert int(over_time.get("data-total")) == restorable_total  # where the line ends: all of them
    # The baseline sync ran moments ago: every restorable MOUS is newly restorable this week.
    assert len(page.xpath("//table[@id='newly']//tr[td]")) == restorable_total
    assert int(chart(page, "chart-newly-by-day").get("data-total")) == restorable_total


def test_the_page_needs_no_network_and_is_written_whole(demo: Almamirror, tmp_path: Path) -> None:
    out_dir = tmp_path / "status"
    page = write_page(demo, out_dir)
    assert not page.xpath("//script | //link | //iframe | //img | //object")
    for element in page.iter():
        for name, value in element.attrib.items():
            if name.endswith("href") or name == "src":
                assert value.startswith("#"), (element.tag, name, value)
    document = (out_dir / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"url\((?!#)", document)  # only references inside the page
    ids = [element.get("id") for element in page.iter() if element.get("id")]
    assert len(ids) == len(set(ids))  # the charts share one document
    assert sorted(path.name for path in out_dir.iterdir()) == ["index.html"]  # no partial file left
    assert page.xpath("//section[@id='last-sync']//p[contains(., 'Run 1 succeeded: baseline')]")
    assert page.xpath("//table[@id='run-figures']//td[.='execution_block']")


def test_the_provenance_section_shows_the_archives_record_of_the_restorable_mouses(
    demo: Almamirror, synced_mirror: URL, tmp_path: Path
) -> None:
    """The demo's sync read every calibration's record from the stand-in NGAS: the section charts it."""
    page = write_page(demo, tmp_path / "status")
    assert len(page.xpath("//section[@id='provenance']")) == 1
    for column in ("calibration_record", "casa_version", "pipeline_version", "mpi_servers"):
        expected = count_by(synced_mirror, column, restorable=True)
        figure = chart(page, f"chart-provenance-{column}")
        # A bar's id keeps letters, digits, '_' and '.' of its category; anything else becomes '_'.
        ids = {"bar-restorable-" + re.sub(r"[^A-Za-z0-9_.]+", "_", value) for value in expected}
        assert bar_ids(figure) == ids, column
        assert int(figure.get("data-total")) == sum(expected.values())
    # The demo has serial and MPI calibrations, several CASA versions, and unverified records.
    assert {"bar-restorable-0", "bar-restorable-8"} <= bar_ids(chart(page, "chart-provenance-mpi_servers"))
    assert len(bar_ids(chart(page, "chart-provenance-casa_version"))) > 3
    assert {"bar-restorable-agrees", "bar-restorable-absent", "bar-restorable-unavailable"} <= bar_ids(
        chart(page, "chart-provenance-calibration_record")
    )


def test_an_empty_mirror_gets_a_page_that_says_so(
    mirror_db: URL, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], test_home: Path,
    tmp_path: Path,
) -> None:
    page = write_page(cli_runner(mirror_db, monkeypatch, capsys, test_home), tmp_path / "new" / "dir")
    assert page.xpath("//section[@id='last-sync']/p[.='No sync has run yet.']")
    for chart_id in CHARTS:
        assert chart(page, chart_id).get("data-total") == "0"


def test_a_file_as_out_dir_is_refused_with_one_line(demo: Almamirror, tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("keep me", encoding="utf-8")
    outcome = demo("report", "html", str(taken))
    assert (outcome.status, outcome.out) == (2, "")
    assert outcome.err == f"almamirror: status page directory {taken} is a file; give a directory\n"
    assert taken.read_text(encoding="utf-8") == "keep me"


def test_an_out_dir_that_cannot_be_created_is_refused_with_one_line(
    demo: Almamirror, tmp_path: Path
) -> None:
    below_a_file = tmp_path / "taken" / "status"
    below_a_file.parent.write_text("keep me", encoding="utf-8")
    outcome = demo("report", "html", str(below_a_file))
    assert (outcome.status, outcome.out) == (2, "")
    assert outcome.err.startswith(f"almamirror: status page directory {below_a_file} cannot be created: ")
    assert outcome.err.count("\n") == 1


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)")
def test_chromium_renders_the_charts(demo: Almamirror, tmp_path: Path) -> None:
    from PIL import Image

    out_dir = tmp_path / "status"
    write_page(demo, out_dir)
    url = (out_dir / "index.html").as_uri()
    shot = tmp_path / "status.png"
    base = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1400,2000",
    ]
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True)
    rendered = lxml_html.fromstring(dom.stdout)
    for chart_id in CHARTS:
        assert rendered.xpath(f"//figure[@id='{chart_id}']//*[local-name()='svg']"), chart_id
    subprocess.run([*base, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    with Image.open(shot) as image:
        assert image.size == (1400, 2000)
        colours = {colour: count for count, colour in image.convert("RGB").getcolors(maxcolors=1 << 24)}
    teal = tuple(int(RESTORABLE_COLOUR[i : i + 2], 16) for i in (1, 3, 5))
    # The restorable bars of the first charts fill thousands of pixels in the first screen.
    assert colours.get(teal, 0) > 5_000
    assert len(colours) > 50  # text, axes and bars, not a blank page

"""The status page opens with the headline; per-table figures are folded; titles are words; the
baseline is marked as such, not shown as a spike of newly restorable MOUSes."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import html as lxml_html
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from etl.report.html import BASELINE
from etl.report.views import mous_restore, restorable_mous
from tests.etl.report.conftest import Almamirror, cli_runner
from tests.helpers import rows


@pytest.fixture
def synced_mirror(shared_synced_mirror: URL) -> URL:
    """This module's tests only read the synced mirror (reports, explain): they share one copy."""
    return shared_synced_mirror


@pytest.fixture
def demo(
    synced_mirror: URL, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], test_home: Path
) -> Almamirror:
    return cli_runner(synced_mirror, monkeypatch, capsys, test_home)


def test_the_headline_comes_first_and_the_table_figures_are_folded(
    demo: Almamirror, synced_mirror: URL, tmp_path: Path
) -> None:
    assert demo("report", "html", str(tmp_path)).status == 0
    page = lxml_html.parse(str(tmp_path / "index.html")).getroot()
    sections = page.findall(".//section")
    assert sections[0].get("id") == "headline"
    view, kinds = restorable_mous, mous_restore
    [counts] = rows(synced_mirror, select(
        func.count().label("mouses"), func.count().filter(kinds.c.restore_kind != "none").label("restorable"),
        func.count().filter(view.c.restorable).label("by_ppr"),
    ).select_from(view.join(kinds, kinds.c.mous_uid == view.c.mous_uid)))
    words = " ".join(sections[0].text_content().split())
    # Restorable by any kind, those a restore PPR restores said beside them.
    assert counts["restorable"] > counts["by_ppr"]
    assert words.startswith(f"{counts['restorable']} of {counts['mouses']} MOUSes restorable")
    assert f"{counts['by_ppr']} by a restore PPR" in words
    assert "the baseline sync" in words
    assert "No failed run among the last 1." in words
    [figures] = page.xpath("//table[@id='run-figures']")
    assert figures.getparent().tag == "details"


def test_chart_titles_are_words_and_the_baseline_is_its_own_series(demo: Almamirror, tmp_path: Path) -> None:
    assert demo("report", "html", str(tmp_path)).status == 0
    page = lxml_html.parse(str(tmp_path / "index.html")).getroot()
    for caption in page.xpath("//figure/figcaption"):
        assert "_" not in caption.text_content(), caption.text_content()
    [newly] = page.xpath("//figure[@id='chart-newly-by-day']")
    header = [th.text_content() for th in newly.xpath(".//details//tr[1]/th")]
    assert header == ["", "newly restorable", BASELINE]
    cells = [row.xpath("./td") for row in newly.xpath(".//details//tr[td]")]
    newly_total = sum(int(tds[1].text_content().replace(",", "")) for tds in cells)
    baseline_total = sum(int(tds[2].text_content().replace(",", "")) for tds in cells)
    assert newly_total == 0  # the only sync is the baseline: nothing is news
    assert baseline_total == int(newly.get("data-total"))
    assert "minmax(min(600px,100%),1fr)" in (tmp_path / "index.html").read_text()  # narrow windows


def test_without_matplotlib_the_page_draws_the_same_charts_as_plain_svg(
    synced_mirror: URL, tmp_path: Path
) -> None:
    from etl.report.connection import use_report_time_zone
    from etl.report.html import render_page, status_page
    from tests.helpers import connect

    with connect(synced_mirror) as connection:
        use_report_time_zone(connection)
        page = status_page(connection)
    drawn = lxml_html.fromstring(render_page(page, plain=False))
    plain = lxml_html.fromstring(render_page(page, plain=True))
    for figure in drawn.xpath("//figure"):
        chart_id = figure.get("id")
        [same] = plain.xpath(f"//figure[@id='{chart_id}']")
        assert same.get("data-total") == figure.get("data-total"), chart_id
        [svg] = same.findall(".//svg")
        assert svg.get("viewbox"), chart_id
        bars = {node.get("id") for node in figure.iter() if str(node.get("id", "")).startswith(
            f"{chart_id}-bar-")}
        plain_bars = {node.get("id") for node in same.iter() if str(node.get("id", "")).startswith(
            f"{chart_id}-bar-")}
        assert bars == plain_bars, chart_id
    assert plain.xpath("//*[@id='chart-over-time-line-restorable']//path")
    assert "matplotlib" not in render_page(page, plain=True)

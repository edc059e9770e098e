"""The status page: one self-contained HTML file (no server, no network) answering the morning questions.

Did last night's sync work, and what did it do; how many MOUSes can be restored, by cycle, array and
band; since when (restorable MOUSes over time, from ``restorable_since``); what became restorable in
the last week; which data-quality findings are open; and the calibration provenance of the restorable
MOUSes, from the archive's record of each calibration (whether it was verified, CASA and pipeline
versions, MPI servers).

Charts are drawn by matplotlib (the optional extra almamirror[charts]; without it by
etl/report/plain_charts.py) as SVG and inlined, text kept as text (searchable, crisp at any zoom);
the styles are inline too, so the file can be mailed, copied to a web server or opened from disk.
Each chart carries its data twice: as bars (each bar's SVG group id names its series and category,
``bar-restorable-2017.1``) and as a small table under it, for people and for checks.
"""

from __future__ import annotations

import html
import io
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Text, cast, func, select

from etl.errors import UsageError
from etl.logs import fields
from etl.mirror.base import table_of
from etl.mirror.bookkeeping import SyncRun
from etl.mirror.derived import MousStatus
from etl.report.base import fetch, plural
from etl.report.html_headline import headline_section
from etl.report.html_lost import lost_in_latest_run, lost_table
from etl.report.runs import run_history
from etl.report.views import data_quality, mous_restore, restorable_mous
from etl.restore.kinds import NONE, PIPELINE_PPR
from etl.safe_files import replace_file

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

PAGE_NAME = "index.html"
RECENT_DAYS = 7
LISTED_NEWLY = 100
HISTORY_RUNS = 10
# restorable_mous' columns from the archive's record of the calibration (revision 0006).
PROVENANCE_COLUMNS = ("calibration_record", "casa_version", "pipeline_version", "mpi_servers")
PROVENANCE_TITLES = {
    "calibration_record": "the archive's record of their calibration",
    "casa_version": "CASA version", "pipeline_version": "pipeline version",
    "mpi_servers": "MPI servers (0: serial CASA)",
}
BASELINE = "restorable at the baseline sync"
RESTORABLE_COLOUR = "#2a9d8f"
NOT_RESTORABLE_COLOUR = "#e76f51"
NEUTRAL_COLOUR = "#457b9d"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Series:
    """One chart's data: categories along the axis, one list of counts per named series."""

    categories: Sequence[str]
    counts: Mapping[str, Sequence[int]]
    colours: Mapping[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(sum(values) for values in self.counts.values())


@dataclass(frozen=True)
class StatusPage:
    generated_at: datetime
    runs: Sequence[Mapping[str, Any]]
    """The last sync runs, newest first, each with its per-table figures."""
    totals: Mapping[str, int]
    by_cycle: Series
    by_array: Series
    by_band: Series
    by_reason: Series
    over_time: Sequence[tuple[datetime, int]]
    """(moment, restorable MOUSes that had become restorable by then), ascending."""
    newly: Sequence[Mapping[str, Any]]
    newly_by_day: Series
    quality: Series
    provenance: Mapping[str, Series]
    """Restorable MOUSes per CASA version, pipeline version, MPI servers; None: not recorded."""
    by_kind: Series = field(default_factory=lambda: Series((), {}))
    """MOUSes per restore kind (mous_restore): PPR, archived script, scriptForPI.py, none."""
    lost: Sequence[Mapping[str, Any]] = ()
    """The MOUSes the last successful sync took restorability from (etl/report/lost.py)."""


def status_page(connection: Connection) -> StatusPage:
    """Everything the page shows, read in the caller's snapshot."""
    now = connection.execute(select(func.now())).scalar_one()
    view = restorable_mous
    return StatusPage(
        generated_at=now,
        runs=run_history(connection, HISTORY_RUNS).runs,
        totals=_totals(connection),
        by_cycle=_verdicts_by(connection, view.c.cycle),
        by_array=_verdicts_by(connection, view.c.array_family),
        by_band=_verdicts_by(connection, view.c.band),
        by_reason=_counts_by(connection, mous_restore.c.reason_code, mous_restore.c.restore_kind == NONE,
                             NOT_RESTORABLE_COLOUR, "not restorable"),
        over_time=_over_time(connection),
        newly=_newly(connection, now),
        newly_by_day=_newly_by_day(connection, now),
        quality=_counts_by(connection, data_quality.c.kind, None, NEUTRAL_COLOUR, "open findings"),
        provenance=_provenance(connection),
        by_kind=_counts_by(connection, mous_restore.c.restore_kind, None, RESTORABLE_COLOUR, "MOUSes"),
        lost=lost_in_latest_run(connection),
    )


def _totals(connection: Connection) -> dict[str, int]:
    """Restorable means a restore kind other than none (mous_restore); by a PPR is counted beside it."""
    view, kinds = restorable_mous, mous_restore
    restorable = kinds.c.restore_kind != NONE
    row = connection.execute(
        select(
            func.count().label("mouses"),
            func.count().filter(restorable).label("restorable"),
            func.count().filter(restorable, ~view.c.proprietary).label("restorable_public"),
            func.count().filter(kinds.c.restore_kind == PIPELINE_PPR).label("restorable_by_ppr"),
        ).select_from(view.join(kinds, kinds.c.mous_uid == view.c.mous_uid))
    ).one()
    return {"mouses": row.mouses, "restorable": row.restorable, "not_restorable": row.mouses - row.restorable,
            "restorable_public": row.restorable_public, "restorable_by_ppr": row.restorable_by_ppr}


def _verdicts_by(connection: Connection, column: Any) -> Series:
    view, kinds = restorable_mous, mous_restore
    restorable = kinds.c.restore_kind != NONE
    rows = connection.execute(
        select(
            column.label("category"),
            func.count().filter(restorable).label("restorable"),
            func.count().filter(~restorable).label("not_restorable"),
        )
        .select_from(view.join(kinds, kinds.c.mous_uid == view.c.mous_uid))
        .group_by(column)
        .order_by(column.asc().nulls_last())
    ).all()
    return Series(
        [row.category or UNKNOWN for row in rows],
        {"restorable": [row.restorable for row in rows],
         "not restorable": [row.not_restorable for row in rows]},
        {"restorable": RESTORABLE_COLOUR, "not restorable": NOT_RESTORABLE_COLOUR},
    )


def _counts_by(
    connection: Connection, column: Any, where: Any, colour: str, name: str
) -> Series:
    query = select(column.label("category"), func.count().label("n")).group_by(column)
    if where is not None:
        query = query.where(where)
    rows = connection.execute(query.order_by(func.count().desc(), column)).all()
    return Series([row.category or UNKNOWN for row in rows], {name: [row.n for row in rows]}, {name: colour})


def _over_time(connection: Connection) -> list[tuple[datetime, int]]:
    view = restorable_mous
    rows = connection.execute(
        select(view.c.restorable_since, func.count().label("n"))
        # Set exactly while the restore kind is not none: restorable by any kind.
        .where(view.c.restorable_since.is_not(None))
        .group_by(view.c.restorable_since)
        .order_by(view.c.restorable_since)
    ).all()
    running, points = 0, []
    for row in rows:
        running += row.n
        points.append((row.restorable_since, running))
    return points


def _newly(connection: Connection, now: datetime) -> list[dict[str, Any]]:
    view = restorable_mous
    return fetch(
        connection,
        select(view.c.mous_uid, view.c.project_code, view.c.cycle, view.c.array_family, view.c.band,
               view.c.restorable_since, view.c.proprietary)
        .where(view.c.restorable_since >= now - timedelta(days=RECENT_DAYS))
        .order_by(view.c.restorable_since.desc(), view.c.mous_uid),
    )


def _newly_by_day(connection: Connection, now: datetime) -> Series:
    """Newly restorable MOUSes per UTC day of the last week, days without any included."""
    view = restorable_mous
    day = func.date_trunc("day", view.c.restorable_since)
    counted = {
        row.day.date(): row.n
        for row in connection.execute(
            select(day.label("day"), func.count().label("n"))
            .where(view.c.restorable_since >= now - timedelta(days=RECENT_DAYS))
            .group_by(day)
        )
    }
    days = [(now - timedelta(days=back)).date() for back in range(RECENT_DAYS - 1, -1, -1)]
    # The baseline sync finds every restorable MOUS at once: a bar of its own, not a spike of news.
    at_baseline = _baseline_by_day(connection, now)
    return Series(
        [f"{d:%m-%d}" for d in days],
        {"newly restorable": [counted.get(d, 0) - at_baseline.get(d, 0) for d in days],
         BASELINE: [at_baseline.get(d, 0) for d in days]},
        {"newly restorable": RESTORABLE_COLOUR, BASELINE: NEUTRAL_COLOUR},
    )


def _baseline_by_day(connection: Connection, now: datetime) -> dict[Any, int]:
    """Restorable MOUSes of the last week that a baseline sync made restorable, per UTC day."""
    status = table_of(MousStatus)
    runs = table_of(SyncRun)
    day = func.date_trunc("day", status.c.restorable_since)
    return {
        row.day.date(): row.n
        for row in connection.execute(
            select(day.label("day"), func.count().label("n"))
            .join(runs, runs.c.run_id == status.c.restorable_since_run_id)
            .where(runs.c.baseline,
                   status.c.restorable_since >= now - timedelta(days=RECENT_DAYS))
            .group_by(day)
        )
    }


def _provenance(connection: Connection) -> dict[str, Series]:
    """Restorable MOUSes per state of the archive's record, CASA version, pipeline version and MPI
    servers (``unknown`` where the record does not say)."""
    view = restorable_mous
    result: dict[str, Series] = {}
    for name in PROVENANCE_COLUMNS:
        column = view.c[name]
        # A record that says "unknown" (a pipeline run from a source tree) and one that says nothing
        # are one bar.
        category = func.coalesce(cast(column, Text), UNKNOWN)
        rows = connection.execute(
            select(category.label("category"), func.count().label("n"))
            .where(view.c.restorable)
            .group_by(category)
            .order_by(func.min(column).asc().nulls_last())
        ).all()
        result[name] = Series(
            [str(row.category) for row in rows],
            {"restorable": [row.n for row in rows]}, {"restorable": RESTORABLE_COLOUR},
        )
    return result


# Charts


def charts_installed() -> bool:
    """Whether matplotlib (the optional extra almamirror[charts]) is there to draw the charts."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def bar_chart(
    chart_id: str, title: str, series: Series, horizontal: bool = False, plain: bool = False
) -> str:
    """Stacked bars, one stack per category, as inline SVG; every bar's group id names its data.
    ``plain``: drawn without matplotlib (etl/report/plain_charts.py)."""
    if plain:
        from etl.report.plain_charts import bar_svg

        svg = bar_svg(chart_id, series.categories, series.counts, series.colours, NEUTRAL_COLOUR)
        return _figure_html(chart_id, title, svg, series)
    figure, axes = _figure(height=3.2 if not horizontal else max(2.4, 0.32 * len(series.categories) + 1))
    positions = list(range(len(series.categories)))
    base = [0] * len(positions)
    for name, values in series.counts.items():
        colour = series.colours.get(name, NEUTRAL_COLOUR)
        if horizontal:
            bars = axes.barh(positions, values, left=base, color=colour, label=name)
        else:
            bars = axes.bar(positions, values, bottom=base, color=colour, label=name)
        for bar, category in zip(bars, series.categories, strict=True):
            bar.set_gid(_gid("bar", name, category))
        base = [b + v for b, v in zip(base, values, strict=True)]
    if horizontal:
        axes.set_yticks(positions, series.categories)
        axes.invert_yaxis()
        axes.xaxis.set_major_locator(_whole_numbers())
    else:
        rotate = len(series.categories) > 6 or max((len(c) for c in series.categories), default=0) > 8
        axes.set_xticks(positions, series.categories, rotation=45 if rotate else 0,
                        ha="right" if rotate else "center")
        axes.yaxis.set_major_locator(_whole_numbers())
    if len(series.counts) > 1:
        axes.legend(frameon=False, fontsize=8)
    return _chart(chart_id, title, figure, series)


def line_chart(
    chart_id: str, title: str, points: Sequence[tuple[datetime, int]], plain: bool = False
) -> str:
    """Restorable MOUSes over time: a step line rising at each restorable_since."""
    table = Series([f"{moment:%Y-%m-%d %H:%M}" for moment, _ in points],
                   {"restorable by then": [count for _, count in points]})
    if plain:
        from etl.report.plain_charts import step_svg

        return _figure_html(chart_id, title, step_svg(chart_id, points, RESTORABLE_COLOUR), table,
                            total=points[-1][1] if points else 0)
    figure, axes = _figure(height=3.2)
    if points:
        import matplotlib.dates

        dates: Any = matplotlib.dates  # a module without type hints
        moments = [moment for moment, _ in points]
        counts = [count for _, count in points]
        # From zero a day before the first MOUS became restorable.
        xs = dates.date2num([moments[0] - timedelta(days=1), *moments])
        (line,) = axes.step(xs, [0, *counts], where="post", color=RESTORABLE_COLOUR)
        line.set_gid("line-restorable")
        axes.plot(xs[1:], counts, "o", color=RESTORABLE_COLOUR, markersize=3, gid="points-restorable")
        locator = dates.AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
    axes.yaxis.set_major_locator(_whole_numbers())
    axes.set_ylabel("restorable MOUSes", fontsize=8)
    return _chart(chart_id, title, figure, table, total=points[-1][1] if points else 0)


def _whole_numbers() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _figure(height: float) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, height), layout="constrained")
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(labelsize=8)
    return figure, axes


def _chart(chart_id: str, title: str, figure: Figure, data: Series, total: int | None = None) -> str:
    """``data-total``: what the chart counts in all (by default its bars' sum), for a reader's check."""
    return _figure_html(chart_id, title, _svg(figure, chart_id), data, total)


def _figure_html(chart_id: str, title: str, svg: str, data: Series, total: int | None = None) -> str:
    return (
        f'<figure class="chart" id="{chart_id}" data-total="{data.total if total is None else total}">'
        f"<figcaption>{html.escape(title)}</figcaption>{svg}{_data_table(data)}</figure>"
    )


def _svg(figure: Figure, prefix: str) -> str:
    """The figure as an inline <svg>: no XML prolog, DOCTYPE or metadata (which name outside URLs),
    scaled by CSS through its viewBox, every id (and reference to one) prefixed with ``prefix``, since
    the charts share one document (matplotlib numbers ``axes_1``, ``patch_1``… in each)."""
    import matplotlib

    buffer = io.StringIO()
    # Text as text; ids that do not change from run to run; no creation date.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "almamirror",
                                "font.family": "sans-serif"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    svg = re.sub(r'(<svg[^>]*?) width="[^"]*" height="[^"]*"', r"\1", svg, count=1)
    svg = re.sub(r'\bid="', f'id="{prefix}-', svg)
    return re.sub(r'(href="#|url\(#)', rf"\1{prefix}-", svg)


def _data_table(data: Series) -> str:
    if not data.categories:
        return '<p class="empty">nothing to show</p>'
    header = "".join(f"<th>{html.escape(name)}</th>" for name in data.counts)
    rows = "".join(
        f"<tr><td>{html.escape(category)}</td>"
        + "".join(f"<td class=n>{values[i]:,}</td>" for values in data.counts.values())
        + "</tr>"
        for i, category in enumerate(data.categories)
    )
    return f"<details><summary>data</summary><table><tr><th></th>{header}</tr>{rows}</table></details>"


def _gid(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_.]+", "_", part) for part in parts)


# The page


def render_page(page: StatusPage, plain: bool | None = None) -> str:
    """The page; ``plain`` charts (without matplotlib) by default when matplotlib is not installed."""
    plain = not charts_installed() if plain is None else plain
    totals = page.totals
    sections = [
        headline_section(totals, page.runs, page.lost),
        _sync_section(page.runs),
        f"""<section><h2>Restorable MOUSes</h2>
<p class="big">{totals['restorable']:,} of {plural(totals['mouses'], 'MOUS', 'MOUSes')} restorable
({totals['restorable_public']:,} public, {totals['restorable_by_ppr']:,} by a restore PPR);
{totals['not_restorable']:,} not.</p>
<div class="charts">
{bar_chart("chart-by-cycle", "By cycle", page.by_cycle, plain=plain)}
{bar_chart("chart-by-array", "By array", page.by_array, plain=plain)}
{bar_chart("chart-by-band", "By band", page.by_band, plain=plain)}
{bar_chart("chart-by-reason", "Not restorable, by reason", page.by_reason, horizontal=True,
           plain=plain)}
{bar_chart("chart-by-restore-kind", "How they restore, by restore kind", page.by_kind, horizontal=True,
           plain=plain)}
</div></section>""",
        f"""<section><h2>Over time</h2><div class="charts">
{line_chart("chart-over-time", "Restorable MOUSes over time (counted from when each became restorable)",
            page.over_time, plain=plain)}
{bar_chart("chart-newly-by-day", f"Newly restorable, last {RECENT_DAYS} days (UTC)", page.newly_by_day,
           plain=plain)}
</div>{_newly_table(page.newly)}{lost_table(page.lost)}</section>""",
        f"""<section><h2>Data quality</h2><p>{plural(page.quality.total, 'open finding')} in the ALMA
source (<code>almamirror report quality</code> lists them).</p><div class="charts">
{bar_chart("chart-quality", "Open data-quality findings by kind", page.quality, horizontal=True,
           plain=plain)}
</div></section>""",
    ]
    charts = "".join(
        bar_chart(f"chart-provenance-{name}", f"Restorable MOUSes by {PROVENANCE_TITLES.get(name, name)}",
                  series, plain=plain)
        for name, series in page.provenance.items()
    )
    sections.append(
        '<section id="provenance"><h2>Calibration provenance</h2><p>From the archive\'s own record of '
        "each calibration (<code>almamirror report provenance</code> lists them): the CASA a restore "
        "needs. A record that is <code>absent</code> or <code>unavailable</code> was not verified."
        f'</p><div class="charts">{charts}</div></section>'
    )
    generated = f"{page.generated_at:%Y-%m-%d %H:%M:%S} UTC"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="almamirror">
<title>almamirror status, {generated}</title>
<style>{STYLE}</style></head>
<body><header><h1>almamirror status</h1><p>Generated {generated} from the mirror; every figure as of
the last committed sync.</p></header>
{"".join(sections)}
</body></html>
"""


def _sync_section(runs: Sequence[Mapping[str, Any]]) -> str:
    if not runs:
        return '<section id="last-sync"><h2>Last sync</h2><p class="bad">No sync has run yet.</p></section>'
    last = runs[0]
    good = next((run for run in runs if run["status"] == "succeeded"), None)
    status = html.escape(last["status"])
    verdict = {"succeeded": "good", "failed": "bad"}.get(last["status"], "busy")
    lines = [
        f'<p class="{verdict} big">Run {last["run_id"]} {status}: {_kind(last)}, started '
        f"{_time(last['started_at'])}, finished {_time(last['finished_at'])} "
        f"({_seconds(last['duration_seconds'])}).</p>",
    ]
    if last["error"]:
        lines.append(f'<p class="bad">Error: {html.escape(str(last["error"]))}</p>')
    if good is not None and good is not last:
        lines.append(f"<p>The latest successful sync is run {good['run_id']}, finished "
                     f"{_time(good['finished_at'])}.</p>")
    shown = good or last
    if shown["mous_derived"] is not None:
        lines.append(
            f"<p>Run {shown['run_id']}: {shown['mous_derived']:,} MOUSes re-derived, "
            f"{shown['newly_restorable']:,} newly restorable, data-quality findings "
            f"{shown['quality_opened']:,} opened and {shown['quality_resolved']:,} resolved.</p>"
        )
    if shown["tables"]:
        rows = "".join(
            f"<tr><td>{html.escape(t['table_name'])}</td><td class=n>{t['rows_read']:,}</td>"
            f"<td class=n>{t['inserted']:,}</td><td class=n>{t['updated']:,}</td>"
            f"<td class=n>{t['deleted']:,}</td><td class=n>{t['seconds']:.2f}</td></tr>"
            for t in shown["tables"]
        )
        lines.append(  # folded: the figures per table are for when something looks wrong
            f'<details><summary>What run {shown["run_id"]} did to each table</summary>'
            '<table id="run-figures">'
            "<tr><th>table</th><th>rows read</th><th>inserted</th><th>updated</th><th>deleted</th>"
            f"<th>seconds</th></tr>{rows}</table></details>"
        )
    history = "".join(
        f"<tr><td class=n>{run['run_id']}</td><td>{html.escape(run['status'])}</td><td>{_kind(run)}</td>"
        f"<td>{_time(run['started_at'])}</td><td class=n>{_seconds(run['duration_seconds'])}</td>"
        f"<td class=n>{'' if run['newly_restorable'] is None else format(run['newly_restorable'], ',')}"
        "</td></tr>"
        for run in runs
    )
    lines.append(
        '<details><summary>recent runs</summary><table id="run-history"><tr><th>run</th><th>status</th>'
        f"<th>kind</th><th>started</th><th>duration</th><th>newly restorable</th></tr>{history}</table>"
        "</details>"
    )
    return f'<section id="last-sync"><h2>Last sync</h2>{"".join(lines)}</section>'


def _newly_table(newly: Sequence[Mapping[str, Any]]) -> str:
    if not newly:
        return f'<p id="newly">No MOUS became restorable in the last {RECENT_DAYS} days.</p>'
    rows = "".join(
        f"<tr><td><code>{html.escape(row['mous_uid'])}</code></td>"
        f"<td>{html.escape(row['project_code'] or '')}</td><td>{html.escape(row['cycle'] or '')}</td>"
        f"<td>{html.escape(row['array_family'] or '')}</td>"
        f"<td>{html.escape(row['band'] or '')}</td><td>{_time(row['restorable_since'])}</td>"
        f"<td>{'yes' if row['proprietary'] else 'no'}</td></tr>"
        for row in newly[:LISTED_NEWLY]
    )
    more = len(newly) - LISTED_NEWLY
    tail = (
        f"<p>… and {more:,} more (<code>almamirror report newly-restorable</code>).</p>" if more > 0 else ""
    )
    return (
        f'<table id="newly"><caption>{plural(len(newly), "MOUS", "MOUSes")} newly restorable in the last '
        f"{RECENT_DAYS} days</caption><tr><th>MOUS</th><th>project</th><th>cycle</th><th>array</th>"
        f"<th>band</th><th>restorable since</th><th>proprietary</th></tr>{rows}</table>{tail}"
    )


def _kind(run: Mapping[str, Any]) -> str:
    return "baseline" if run["baseline"] else "full" if run["full"] else "incremental"


def _time(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "—"


def _seconds(seconds: float | None) -> str:
    return f"{seconds:,.1f} s" if seconds is not None else "running"


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1320px;
padding:0 16px 32px;color:#1d3557;background:#fff}
header{border-bottom:2px solid #1d3557;margin-bottom:8px}
h1{margin:16px 0 4px}h2{margin:24px 0 8px;border-bottom:1px solid #ccd}
.big{font-size:1.15em}.good{color:#1b7f4b}.bad{color:#b3261e;font-weight:600}.busy{color:#a36b00}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(600px,100%),1fr));gap:16px}
figure.chart{margin:0;padding:8px;border:1px solid #dde;border-radius:6px}
figure.chart svg{width:100%;height:auto}
figcaption{font-weight:600;margin-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}
th,td{border-bottom:1px solid #eef;padding:2px 8px;text-align:left}td.n{text-align:right}
caption{text-align:left;font-weight:600;padding:4px 0}
details summary{cursor:pointer;color:#457b9d;font-size:.85em}
"""


def write_status_page(connection: Connection, out_dir: Path) -> Path:
    """Render the page from ``connection``'s snapshot and write ``out_dir/index.html`` atomically.

    A bad ``out_dir`` (a file, or a place that cannot be written) is a UsageError before anything is
    rendered; a half-written page is never left where a browser or web server would read it.
    """
    target = prepare_directory(out_dir)
    document = render_page(status_page(connection))
    try:
        replace_file(target.parent, target, document.encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"status page {target} cannot be written: {exc.strerror or exc}") from exc
    log.info("report.status_page_written %s", fields(path=target, bytes=len(document.encode())))
    return target


def prepare_directory(out_dir: Path) -> Path:
    """``out_dir`` created if missing; the page's path in it."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"status page directory {out_dir} is a file; give a directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"status page directory {out_dir} cannot be created: {exc.strerror or exc}") from exc
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise UsageError(f"status page directory {out_dir} is not writable")
    return out_dir / PAGE_NAME

"""The sync history: each run with its per-table figures (``sync_run``, ``sync_run_table``)."""

from __future__ import annotations

import io
import json
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import Connection, Float, Select, cast, extract, select

from etl.controls import escape_controls
from etl.mirror.base import table_of
from etl.mirror.bookkeeping import SyncRun, SyncRunTable
from etl.mirror.states import RunState
from etl.output import (
    Layout,
    TableView,
    choose_columns,
    json_value,
    moment_text,
    render_table,
    write_rows,
)
from etl.report.base import counted, fetch, plural
from etl.terminal import Terminal, write_drawn

sync_runs = table_of(SyncRun)
run_tables = table_of(SyncRunTable)

RUN_COLUMNS = (
    "run_id", "status", "started_at", "finished_at", "duration_seconds", "full", "baseline", "host", "pid",
    "source", "mous_derived", "newly_restorable", "quality_opened", "quality_resolved", "error",
)
FIGURE_COLUMNS = ("table_name", "rows_read", "inserted", "updated", "deleted", "seconds")
FLAT_COLUMNS = (*RUN_COLUMNS, *FIGURE_COLUMNS)
FIGURES_LAYOUT = Layout(drop_first=("seconds", "deleted"))
RUNS_LAYOUT = Layout(
    drop_first=("pid", "source", "quality_resolved", "quality_opened", "duration_seconds", "finished_at"),
    fold=("error", "host"),
)


@dataclass(frozen=True)
class RunHistory:
    runs: Sequence[Mapping[str, Any]]
    """Newest first; each run's ``tables`` holds its per-table figures."""


def show_runs(
    connection: Connection, last: int, fmt: str, stream: TextIO, view: TableView | None = None
) -> None:
    """``report runs``: the last ``last`` syncs, newest first, with what each did to every table.

    With ``view.columns`` (--columns), one row per run and table with those columns, in every format,
    fitted to the terminal as every report is."""
    history = run_history(connection, last)
    if view is not None and view.columns:
        columns = choose_columns(view, FLAT_COLUMNS, ())
        write_rows(flat_rows(history), columns, fmt, stream, runs_summary(history), view, RUNS_LAYOUT)
        return
    write_runs(history, fmt, stream, view)


def run_history(connection: Connection, last: int) -> RunHistory:
    runs = fetch(connection, runs_query(last))
    figures: dict[int, list[dict[str, Any]]] = {run["run_id"]: [] for run in runs}
    for figure in fetch(connection, figures_query(list(figures))):
        figures[figure.pop("run_id")].append(figure)
    return RunHistory([{**run, "tables": figures[run["run_id"]]} for run in runs])


def runs_query(last: int) -> Select[Any]:
    duration = cast(extract("epoch", sync_runs.c.finished_at - sync_runs.c.started_at), Float)
    columns = [
        duration.label(name) if name == "duration_seconds" else sync_runs.c[name] for name in RUN_COLUMNS
    ]
    return select(*columns).order_by(sync_runs.c.run_id.desc()).limit(last)


def figures_query(run_ids: Sequence[int]) -> Select[Any]:
    return (
        select(run_tables.c.run_id, *(run_tables.c[name] for name in FIGURE_COLUMNS))
        .where(run_tables.c.run_id.in_(run_ids))
        .order_by(run_tables.c.run_id, run_tables.c.table_name)
    )


def write_runs(history: RunHistory, fmt: str, stream: TextIO, view: TableView | None = None) -> None:
    """json: runs with nested figures; csv: one row per run and table; table: a block per run
    (on a terminal its lines wrapped and its figures fitted to the width)."""
    if fmt == "table" and view is not None and view.terminal is not None and not view.wide:
        for run in history.runs:
            # Drawn: its figures carry the table's own colours; its host and error are escaped in it.
            write_drawn(stream, fitted_run_block(run, view))
        stream.write(textwrap.fill(runs_summary(history), view.terminal.width) + "\n")
        return
    if fmt == "json":
        json.dump([json_value(run) for run in history.runs], stream, ensure_ascii=False, indent=2)
        stream.write("\n")
    elif fmt == "csv":
        write_rows(flat_rows(history), (*RUN_COLUMNS, *FIGURE_COLUMNS), "csv", stream)
    else:
        for run in history.runs:
            stream.write(run_block(run))
        stream.write(runs_summary(history) + "\n")


def flat_rows(history: RunHistory) -> list[dict[str, Any]]:
    """A run without figures (failed early, still running) keeps one row with empty figure columns."""
    return [
        {**run, **figure}
        for run in history.runs
        for figure in (run["tables"] or [{}])
    ]


def run_block(run: Mapping[str, Any]) -> str:
    kind = "baseline" if run["baseline"] else "full" if run["full"] else "incremental"
    lines = [
        f"run {run['run_id']}  {run['status']}  {kind}  started {_time(run['started_at'])}  "
        f"finished {_time(run['finished_at'])}  ({_seconds(run['duration_seconds'])})  "
        f"host {run['host']} pid {run['pid']}",
        f"  source {run['source']}; MOUSes derived {_count(run['mous_derived'])}, newly restorable "
        f"{_count(run['newly_restorable'])}, quality issues opened {_count(run['quality_opened'])}, "
        f"resolved {_count(run['quality_resolved'])}",
    ]
    if run["error"]:
        lines.append(f"  error: {' '.join(str(run['error']).split())}")
    text = "\n".join(lines) + "\n"
    if run["tables"]:
        figures = [{**figure, "seconds": round(figure["seconds"], 2)} for figure in run["tables"]]
        text += "".join(f"  {line}\n" for line in render_table(figures, FIGURE_COLUMNS).splitlines())
    return text + "\n"


def fitted_run_block(run: Mapping[str, Any], view: TableView) -> str:
    """A run's block on a terminal: its lines wrapped (host names, errors), its figures fitted."""
    assert view.terminal is not None
    width = view.terminal.width
    # The host, source and error are the run's data: shown, never run, on the terminal.
    head = escape_controls(run_block({**run, "tables": []}).rstrip("\n"))
    lines = [textwrap.fill(line, width, subsequent_indent="    ") for line in head.splitlines()]
    text = "\n".join(lines) + "\n"
    if run["tables"]:
        rows = [{**figure, "seconds": round(figure["seconds"], 2)} for figure in run["tables"]]
        table = io.StringIO()
        narrower = TableView(terminal=Terminal(width - 2, view.terminal.height, view.terminal.color),
                             choosable=False)
        write_rows(rows, FIGURE_COLUMNS, "table", table, view=narrower, layout=FIGURES_LAYOUT)
        text += "".join(f"  {line}\n" for line in table.getvalue().splitlines())
    return text + "\n"


def runs_summary(history: RunHistory) -> str:
    states: dict[str, int] = {
        state: sum(1 for run in history.runs if run["status"] == state) for state in RunState
    }
    listed = plural(len(history.runs), "run")
    return f"{listed}: {counted(states)}" if history.runs else "no sync has run yet"


def _time(moment: datetime | None) -> str:
    return moment_text(moment) if moment else "-"


def _seconds(seconds: float | None) -> str:
    return f"{seconds:,.1f} s" if seconds is not None else "running"


def _count(value: int | None) -> str:
    return f"{value:,}" if value is not None else "-"

"""Which member OUSes can be restored (``restorable_mous``), and which just became so."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import ColumnElement, Connection, Select, func, select

from etl.mirror.derived import REASON_CODES
from etl.output import PLAIN, Layout, TableView, choose_columns, moment_text
from etl.report.base import Report, counted, fetch, plural, write_report
from etl.report.runs import latest_succeeded_run
from etl.report.views import column_names, newly_restorable, restorable_mous

# What fits a terminal; csv and json carry every column of the view. Only the shown columns are
# selected: last_change_at, the one costly column (a change_event lookup per MOUS), is not among them.
ALL_COLUMNS = column_names(restorable_mous)
TABLE_COLUMNS = (
    "mous_uid", "project_code", "array_family", "band", "eb_count", "pass_eb_count", "session_count",
    "empty_session_count", "calibration_kind", "release_date", "proprietary", "calibration_record",
    "casa_version", "pipeline_version", "mpi_servers",
)
NOT_RESTORABLE_TABLE_COLUMNS = (*TABLE_COLUMNS, "reason_code", "reason")
NEWLY_RESTORABLE_COLUMNS = column_names(newly_restorable)
# On a narrow terminal the counts go first, then the provenance and the dates; the UID, project,
# calibration record and reason stay.
LAYOUT = Layout(
    drop_first=(
        "empty_session_count", "session_count", "pass_eb_count", "eb_count", "pipeline_version",
        "mpi_servers", "casa_version", "proprietary", "calibration_kind", "release_date", "band",
        "array_family",
    ),
    fold=("reason",),
)
NEWLY_RESTORABLE_LAYOUT = Layout(drop_first=("proprietary", "release_date", "band", "array_family"))


@dataclass(frozen=True)
class RestorableFilter:
    project: str | None = None
    array: str | None = None
    not_restorable: bool = False

    def table_columns(self) -> tuple[str, ...]:
        """A listing is all restorable or all not: only the latter needs the reason."""
        return NOT_RESTORABLE_TABLE_COLUMNS if self.not_restorable else TABLE_COLUMNS

    def describe(self) -> str:
        """' of project 2017.1.00886.S on the 12m array', or '' when unfiltered."""
        project = f" of project {self.project}" if self.project else ""
        array = f" on the {self.array} array" if self.array else ""
        return project + array


def show_restorable(
    connection: Connection, chosen: RestorableFilter, fmt: str, stream: TextIO, view: TableView = PLAIN
) -> None:
    """``report restorable``: the MOUSes that can (or, with not_restorable, cannot) be restored."""
    # Only the columns shown are selected: last_change_at costs a lookup per MOUS.
    columns = choose_columns(view, ALL_COLUMNS, chosen.table_columns() if fmt == "table" else ALL_COLUMNS)
    write_report(restorable_report(connection, chosen, columns), fmt, stream, view)


def restorable_report(
    connection: Connection, chosen: RestorableFilter, columns: Sequence[str] = ALL_COLUMNS
) -> Report:
    rows = fetch(connection, restorable_query(chosen, columns))
    counts = {row.reason_code: row.mous_count for row in connection.execute(verdict_counts_query(chosen))}
    return Report(rows, columns, restorable_summary(counts, chosen), chosen.table_columns(), LAYOUT)


def restorable_query(chosen: RestorableFilter, columns: Sequence[str] = ALL_COLUMNS) -> Select[Any]:
    view = restorable_mous
    return (
        select(*(view.c[name] for name in columns))
        .where(*_scope(chosen), view.c.restorable.is_(not chosen.not_restorable))
        .order_by(view.c.project_code, view.c.mous_uid)
    )


def verdict_counts_query(chosen: RestorableFilter) -> Select[Any]:
    """MOUSes per reason code (NULL: restorable) in the filter's scope, listed or not."""
    view = restorable_mous
    return (
        select(view.c.reason_code, func.count().label("mous_count"))
        .where(*_scope(chosen))
        .group_by(view.c.reason_code)
    )


def _scope(chosen: RestorableFilter) -> list[ColumnElement[bool]]:
    view = restorable_mous
    conditions: list[ColumnElement[bool]] = []
    if chosen.project is not None:
        conditions.append(view.c.project_code == chosen.project)
    if chosen.array is not None:
        conditions.append(view.c.array_family == chosen.array)
    return conditions


def restorable_summary(counts: Mapping[str | None, int], chosen: RestorableFilter) -> str:
    """'41 MOUSes: 30 restorable, 11 not (manual_calibration 2, no_calibration_products 5, …)'."""
    total = sum(counts.values())
    restorable = counts.get(None, 0)
    mouses = plural(total, "MOUS", "MOUSes")
    line = f"{mouses}{chosen.describe()}: {restorable:,} restorable, {total - restorable:,} not"
    reasons = _in_reason_order(counts)
    return f"{line} ({counted(reasons)})" if reasons else line


def _in_reason_order(counts: Mapping[str | None, int]) -> dict[str, int]:
    """Reasons in the order the derivation checks them; any code this version does not know, last."""
    known: Sequence[str] = REASON_CODES
    codes = [*known, *sorted(code for code in counts if code is not None and code not in known)]
    return {code: counts[code] for code in codes if counts.get(code)}


def show_newly_restorable(
    connection: Connection, since: datetime | None, fmt: str, stream: TextIO, view: TableView = PLAIN
) -> None:
    """``report newly-restorable``: MOUSes that became restorable in the latest run, or since a date."""
    write_report(newly_restorable_report(connection, since), fmt, stream, view)


def newly_restorable_report(connection: Connection, since: datetime | None) -> Report:
    rows = fetch(connection, newly_restorable_query(since))
    proprietary = sum(1 for row in rows if row["proprietary"])
    if since is not None:
        scope = f"restorable since {moment_text(since)}"
    else:
        run = latest_succeeded_run(connection)
        if run is None:
            return Report(rows, NEWLY_RESTORABLE_COLUMNS, "no sync has succeeded yet",
                          layout=NEWLY_RESTORABLE_LAYOUT)
        scope = f"newly restorable in run {run.run_id} (finished {moment_text(run.finished_at)})"
    summary = f"{plural(len(rows), 'MOUS', 'MOUSes')} {scope}; {proprietary:,} of them still proprietary"
    return Report(rows, NEWLY_RESTORABLE_COLUMNS, summary, layout=NEWLY_RESTORABLE_LAYOUT)


def newly_restorable_query(since: datetime | None) -> Select[Any]:
    """The view (the latest run) without ``since``; otherwise restorable_mous from that moment on."""
    if since is None:
        return select(newly_restorable).order_by(
            newly_restorable.c.project_code, newly_restorable.c.mous_uid
        )
    view = restorable_mous
    return (
        select(*(view.c[name] for name in NEWLY_RESTORABLE_COLUMNS))
        .where(view.c.restorable, view.c.restorable_since >= since)
        .order_by(view.c.restorable_since, view.c.project_code, view.c.mous_uid)
    )

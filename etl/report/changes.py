"""What the syncs changed (``recent_changes``): the latest run's changes, one run's, or since a date."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import Connection, Select, distinct, func, select

from etl.errors import UsageError
from etl.mirror.bookkeeping import CHANGE_KINDS
from etl.output import table_value
from etl.report.base import Report, StreamedRows, counted, plural, write_report
from etl.report.runs import latest_succeeded_run, run_exists
from etl.report.views import column_names, recent_changes

# The table shows one readable "change" cell in place of the three value columns.
TABLE_COLUMNS = (
    "event_id", "run_id", "changed_at", "table_name", "row_key", "kind", "mous_uid", "project_code",
    "change",
)


def show_changes(
    connection: Connection, since: datetime | None, run_id: int | None, fmt: str, stream: TextIO
) -> None:
    """``report changes``: the latest run's changes, run ``run_id``'s, or every change since ``since``."""
    write_report(changes_report(connection, since, run_id), fmt, stream)


def changes_report(connection: Connection, since: datetime | None, run_id: int | None) -> Report:
    """The changes, streamed from a server-side cursor whatever their number (and in every format)."""
    if since is not None:
        return _report(connection, changes_query(since=since), f"since {since.isoformat()}")
    if run_id is None:
        latest = latest_succeeded_run(connection)
        if latest is None:
            return Report([], column_names(recent_changes), "no sync has succeeded yet", TABLE_COLUMNS)
        run_id = latest.run_id
    elif not run_exists(connection, run_id):
        raise UsageError(f"--run {run_id}: there is no sync run {run_id} in this mirror (see 'report runs')")
    return _report(connection, changes_query(run_id=run_id), f"in run {run_id}")


def changes_query(since: datetime | None = None, run_id: int | None = None) -> Select[Any]:
    view = recent_changes
    query = select(view).order_by(view.c.event_id.desc())
    if since is not None:
        query = query.where(view.c.changed_at >= since)
    if run_id is not None:
        query = query.where(view.c.run_id == run_id)
    return query


def _report(connection: Connection, query: Select[Any], scope: str) -> Report:
    rows = StreamedRows(connection, query, describe=_add_change)
    summary = changes_summary(connection, query, scope)
    return Report(rows, column_names(recent_changes), summary, TABLE_COLUMNS)


def _add_change(row: dict[str, Any]) -> None:
    row["change"] = describe_change(row)


def changes_summary(connection: Connection, query: Select[Any], scope: str) -> str:
    """'12 changes in run 7: insert 3, update 8, delete 1; 5 MOUSes in 2 runs', counted in SQL."""
    changes = query.order_by(None).subquery("changes")
    figures = connection.execute(
        select(
            func.count(),
            *(func.count().filter(changes.c.kind == kind) for kind in CHANGE_KINDS),
            func.count(distinct(changes.c.mous_uid)),
            func.count(distinct(changes.c.run_id)),
        ).select_from(changes)
    ).one()
    total, *per_kind, mouses, runs = figures
    line = f"{plural(total, 'change')} {scope}"
    if not total:
        return line
    kinds = dict(zip(CHANGE_KINDS, per_kind, strict=True))
    return f"{line}: {counted(kinds)}; {plural(mouses, 'MOUS', 'MOUSes')} in {plural(runs, 'run')}"


def describe_change(row: Mapping[str, Any]) -> str:
    """One cell: 'qa0_status Pending→Pass' for an update, the recorded values of an insert or delete."""
    old, new = row["old_values"] or {}, row["new_values"] or {}
    if row["kind"] == "update":
        return "; ".join(
            f"{column} {table_value(old.get(column))}→{table_value(new.get(column))}"
            if column in old or column in new else column
            for column in row["changed_columns"] or ()
        )
    values = new if row["kind"] == "insert" else old
    return " ".join(f"{column}={table_value(value)}" for column, value in values.items())

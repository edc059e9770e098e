"""What the syncs changed (``recent_changes``): the latest run's changes, one run's, or since a date."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import Connection, Select, distinct, exists, func, select

from etl.errors import UsageError
from etl.mirror.base import table_of
from etl.mirror.bookkeeping import ChangeEvent
from etl.mirror.states import ChangeKind
from etl.output import PLAIN, Layout, TableView, moment_text, table_value
from etl.report.base import Report, StreamedRows, counted, plural, write_report
from etl.report.latest_run import RunMark, latest_succeeded_run, run_exists
from etl.report.runs import sync_runs
from etl.report.views import column_names, recent_changes

change_events = table_of(ChangeEvent)

# The table shows one readable "change" cell in place of the three value columns.
TABLE_COLUMNS = (
    "event_id", "run_id", "changed_at", "table_name", "row_key", "kind", "mous_uid", "project_code",
    "change",
)
# At 80 columns the table, the row and the change stay: the MOUS goes first among those (a
# mous_status row's key is its UID, an EB's change names its MOUS in --wide or --columns).
TABLE_LAYOUT = Layout(
    drop_first=("event_id", "project_code", "changed_at", "run_id", "mous_uid"), fold=("change", "row_key"),
    folded_width=22,
)


def show_changes(
    connection: Connection,
    since: datetime | None,
    run_id: int | None,
    fmt: str,
    stream: TextIO,
    view: TableView = PLAIN,
    mous_uid: str | None = None,
) -> None:
    """``report changes``: the latest run's changes, run ``run_id``'s, or every change since ``since``;
    ``mous_uid`` keeps one MOUS's (alone: its whole history)."""
    write_report(changes_report(connection, since, run_id, mous_uid), fmt, stream, view)


def changes_report(
    connection: Connection, since: datetime | None, run_id: int | None, mous_uid: str | None = None
) -> Report:
    """The changes, streamed from a server-side cursor whatever their number (and in every format)."""
    of_mous = f" of MOUS {mous_uid}" if mous_uid else ""
    if since is not None:
        query = changes_query(since=since, mous_uid=mous_uid)
        return _report(connection, query, f"{of_mous} since {moment_text(since)}".lstrip())
    if run_id is not None:
        if not run_exists(connection, run_id):
            raise UsageError(
                f"--run {run_id}: there is no sync run {run_id} in this mirror (see 'report runs')"
            )
        return _report(connection, changes_query(run_id=run_id, mous_uid=mous_uid),
                       f"{of_mous} in run {run_id}".lstrip())
    if mous_uid is not None:
        return _report(connection, changes_query(mous_uid=mous_uid), of_mous.lstrip())
    return _latest_changes(connection)


def _latest_changes(connection: Connection) -> Report:
    """The latest successful run that changed anything: a night with no changes is not news."""
    latest = latest_succeeded_run(connection)
    if latest is None:
        return _empty("no sync has succeeded yet")
    changed = latest_run_with_changes(connection)
    if changed is None:
        return _empty("no changes recorded yet: the baseline (first) sync records none, and no later "
                      "successful sync changed anything")
    quiet = later_succeeded_runs(connection, changed.run_id)
    scope = (
        f"in run {changed.run_id}, the latest run with changes "
        f"(finished {moment_text(changed.finished_at)}"
        + (f"; {plural(quiet, 'later successful run')} changed nothing)" if quiet else ")")
    )
    return _report(connection, changes_query(run_id=changed.run_id), scope)


def latest_run_with_changes(connection: Connection) -> RunMark | None:
    """The newest successful run that recorded a change event (probes ix_change_event_run_id)."""
    row = connection.execute(
        select(sync_runs.c.run_id, sync_runs.c.finished_at)
        .where(
            sync_runs.c.status == "succeeded",
            exists().where(change_events.c.run_id == sync_runs.c.run_id),
        )
        .order_by(sync_runs.c.run_id.desc())
        .limit(1)
    ).first()
    return None if row is None or row.finished_at is None else RunMark(row.run_id, row.finished_at)


def later_succeeded_runs(connection: Connection, run_id: int) -> int:
    return int(connection.execute(
        select(func.count()).where(sync_runs.c.status == "succeeded", sync_runs.c.run_id > run_id)
    ).scalar_one())


def changes_query(
    since: datetime | None = None, run_id: int | None = None, mous_uid: str | None = None
) -> Select[Any]:
    view = recent_changes
    query = select(view).order_by(view.c.event_id.desc())
    if since is not None:
        query = query.where(view.c.changed_at >= since)
    if run_id is not None:
        query = query.where(view.c.run_id == run_id)
    if mous_uid is not None:
        query = query.where(view.c.mous_uid == mous_uid)
    return query


def _empty(summary: str) -> Report:
    return Report([], column_names(recent_changes), summary, TABLE_COLUMNS, TABLE_LAYOUT)


def _report(connection: Connection, query: Select[Any], scope: str) -> Report:
    rows = StreamedRows(connection, query, describe=_add_change)
    summary = changes_summary(connection, query, scope)
    return Report(rows, column_names(recent_changes), summary, TABLE_COLUMNS, TABLE_LAYOUT)


def _add_change(row: dict[str, Any]) -> None:
    row["change"] = describe_change(row)


def changes_summary(connection: Connection, query: Select[Any], scope: str) -> str:
    """'12 changes in run 7: insert 3, update 8, delete 1; 5 MOUSes in 2 runs', counted in SQL."""
    changes = query.order_by(None).subquery("changes")
    figures = connection.execute(
        select(
            func.count(),
            *(func.count().filter(changes.c.kind == kind) for kind in ChangeKind),
            func.count(distinct(changes.c.mous_uid)),
            func.count(distinct(changes.c.run_id)),
        ).select_from(changes)
    ).one()
    total, *per_kind, mouses, runs = figures
    line = f"{plural(total, 'change')} {scope}"
    if not total:
        return line
    kinds = dict(zip(ChangeKind, per_kind, strict=True))
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

"""Open data-quality issues (``data_quality``): problems found in the source that a person should see."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from sqlalchemy import Connection, Select, select

from etl.output import PLAIN, Layout, TableView
from etl.report.base import Report, counted, fetch, plural, write_report
from etl.report.views import column_names, data_quality

TABLE_COLUMNS = ("kind", "mous_uid", "project_code", "subject", "detail", "first_seen_at", "last_seen_at")
TABLE_LAYOUT = Layout(
    drop_first=("first_seen_at", "project_code", "last_seen_at"), fold=("detail",)
)


def show_quality(
    connection: Connection,
    kind: str | None,
    fmt: str,
    stream: TextIO,
    view: TableView = PLAIN,
    mous_uid: str | None = None,
) -> None:
    """``report quality``: the open issues, optionally of one kind and of one MOUS."""
    write_report(quality_report(connection, kind, mous_uid), fmt, stream, view)


def quality_report(connection: Connection, kind: str | None, mous_uid: str | None = None) -> Report:
    rows = fetch(connection, quality_query(kind, mous_uid))
    return Report(rows, column_names(data_quality), quality_summary(rows), TABLE_COLUMNS, TABLE_LAYOUT)


def quality_query(kind: str | None, mous_uid: str | None = None) -> Select[Any]:
    view = data_quality
    query = select(view).order_by(view.c.kind, view.c.project_code, view.c.mous_uid, view.c.subject)
    if kind is not None:
        query = query.where(view.c.kind == kind)
    if mous_uid is not None:
        query = query.where(view.c.mous_uid == mous_uid)
    return query


def quality_summary(rows: Sequence[Mapping[str, Any]]) -> str:
    """'7 open data-quality issues: duplicate_shiftlog 4, eb_null_end_time 3'."""
    line = plural(len(rows), "open data-quality issue")
    by_kind = Counter(str(row["kind"]) for row in rows)
    return f"{line}: {counted(dict(sorted(by_kind.items())))}" if rows else line

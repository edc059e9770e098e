"""``report restorable --by reason|kind|cycle|array|band``: MOUSes counted per category, not listed."""

from __future__ import annotations

from typing import Any, TextIO

from sqlalchemy import ColumnElement, Connection, Select, func, select

from etl.output import PLAIN, TableView
from etl.report.base import Report, fetch, plural, write_report
from etl.report.restorable import RestorableFilter, _in_reason_order, _scope
from etl.report.views import mous_restore, restorable_mous

_COLUMN = {"kind": "restore_kind", "cycle": "cycle", "array": "array_family", "band": "band"}
REASON_COLUMNS = ("reason_code", "mous_count")
CATEGORY_COLUMNS = ("restorable", "not_restorable", "public", "mous_count")


def count_columns(by: str) -> tuple[str, ...]:
    return REASON_COLUMNS if by == "reason" else (_COLUMN[by], *CATEGORY_COLUMNS)


def show_counts(
    connection: Connection, chosen: RestorableFilter, by: str, fmt: str, stream: TextIO,
    view: TableView = PLAIN,
) -> None:
    write_report(counts_report(connection, chosen, by), fmt, stream, view)


def counts_report(connection: Connection, chosen: RestorableFilter, by: str) -> Report:
    if by == "reason":
        found = {row["reason_code"]: row["mous_count"] for row in fetch(connection, _by_reason(chosen))}
        rows: list[dict[str, Any]] = [
            {"reason_code": code, "mous_count": count} for code, count in _in_reason_order(found).items()
        ]
        summary = (f"{plural(sum(found.values()), 'MOUS', 'MOUSes')}{chosen.describe()} not restorable"
                   f"{' by a restore PPR' if chosen.ppr_only else ''}, by reason (first that applies)")
        return Report(rows, REASON_COLUMNS, summary)
    rows = fetch(connection, _by_category(chosen, _COLUMN[by]))
    total = sum(row["mous_count"] for row in rows)
    restorable = sum(row["restorable"] for row in rows)
    how = " by a restore PPR" if chosen.ppr_only else ""
    summary = (f"{plural(total, 'MOUS', 'MOUSes')}{chosen.describe()} by {by}: "
               f"{restorable:,} restorable{how}, {total - restorable:,} not")
    return Report(rows, count_columns(by), summary)


def _restorable(chosen: RestorableFilter) -> ColumnElement[bool]:
    """Restorable as the filter means it: any restore kind but none, or by a restore PPR only."""
    return mous_restore.c.restore_kind.in_(RestorableFilter(ppr_only=chosen.ppr_only).kinds())


def _by_reason(chosen: RestorableFilter) -> Select[Any]:
    view, kinds = restorable_mous, mous_restore
    return (
        select(view.c.reason_code, func.count().label("mous_count"))
        .join(kinds, kinds.c.mous_uid == view.c.mous_uid)
        .where(*_scope(chosen), ~_restorable(chosen))
        .group_by(view.c.reason_code)
    )


def _by_category(chosen: RestorableFilter, column: str) -> Select[Any]:
    view, kinds = restorable_mous, mous_restore
    # The restore kind is mous_restore's; every other category is the restorable view's.
    category = kinds.c[column] if column in kinds.c else view.c[column]
    restorable = _restorable(chosen)
    return (
        select(
            category.label(column),
            func.count().filter(restorable).label("restorable"),
            func.count().filter(~restorable).label("not_restorable"),
            func.count().filter(restorable, ~view.c.proprietary).label("public"),
            func.count().label("mous_count"),
        )
        .join(kinds, kinds.c.mous_uid == view.c.mous_uid)
        .where(*_scope(chosen))
        .group_by(category)
        .order_by(category.asc().nulls_last())
    )

"""Set-based merge of a staged table into a mirror table, recording every change it makes.

Two statements per table, whatever its size:

1. an upsert of the staged rows that are new or differ from the mirror (``INSERT … ON CONFLICT DO
   UPDATE``), whose change events are written by the same statement;
2. a delete of the mirror rows the stage no longer has (optionally only within a set of MOUSes), again
   with its events in the same statement.

Old values come from reading the target table in the same statement as the upsert: every part of a
statement sees the snapshot taken before it ran, so ``previous`` holds the rows as they were.
Unchanged rows are never written (no dead tuples, no WAL), so a sync with no source changes writes
nothing but its run record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
    FromClause,
    Select,
    Table,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, array
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.elements import ColumnElement

from etl.copy import analyze
from etl.mirror import ChangeEvent, table_of

# A nightly run changes a few rows; a baseline or a large night, more than this: re-analyse then.
ANALYZE_AFTER_CHANGES = 1_000
JSONB_PAIRS_PER_CALL = 50
EVENT_COLUMNS = (
    "run_id", "table_name", "row_key", "mous_uid", "kind", "changed_columns", "old_values", "new_values",
)


@dataclass(frozen=True)
class MergeTarget:
    """A mirror table as the merge sees it.

    ``loaded``: columns the stage provides (key included). ``recorded``: columns whose values every
    change event carries; an update's event also carries the old and new value of every other column
    that changed, except the ``documents`` (whole documents such as an OUSStatus XML: an event names
    their change in ``changed_columns`` without copying them). ``stamp``: values written on every
    inserted or updated row but never compared (e.g. the run that last derived the row). ``scope``: a
    table with a ``mous_uid`` column limiting which mirror rows may be deleted (a derivation that only
    recomputed some MOUSes); the target's ``scope_column`` holds the MOUS. ``kept``: rows with the
    target's key columns whose mirror rows must not be deleted although the stage lacks them (source
    rows quarantined in this run). ``within``: a condition on the target's rows limiting which may
    be deleted (a table read by bucket: only rows of the buckets read).
    """

    table: Table
    key: tuple[str, ...]
    loaded: tuple[str, ...]
    recorded: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    stamp: Mapping[str, Any] = field(default_factory=dict)
    scope: FromClause | None = None
    scope_column: str = "mous_uid"
    kept: FromClause | None = None
    within: ColumnElement[bool] | None = None

    @property
    def compared(self) -> tuple[str, ...]:
        return tuple(column for column in self.loaded if column not in self.key)

    @property
    def recorded_when_changed(self) -> tuple[str, ...]:
        """The compared columns an update's event carries only when they changed."""
        return tuple(
            column for column in self.compared
            if column not in self.recorded and column not in self.documents
        )


@dataclass(frozen=True)
class MergeCounts:
    inserted: int
    updated: int
    deleted: int


def merge(
    connection: Connection, target: MergeTarget, staged: FromClause, run_id: int, record_events: bool
) -> MergeCounts:
    """Make ``target`` equal to ``staged`` (within its scope); returns what changed."""
    if not record_events and _is_empty(connection, target.table):
        # A baseline: nothing to compare with, nothing to delete, no event to record.
        inserted, updated, deleted = _fill(connection, target, staged), 0, 0
    else:
        inserted, updated = connection.execute(_upsert(target, staged, run_id, record_events)).one()
        deleted = connection.execute(_delete(target, staged, run_id, record_events)).scalar_one()
    if inserted + updated + deleted > ANALYZE_AFTER_CHANGES:
        # Later steps of this same transaction query the table; its statistics predate the change.
        analyze(connection, target.table)
    return MergeCounts(inserted=inserted, updated=updated, deleted=deleted)


def _is_empty(connection: Connection, table: Table) -> bool:
    return not connection.execute(select(exists().select_from(table))).scalar_one()


def _fill(connection: Connection, target: MergeTarget, staged: FromClause) -> int:
    """Insert every staged row into the empty target: no join, no conflict to resolve.

    In key order: the primary key's index is then filled from its end instead of split page by
    page where each row happens to land (product_file's 1.5 M rows: 8.7 s unordered, 7.4 s ordered).
    """
    table = target.table
    rows = select(
        *(staged.c[c] for c in target.loaded),
        *(literal(value, table.c[column].type) for column, value in target.stamp.items()),
    ).order_by(*(staged.c[c] for c in target.key))
    statement = insert(table).from_select([*target.loaded, *target.stamp], rows)
    result = connection.execute(statement, execution_options={"preserve_rowcount": True})
    return int(result.rowcount)


def _matches(left: FromClause, right: FromClause, key: Sequence[str]) -> ColumnElement[bool]:
    return and_(*(left.c[column] == right.c[column] for column in key))


def _upsert(
    target: MergeTarget, staged: FromClause, run_id: int, record_events: bool
) -> Select[int, int]:
    table = target.table
    differs = or_(
        table.c[target.key[0]].is_(None),
        tuple_(*(staged.c[c] for c in target.compared)).is_distinct_from(
            tuple_(*(table.c[c] for c in target.compared))
        ),
    )
    changed = (
        select(*(staged.c[c] for c in target.loaded))
        .select_from(staged.outerjoin(table, _matches(staged, table, target.key)))
        .where(differs)
        .cte("changed")
    )
    written = list(target.loaded) + list(target.stamp)
    rows = select(
        *(changed.c[c] for c in target.loaded),
        *(literal(value, table.c[column].type) for column, value in target.stamp.items()),
    )
    statement = pg_insert(table).from_select(written, rows)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c[c] for c in target.key],
        set_={c: statement.excluded[c] for c in written if c not in target.key},
    )
    returned = _unique(target.key + target.compared + target.recorded)
    upserted = statement.returning(*(table.c[c] for c in returned)).cte("upserted")

    previous = table.alias("previous")
    is_new = previous.c[target.key[0]].is_(None)
    described = (
        select(
            _row_key(upserted, target.key).label("row_key"),
            _mous_uid(target, upserted, previous).label("mous_uid"),
            case((is_new, "insert"), else_="update").label("kind"),
            case((is_new, null()), else_=_changed_columns(upserted, previous, target.compared)).label(
                "changed_columns"
            ),
            case((is_new, null()), else_=_update_values(previous, upserted, previous, target)).label(
                "old_values"
            ),
            case(
                (is_new, _values(upserted, target.recorded)),
                else_=_update_values(upserted, upserted, previous, target),
            ).label("new_values"),
        )
        .select_from(upserted.outerjoin(previous, _matches(upserted, previous, target.key)))
        .cte("described")
    )
    summary = select(
        func.count().filter(described.c.kind == "insert"),
        func.count().filter(described.c.kind == "update"),
    ).select_from(described)
    if record_events:
        summary = summary.add_cte(_record(described, table.name, run_id))
    return summary


def _delete(target: MergeTarget, staged: FromClause, run_id: int, record_events: bool) -> Select[int]:
    table = target.table
    statement = table.delete().where(~exists().where(_matches(staged, table, target.key)))
    if target.scope is not None:
        statement = statement.where(
            table.c[target.scope_column].in_(select(target.scope.c.mous_uid))
        )
    if target.kept is not None:
        statement = statement.where(~exists().where(_matches(target.kept, table, target.key)))
    if target.within is not None:
        statement = statement.where(target.within)
    returned = _unique(target.key + target.recorded)
    removed = statement.returning(*(table.c[c] for c in returned)).cte("removed")
    described = select(
        _row_key(removed, target.key).label("row_key"),
        _mous_uid(target, removed, None).label("mous_uid"),
        literal("delete").label("kind"),
        cast(null(), ARRAY(Text)).label("changed_columns"),
        _values(removed, target.recorded).label("old_values"),
        cast(null(), JSONB).label("new_values"),
    ).cte("described")
    summary = select(func.count()).select_from(described)
    if record_events:
        summary = summary.add_cte(_record(described, table.name, run_id))
    return summary


def _record(described: FromClause, table_name: str, run_id: int) -> Any:
    events = table_of(ChangeEvent)
    rows = select(
        literal(run_id),
        literal(table_name),
        described.c.row_key,
        described.c.mous_uid,
        described.c.kind,
        described.c.changed_columns,
        described.c.old_values,
        described.c.new_values,
    )
    return insert(events).from_select(list(EVENT_COLUMNS), rows).cte("recorded")


def _row_key(source: FromClause, key: Sequence[str]) -> ColumnElement[str]:
    """The row's key as text; composite keys joined by a space (no UID or file name contains one)."""
    if len(key) == 1:
        return cast(source.c[key[0]], Text)
    return func.concat_ws(" ", *(source.c[column] for column in key))


def _mous_uid(target: MergeTarget, new: FromClause, old: FromClause | None) -> ColumnElement[Any]:
    """Tables that carry their MOUS name it directly; the others are resolved after the merge."""
    if "mous_uid" not in target.table.c:
        return cast(null(), Text)
    if old is None:
        return new.c.mous_uid
    return func.coalesce(new.c.mous_uid, old.c.mous_uid)


def _changed_columns(new: FromClause, old: FromClause, compared: Sequence[str]) -> ColumnElement[Any]:
    flags = [case((new.c[c].is_distinct_from(old.c[c]), literal(c))) for c in compared]
    return func.array_remove(array(flags), null())


def _values(source: FromClause, columns: Sequence[str]) -> ColumnElement[Any]:
    if not columns:
        return cast(null(), JSONB)
    # A function takes at most 100 arguments: wide tables are built in parts and concatenated.
    parts: list[ColumnElement[Any]] = []
    for start in range(0, len(columns), JSONB_PAIRS_PER_CALL):
        pairs: list[Any] = []
        for column in columns[start:start + JSONB_PAIRS_PER_CALL]:
            pairs.extend((cast(literal(column), Text), source.c[column]))
        parts.append(func.jsonb_build_object(*pairs, type_=JSONB))
    combined = parts[0]
    for part in parts[1:]:
        combined = combined.op("||", return_type=JSONB)(part)
    return combined


def _update_values(
    source: FromClause, new: FromClause, old: FromClause, target: MergeTarget
) -> ColumnElement[Any]:
    """The recorded columns of ``source`` (the row before or after), and every other changed column."""
    extra = target.recorded_when_changed
    if not extra:
        return _values(source, target.recorded)
    same = [case((new.c[c].is_not_distinct_from(old.c[c]), cast(literal(c), Text))) for c in extra]
    unchanged = func.array_remove(array(same), null())
    changed_only = _values(source, extra).op("-", return_type=JSONB)(unchanged)
    if not target.recorded:
        return changed_only
    return _values(source, target.recorded).op("||", return_type=JSONB)(changed_only)


def _unique(columns: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(columns))

"""Source rows a sync cannot take: moved out of the stage, kept out of the merge, and reported.

A row is bad when its key repeats (then every row of that key is: which one would be right?), when a
key column is NULL or empty, or when one of its values does not convert to the mirror's type (marked
while streaming, see ``mapping.staging_converter``). One statement moves the bad rows from the stage
into a quarantine table; the merge then keeps the mirror's previous version of their keys instead of
deleting it as gone from the source, and each bad key becomes a ``quarantined_row`` finding. The rest
of the table, and of the night, lands as usual.

The common night has no bad row: the stage's primary key is then built at once, in a savepoint, and
nothing else is done. Only when that fails, or a row was marked, are the bad rows looked for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from psycopg.errors import ProgramLimitExceeded
from sqlalchemy import (
    Connection,
    Insert,
    Select,
    Table,
    Text,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    tuple_,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.sql.elements import ColumnElement

from etl.copy import truncate
from etl.load.mapping import PROBLEM_COLUMNS, TableMapping
from etl.logs import fields
from etl.steps.stage import add_stage_key, create_unkeyed_stage, insert_count

log = logging.getLogger(__name__)

QUARANTINE_KIND = "quarantined_row"
KEPT = "; left out of this sync: the mirror keeps its previous version of the row, if it had one"
SHOWN_ROW_CHARACTERS = 300
# A finding's subject holds the row's key; one longer than this is shown cut (findings are indexed).
SHOWN_KEY_BYTES = 400
SHOWN_KEY_CHARACTERS = 100


@dataclass(frozen=True)
class Quarantine:
    """What one table's quarantine holds: ``table`` is None when no row was bad."""

    table: Table | None
    rows: int


def quarantine_bad_rows(
    connection: Connection, stage: Table, mapping: TableMapping, marked: int
) -> Quarantine:
    """Move the stage's bad rows into a quarantine table and give the stage its primary key.

    ``marked``: how many rows the converter marked while streaming.
    """
    keying = _key_stage(connection, stage, mapping)
    keyed = keying == "keyed"
    if keyed and not marked:
        return Quarantine(None, 0)
    quarantine = create_unkeyed_stage(
        connection, mapping.target, mapping.loaded, PROBLEM_COLUMNS, mapping.name, prefix="quarantine"
    )
    moved = insert_count(connection, _move(stage, quarantine, mapping, only_marked=keyed))
    if keying == "key too long":
        _compact(connection, stage, mapping)
    if not keyed:
        add_stage_key(connection, stage, mapping.key)
    log.warning("sync.rows_quarantined %s", fields(table=mapping.source.name, rows=moved))
    return Quarantine(quarantine, moved)


def _key_stage(
    connection: Connection, stage: Table, mapping: TableMapping
) -> Literal["keyed", "bad keys", "key too long"]:
    """Try the primary key in a savepoint: keyed when no key repeats, none is missing and none is too
    long for an index (such a row is marked already, ``etl.load.index_limits``)."""
    savepoint = connection.begin_nested()
    try:
        add_stage_key(connection, stage, mapping.key)
    except IntegrityError:
        savepoint.rollback()
        return "bad keys"
    except OperationalError as exc:
        savepoint.rollback()
        if isinstance(exc.orig, ProgramLimitExceeded):
            return "key too long"
        raise
    savepoint.commit()
    return "keyed"


def _compact(connection: Connection, stage: Table, mapping: TableMapping) -> None:
    """Leave no trace of the moved rows in the stage: an index built in this transaction would take
    its own deleted rows too, and a key too long for the index fails it, deleted or not.

    Only on a night that read such a key: it copies the stage out and back.
    """
    columns = [column.name for column in stage.c]
    kept = create_unkeyed_stage(
        connection, mapping.target, mapping.loaded, PROBLEM_COLUMNS, mapping.name, prefix="compacted"
    )
    connection.execute(insert(kept).from_select(columns, select(*stage.c)))
    truncate(connection, stage)
    connection.execute(insert(stage).from_select(columns, select(*(kept.c[c] for c in columns))))
    kept.drop(connection)


def _move(stage: Table, quarantine: Table, mapping: TableMapping, only_marked: bool) -> Insert:
    keys = [stage.c[column] for column in mapping.key]
    if only_marked:
        # The key held: every marked row is the only row of its key.
        bad: ColumnElement[bool] = stage.c.bad_reason.is_not(None)
    else:
        other = stage.alias("other")
        other_keys = [other.c[column] for column in mapping.key]
        repeated_or_marked = (
            select(*other_keys)
            .group_by(*other_keys)
            .having(or_(func.count() > 1, func.count(other.c.bad_reason) > 0))
        )
        bad = or_(*(key.is_(None) for key in keys), tuple_(*keys).in_(repeated_or_marked))
    moved = stage.delete().where(bad).returning(*stage.c).cte("moved")
    columns = [column.name for column in stage.c]
    return insert(quarantine).from_select(columns, select(*(moved.c[c] for c in columns)))


def record_quarantine_findings(
    connection: Connection, findings: Table, quarantine: Quarantine, mapping: TableMapping
) -> None:
    """One finding per bad key (a row without a key is its own finding), into ``findings``."""
    if quarantine.table is None:
        return
    for query in (_keyed_findings(quarantine.table, mapping), _keyless_findings(quarantine.table, mapping)):
        connection.execute(
            insert(findings).from_select(["kind", "mous_uid", "subject", "detail"], query)
        )


def first_finding(connection: Connection, findings: Table, mapping: TableMapping) -> str:
    """One of the table's findings, for the message that stops a sync: '<subject>: <detail>'."""
    row = connection.execute(
        select(findings.c.subject, findings.c.detail)
        .where(findings.c.subject.startswith(mapping.source.name + " "))
        .order_by(findings.c.subject)
        .limit(1)
    ).first()
    return "" if row is None else f"{row.subject}: {row.detail.removesuffix(KEPT)}"


def _keyed_findings(quarantine: Table, mapping: TableMapping) -> Select[Any]:
    keys = [quarantine.c[column] for column in mapping.key]
    row_key = _row_key(keys)
    key_columns = ", ".join(
        mapping.source_columns[mapping.loaded.index(column)] for column in mapping.key
    )
    detail = case(
        (
            func.count() > 1,
            func.format(
                "%s rows share the key %s (%s), so none of them was taken", func.count(), row_key,
                literal(key_columns),
            ),
        ),
        else_=_problem(
            func.min(quarantine.c.bad_column), func.min(quarantine.c.bad_value),
            func.min(quarantine.c.bad_reason), mapping,
        ),
    )
    return (
        select(
            literal(QUARANTINE_KIND, Text).label("kind"),
            _mous_uid(quarantine, mapping, grouped=True).label("mous_uid"),
            func.concat(literal(mapping.source.name + " "), row_key).label("subject"),
            func.concat(detail, literal(KEPT)).label("detail"),
        )
        .where(and_(*(key.is_not(None) for key in keys)))
        .group_by(*keys)
    )


def _keyless_findings(quarantine: Table, mapping: TableMapping) -> Select[Any]:
    keys = [quarantine.c[column] for column in mapping.key]
    row = cast(
        func.to_jsonb(quarantine.table_valued())
        .op("-")(literal("bad_column"))
        .op("-")(literal("bad_value"))
        .op("-")(literal("bad_reason")),
        Text,
    )
    key_columns = ", ".join(
        mapping.source_columns[mapping.loaded.index(column)] for column in mapping.key
    )
    missing = func.format("the key (%s) is NULL or empty", literal(key_columns))
    detail = case(
        (
            quarantine.c.bad_reason.is_not(None),
            _problem(quarantine.c.bad_column, quarantine.c.bad_value, quarantine.c.bad_reason, mapping),
        ),
        else_=missing,
    )
    return select(
        literal(QUARANTINE_KIND, Text).label("kind"),
        _mous_uid(quarantine, mapping, grouped=False).label("mous_uid"),
        func.concat(
            literal(mapping.source.name + " without a key #"), func.left(func.md5(row), 12)
        ).label("subject"),
        func.concat(
            detail, literal("; the row: "), func.left(row, SHOWN_ROW_CHARACTERS), literal(KEPT)
        ).label("detail"),
    ).where(or_(*(key.is_(None) for key in keys)))


def _problem(column: Any, value: Any, reason: Any, mapping: TableMapping) -> ColumnElement[str]:
    return func.format("%s.%s = %s: %s", literal(mapping.source.name, Text), column, value, reason)


def _row_key(keys: list[Any]) -> ColumnElement[str]:
    """As the change events write it: composite keys joined by a space; a key too long to be indexed
    in a finding's subject is cut, and told apart from others by its digest."""
    key = cast(keys[0], Text) if len(keys) == 1 else func.concat_ws(" ", *keys)
    shown = func.format(
        "%s… (%s bytes, md5 %s)", func.left(key, SHOWN_KEY_CHARACTERS), func.octet_length(key),
        func.md5(key),
    )
    return case((func.octet_length(key) > SHOWN_KEY_BYTES, shown), else_=key)


def _mous_uid(quarantine: Table, mapping: TableMapping, grouped: bool) -> ColumnElement[Any]:
    if "mous_uid" not in mapping.loaded:
        return cast(null(), Text)
    mous_uid: Any = quarantine.c.mous_uid
    if grouped and "mous_uid" not in mapping.key:
        mous_uid = func.min(mous_uid)
    # A value too long to be indexed names no MOUS (the findings are indexed by MOUS).
    return case((func.octet_length(mous_uid) <= SHOWN_KEY_BYTES, mous_uid))

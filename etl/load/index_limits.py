"""Values too long for the mirror's indexes: found in the stage, before the merge, and quarantined.

A btree index entry holds at most 2,704 bytes for the whole tuple (a third of an 8 kB page, less its
headers); a longer one fails the INSERT, and with it the night, naming no row. Each text column of a
mirrored table that an index holds, or that an indexed generated column is computed from, gets a limit
decided from the index definitions: an index's bytes shared evenly among its text columns, and no
more than an even share of the widest index of the whole mirror, since derived tables, change events
and findings index the same values side by side with others. PostgreSQL may compress a long value to
fit; the limit does not count on it. One statement marks the rows over a limit, and the quarantine
(``etl.load.quarantine``) takes them out like any other bad row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    case,
    func,
    literal,
    or_,
    update,
)

from etl.load.mapping import TableMapping
from etl.mirror import metadata

BTREE_TUPLE_BYTES = 2704
# The index tuple's header, null bitmap, alignment and each value's length word: never the values'.
HEADER_BYTES = 64
FIXED_WIDTH_BYTES = 8  # an integer, a time: at most 8 bytes in an index
# A generated value may add a little to what it is computed from ('uid://' before a UID).
GENERATED_MARGIN_BYTES = 64
SHOWN_CHARACTERS = 60


def text_limits(mapping: TableMapping) -> dict[str, int]:
    """The most bytes a value of each indexed text column of ``mapping`` may have (loaded columns only)."""
    table = mapping.target
    schema_share = _share(_widest_index(metadata.tables.values()), 0)
    limits: dict[str, int] = {}
    for index_columns in _indexes(table):
        text = [column for column in index_columns if _is_text(column)]
        share = min(_share(len(text), len(index_columns) - len(text)), schema_share)
        for column in text:
            for loaded, margin in _loaded_inputs(column, mapping):
                limits[loaded] = min(limits.get(loaded, share), share - margin)
    return limits


def mark_long_values(connection: Connection, stage: Table, mapping: TableMapping) -> int:
    """Mark the staged rows with a value over its column's limit (one statement); how many it marked."""
    limits = text_limits(mapping)
    if not limits:
        return 0
    too_long = [(stage.c[name], limit) for name, limit in sorted(limits.items())]
    over = [(func.octet_length(column) > limit, column, limit) for column, limit in too_long]
    source_name = dict(zip(mapping.loaded, mapping.source_columns, strict=True))
    statement = (
        update(stage)
        .where(and_(stage.c.bad_reason.is_(None), or_(*(test for test, _, _ in over))))
        .values(
            bad_column=case(*((test, literal(source_name[column.name], Text)) for test, column, _ in over)),
            bad_value=case(*((test, _shown(column)) for test, column, _ in over)),
            bad_reason=case(*((test, _reason(column, limit, mapping)) for test, column, limit in over)),
        )
    )
    return int(connection.execute(statement).rowcount)


def _shown(column: Any) -> Any:
    return func.format(
        literal("%s… (%s bytes)", Text), func.quote_literal(func.left(column, SHOWN_CHARACTERS)),
        func.octet_length(column),
    )


def _reason(column: Any, limit: int, mapping: TableMapping) -> Any:
    said = f"%s bytes, longer than the {limit} bytes an index of the mirror can hold in {mapping.name}.{{}}"
    return func.format(literal(said.format(column.name), Text), func.octet_length(column))


def _share(text_columns: int, fixed_columns: int) -> int:
    room = BTREE_TUPLE_BYTES - HEADER_BYTES - FIXED_WIDTH_BYTES * fixed_columns
    return room // max(text_columns, 1)


def _indexes(table: Table) -> list[list[Column[Any]]]:
    """The columns of each btree index on ``table``: its primary key, unique constraints and indexes."""
    found = [list(table.primary_key.columns)]
    found += [list(index.columns) for index in table.indexes if _is_btree(index)]
    unique = [constraint for constraint in table.constraints if isinstance(constraint, UniqueConstraint)]
    found += [list(constraint.columns) for constraint in unique]
    return [columns for columns in found if columns]


def _widest_index(tables: Iterable[Table]) -> int:
    """The most text columns one btree index of the mirror holds."""
    return max(
        sum(1 for column in columns if _is_text(column)) for table in tables for columns in _indexes(table)
    )


def _is_btree(index: Index) -> bool:
    return index.dialect_options["postgresql"].get("using") in (None, False, "btree")


def _is_text(column: Column[Any]) -> bool:
    return isinstance(column.type, String)


def _loaded_inputs(column: Column[Any], mapping: TableMapping) -> list[tuple[str, int]]:
    """The loaded columns whose length bounds ``column``'s: itself, or those a generated one reads."""
    if column.name in mapping.loaded:
        return [(column.name, 0)]
    if column.computed is None:
        return []
    expression = str(column.computed.sqltext)
    return [
        (name, GENERATED_MARGIN_BYTES)
        for name in mapping.loaded
        if re.search(rf"\b{re.escape(name)}\b", expression)
    ]


"""What the source holds under each contract table's name: a table, a view, a materialized view, a synonym.

The sync reads every contract table as of one snapshot (``etl.load.extract.source_snapshot``). A table,
a plain view over tables, and on Oracle a synonym naming either, are read as of that snapshot. A
materialized view is not: its rows are those of its last refresh, which the other tables know nothing
of, so an EB could be in AQUA_EXECBLOCK and not yet in a materialized SHIFTLOG_ENTRIES. The sync refuses
it by name and kind rather than call it missing; ``almamirror check`` says the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from sqlalchemy import Connection, column, func, inspect, select, table

TABLE: Final = "table"
VIEW: Final = "view"
MATERIALIZED_VIEW: Final = "materialized view"
SYNONYM: Final = "synonym"
# What the sync reads as of its snapshot.
READABLE_KINDS: Final = frozenset({TABLE, VIEW, SYNONYM})

_ALL_SYNONYMS = table("all_synonyms", column("owner"), column("synonym_name"))


def source_objects(connection: Connection, schema: str) -> dict[str, str]:
    """Every table, view, materialized view (and on Oracle synonym) of ``schema``: lower-case name -> kind.

    A name that is both (Oracle lists a materialized view's container table among the tables) is
    what it was created as: the materialized view.
    """
    inspector = inspect(connection)
    kinds: dict[str, str] = {}
    _add(kinds, inspector.get_materialized_view_names(schema=schema), MATERIALIZED_VIEW)
    _add(kinds, inspector.get_view_names(schema=schema), VIEW)
    _add(kinds, inspector.get_table_names(schema=schema), TABLE)
    if connection.dialect.name == "oracle":
        _add(kinds, _oracle_synonyms(connection, schema), SYNONYM)
    return kinds


def _add(kinds: dict[str, str], names: Iterable[str], kind: str) -> None:
    for name in names:
        kinds.setdefault(name.lower(), kind)


def _oracle_synonyms(connection: Connection, schema: str) -> list[str]:
    # Oracle keeps unquoted names in upper case; the settings may spell the schema either way.
    statement = select(_ALL_SYNONYMS.c.synonym_name).where(
        _ALL_SYNONYMS.c.owner == func.upper(schema)
    )
    return [str(name) for name in connection.execute(statement).scalars()]


def unreadable(name: str, kind: str | None, schema: str) -> tuple[str, str] | None:
    """What is wrong with contract table ``name`` found as ``kind`` (None: absent) and what to do about
    it, or None when the sync reads it."""
    if kind in READABLE_KINDS:
        return None
    if kind == MATERIALIZED_VIEW:
        return (
            f"{name} in {schema} is a materialized view, not a table: its rows are those of its last "
            "refresh, not of the snapshot the sync reads the other tables in",
            "point source.schema at the schema that holds the table itself",
        )
    if kind is not None:
        return (f"{name} in {schema} is a {kind}, not a table or view",
                "point source.schema at the table's schema")
    return f"{name} is missing from {schema}", "check source.url and source.schema"

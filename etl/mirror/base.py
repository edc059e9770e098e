"""The mirror's declarative base: one MetaData, with a constraint naming convention from the start."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from sqlalchemy import CheckConstraint, MetaData, Table, Text, column
from sqlalchemy.orm import DeclarativeBase

# Named constraints make migrations reviewable and downgrades exact: Alembic can only drop what it can name.
NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def from_source(column: str) -> dict[str, Any]:
    """Column ``info`` naming the contract column (in the table's source table) that fills it."""
    return {"source": column}


def mirrored(source_table: str, watch: tuple[str, ...] = (), link: tuple[str, ...] = ()) -> dict[str, Any]:
    """Table ``info`` for a table copied from ``source_table``.

    ``watch``: columns whose old and new values a change event records because users follow them
    (QA0 status, release date, …). ``link``: columns that tie a row to its MOUS, recorded on every event
    so the sync can tell which MOUSes a change touches, even after the row is gone.
    """
    return {"source_table": source_table, "watch": watch, "link": link}


def table_of(model: type[Base]) -> Table:
    """The model's Core table, typed as one (``__table__`` is declared as a generic FromClause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def one_of(column_name: str, vocabulary: Iterable[str], name: str) -> CheckConstraint:
    """CHECK ``column_name IN (…)`` over a vocabulary's values (etl.mirror.states), written from it.

    The values are also kept in the constraint's ``info``, where a test compares them with the
    constraint of the migrated database.
    """
    values = tuple(str(value) for value in vocabulary)
    return CheckConstraint(column(column_name, Text).in_(values), name=name, info={"vocabulary": values})

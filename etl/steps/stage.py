"""Temporary staging tables: the rows of one source table (or one derivation) before the merge."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Column, Connection, Executable, MetaData, PrimaryKeyConstraint, Table, Text
from sqlalchemy.schema import AddConstraint


def create_stage(
    connection: Connection, target: Table, columns: Sequence[str], key: Sequence[str], name: str
) -> Table:
    """A temporary table with ``columns`` typed as in ``target``, dropped when the sync commits.

    The primary key turns a duplicated key into an immediate, named error instead of a confusing
    conflict inside the merge (derivations: a duplicate there is a bug).
    """
    stage = Table(
        f"stage_{name}",
        MetaData(),
        *(Column(column, target.c[column].type) for column in columns),
        PrimaryKeyConstraint(*key, name=f"pk_stage_{name}"),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    stage.create(connection)
    return stage


def create_unkeyed_stage(
    connection: Connection,
    target: Table,
    columns: Sequence[str],
    extra: Sequence[str],
    name: str,
    prefix: str = "stage",
) -> Table:
    """A stage for source rows: no key yet (the rows may repeat or lack one) and text ``extra`` columns.

    ``add_stage_key`` gives it its key once the rows that would break it have been moved away.
    """
    stage = Table(
        f"{prefix}_{name}",
        MetaData(),
        *(Column(column, target.c[column].type) for column in columns),
        *(Column(column, Text) for column in extra),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    stage.create(connection)
    return stage


def add_stage_key(connection: Connection, stage: Table, key: Sequence[str]) -> None:
    """Add the primary key to a filled stage: one sorted index build, and the merge's joins use it."""
    constraint = PrimaryKeyConstraint(*(stage.c[column] for column in key), name=f"pk_{stage.name}")
    stage.append_constraint(constraint)
    connection.execute(AddConstraint(constraint))


def insert_count(connection: Connection, statement: Executable) -> int:
    """Run an INSERT … SELECT and return how many rows it wrote.

    SQLAlchemy keeps the driver's row count only for UPDATE and DELETE unless asked to.
    """
    result = connection.execute(statement, execution_options={"preserve_rowcount": True})
    return int(result.rowcount)

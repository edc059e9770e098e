"""Temporary staging tables: the rows of one source table (or one derivation) before the merge."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Column, Connection, Executable, MetaData, PrimaryKeyConstraint, Table


def create_stage(
    connection: Connection, target: Table, columns: Sequence[str], key: Sequence[str], name: str
) -> Table:
    """A temporary table with ``columns`` typed as in ``target``, dropped when the sync commits.

    The primary key turns a duplicated source key into an immediate, named error instead of a
    confusing conflict inside the merge.
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


def insert_count(connection: Connection, statement: Executable) -> int:
    """Run an INSERT … SELECT and return how many rows it wrote.

    SQLAlchemy keeps the driver's row count only for UPDATE and DELETE unless asked to.
    """
    result = connection.execute(statement, execution_options={"preserve_rowcount": True})
    return int(result.rowcount)

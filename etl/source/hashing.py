"""Whether the source can compute the checksums the sync's bucket reads ask of it (etl/load/buckets.py).

On Oracle a row's digest is ``STANDARD_HASH`` (a SQL function of 12c and later, no grant needed) of each
column, and a CLOB column's is ``DBMS_CRYPTO.HASH``, which needs ``EXECUTE`` on ``DBMS_CRYPTO``. On a
PostgreSQL stand-in it is ``md5``, which a role can be refused ``EXECUTE`` on. A table whose checksums
the source cannot compute is read whole each night. Each function is asked once, on a tiny constant:
the answer is the source's own, whatever the grants come through (directly, a role, PUBLIC).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, Text, func, literal, select
from sqlalchemy.exc import DBAPIError

from etl.load.mapping import TableMapping


@dataclass(frozen=True)
class HashSupport:
    """What the source's checksum functions allow: digests of plain columns, and of CLOBs."""

    dialect: str
    plain: bool  # STANDARD_HASH on Oracle, md5 on PostgreSQL
    clob: bool  # DBMS_CRYPTO.HASH on Oracle; the same md5 on PostgreSQL

    def can_checksum(self, mapping: TableMapping) -> bool:
        """Whether the bucket reads can checksum ``mapping``'s source table (else: read it whole)."""
        if not self.plain:
            return False
        has_clob = any(isinstance(mapping.source.c[key].type, Text) for key in mapping.source_columns)
        return self.clob or not has_clob


def hash_support(connection: Connection) -> HashSupport:
    """Ask the source whether it computes each checksum function the bucket reads use."""
    dialect = connection.dialect.name
    if dialect == "oracle":
        method = literal("MD5", literal_execute=True)  # a constant of the statement, as buckets.py
        plain = _answers(connection, select(func.standard_hash(literal("x"), method)))
        clob = _answers(connection, select(func.dbms_crypto.hash(func.to_clob(literal("x")), literal(2))))
        return HashSupport(dialect, plain, clob)
    plain = _answers(connection, select(func.md5(literal("x", Text))))
    return HashSupport(dialect, plain, plain)


def _answers(connection: Connection, statement: Select[Any]) -> bool:
    try:
        if connection.dialect.name == "oracle":
            # A refused statement leaves an Oracle transaction as it was (and a read-only one
            # takes no savepoint).
            connection.execute(statement)
        else:
            # On PostgreSQL it would end the caller's transaction with it.
            with connection.begin_nested():
                connection.execute(statement)
    except DBAPIError:
        return False
    return True

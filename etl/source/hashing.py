"""Whether the source can compute the checksums the sync's bucket reads ask of it (etl/load/buckets.py).

On Oracle a row's digest is ``STANDARD_HASH`` (a SQL function of 12c and later, no grant needed) of each
column, and a CLOB column's is ``DBMS_CRYPTO.HASH``, which needs ``EXECUTE`` on ``DBMS_CRYPTO``. On a
PostgreSQL stand-in they are ``hash_record_extended`` and, for documents, ``sha256`` (``etl.load.buckets``),
each of which a role can be refused ``EXECUTE`` on. A table whose checksums
the source cannot compute is read whole each night. Each function is asked once, on a tiny constant:
the answer is the source's own, whatever the grants come through (directly, a role, PUBLIC).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, String, Text, func, literal, select
from sqlalchemy.exc import DBAPIError

from etl.load.buckets import postgresql_document_hash, row_digest
from etl.load.mapping import TableMapping

# The PostgreSQL stand-in's digest of a row (etl.load.buckets.row_digest), as a grant names it.
PLAIN_HASH = "hash_record_extended"


@dataclass(frozen=True)
class HashSupport:
    """What the source's checksum functions allow: digests of plain columns, and of CLOBs."""

    dialect: str
    plain: bool  # STANDARD_HASH on Oracle, hash_record_extended on PostgreSQL
    clob: bool  # DBMS_CRYPTO.HASH on Oracle; sha256 on PostgreSQL

    def can_checksum(self, mapping: TableMapping) -> bool:
        """Whether the bucket reads can checksum ``mapping``'s source table (else: read it whole)."""
        if not self.plain:
            return False
        has_clob = any(isinstance(mapping.source.c[key].type, Text) for key in mapping.source_columns)
        return self.clob or not has_clob


def hash_support(connection: Connection) -> HashSupport:
    """Ask the source whether it computes each checksum function the bucket reads use."""
    dialect = connection.dialect.name
    plain, clob = hash_probes(dialect)
    return HashSupport(dialect, _answers(connection, plain), _answers(connection, clob))


def hash_probes(dialect: str) -> tuple[Select[Any], Select[Any]]:
    """The statements that ask for the plain and the CLOB checksum function."""
    if dialect == "oracle":
        method = literal("MD5", literal_execute=True)  # a constant of the statement, as in buckets.py
        plain = select(func.standard_hash(literal("x"), method))
        return plain, select(func.dbms_crypto.hash(func.to_clob(literal("x")), literal(2)))
    plain = select(row_digest([literal("x", String)], dialect))  # a String: not hashed as a document
    return plain, select(postgresql_document_hash(literal("x", Text)))


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

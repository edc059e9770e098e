"""A source account that may not hash documents still syncs: that table is read whole, and said.

On Oracle, an account without EXECUTE on DBMS_CRYPTO; on the PostgreSQL stand-in, the equivalent: a
reading role refused the function that hashes the stand-in's documents (sha256).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import func, select, update
from sqlalchemy.engine import URL

from etl.database import create_source_engine
from etl.load.buckets import can_checksum
from etl.load.mapping import mirrored_tables
from etl.settings import Settings
from etl.source.contract import CONTRACT, contract_table, source_execution_options
from tests.conftest import DatabaseFactory
from tests.etl.load.test_buckets import MAPPINGS, assert_mirror_is_the_source, bucket_settings, table_figures
from tests.helpers import connect, sync_with

ous_status = contract_table(CONTRACT, "obs_unit_set_status")


@pytest.fixture
def reader_without_sha256(source_copy: URL, databases: DatabaseFactory) -> Iterator[URL]:
    """The source copy as read by a role that may read every table but not execute sha256(bytea)."""
    role = f"amt_reader_{secrets.token_hex(4)}"
    statements = [
        sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)),
        sql.SQL("GRANT USAGE ON SCHEMA alma TO {}").format(sql.Identifier(role)),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA alma TO {}").format(sql.Identifier(role)),
        sql.SQL("REVOKE EXECUTE ON FUNCTION pg_catalog.sha256(bytea) FROM PUBLIC"),
    ]
    with _admin(source_copy) as admin:
        for statement in statements:
            admin.execute(statement)
    try:
        yield source_copy.set(username=role, password=None)
    finally:
        with _admin(source_copy) as admin:
            admin.execute(sql.SQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {}")
                          .format(sql.Literal(role)))
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _admin(url: URL) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False),
                           autocommit=True)


def test_can_checksum_says_which_tables_the_account_may_hash(
    reader_without_sha256: URL, source_copy: URL, test_home: Path
) -> None:
    for url, refused in ((reader_without_sha256, {"ous"}), (source_copy, set())):
        settings: Settings = bucket_settings(url, url, test_home)
        engine = create_source_engine(url, settings)
        try:
            with engine.connect() as plain:
                source = plain.execution_options(**source_execution_options(settings.source.schema))
                assert {m.name for m in mirrored_tables(CONTRACT) if not can_checksum(source, m)} == refused
        finally:
            engine.dispose()


def test_a_table_the_account_may_not_hash_is_read_whole_every_night(
    reader_without_sha256: URL, source_copy: URL, mirror_db: URL, test_home: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    night = bucket_settings(reader_without_sha256, mirror_db, test_home)
    with caplog.at_level(logging.WARNING, logger="etl.load.tables"):
        sync_with(night)
        quiet = sync_with(night)
    warnings = [r.getMessage() for r in caplog.records if "sync.table_read_whole" in r.getMessage()]
    assert len(warnings) == 2  # once a sync
    assert "table=ous" in warnings[0]
    assert "sha256" in warnings[0]
    for figures in quiet.tables:
        if figures.table == "ous":
            assert figures.rows_pulled == figures.rows_read > 0
        elif figures.table in MAPPINGS:
            assert figures.rows_pulled == 0, figures.table
    with connect(source_copy) as connection:  # a change only the document shows
        first = connection.execute(select(func.min(ous_status.c.status_entity_id))).scalar_one()
        connection.execute(update(ous_status).where(ous_status.c.status_entity_id == first)
                           .values(xml=ous_status.c.xml + " "))
    changed = sync_with(night)
    assert table_figures(night, changed.run_id, "ous")["updated"] == 1
    assert_mirror_is_the_source(night)

"""The source's readiness items against copies of the demo source, each with one fault."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.dialects import oracle
from sqlalchemy.engine import URL

from etl.check.items import Item
from etl.check.source import check_source, checksum_items
from etl.database import create_source_engine
from etl.errors import SchemaMismatch
from etl.load.mapping import mirrored_tables
from etl.settings import Settings, load_settings
from etl.source.contract import build_contract
from etl.source.hashing import HashSupport, hash_probes
from tests.conftest import settings_for
from tests.helpers import sync

SCHEMA = "alma"


def admin(url: URL, *statements: sql.Composable | str) -> None:
    """Run statements in ``url``'s database as the test server's administrator."""
    with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)  # type: ignore[arg-type]


def source_items(source: URL, home: Path, settings: Settings | None = None) -> dict[str, Item]:
    settings = settings or settings_for(source, None, home)
    engine = create_source_engine(source, settings)
    try:
        return {item.name: item for item in check_source(engine, settings.source)}
    finally:
        engine.dispose()


def test_every_source_item_passes_on_the_demo(demo_source: URL, test_home: Path) -> None:
    items = source_items(demo_source, test_home)
    assert all(item.ok for item in items.values()), [i.line() for i in items.values() if not i.ok]
    assert items["AQUA_EXECBLOCK"].detail.startswith("table, 8 contract columns")
    assert items["AQUA_EXECBLOCK"].detail.endswith(" rows")


def test_a_dropped_column_is_named_with_its_table(source_copy: URL, test_home: Path) -> None:
    admin(source_copy, "ALTER TABLE alma.aqua_ous DROP COLUMN qa2status")
    items = source_items(source_copy, test_home)
    assert not items["AQUA_OUS"].ok
    assert items["AQUA_OUS"].detail == "the table lacks column(s) qa2status"
    assert "[source.column_names]" in (items["AQUA_OUS"].fix or "")
    assert [name for name, item in items.items() if not item.ok] == ["AQUA_OUS"]


def test_a_site_column_name_is_checked_after_remapping(
    source_copy: URL, test_home: Path, tmp_path: Path
) -> None:
    admin(source_copy, "ALTER TABLE alma.asa_product_files RENAME COLUMN file_class TO product_class")
    assert not source_items(source_copy, test_home)["ASA_PRODUCT_FILES"].ok
    site = tmp_path / "site.toml"
    site.write_text('[source.column_names]\n"asa_product_files.file_class" = "product_class"\n', "utf-8")
    environ = {"ALMAMIRROR_SOURCE_URL": source_copy.render_as_string(hide_password=False),
               "ALMAMIRROR_HOME": str(test_home)}
    remapped = source_items(source_copy, test_home, load_settings(site, environ))
    assert remapped["ASA_PRODUCT_FILES"].ok, remapped["ASA_PRODUCT_FILES"].line()


def test_a_column_of_a_type_the_mirror_cannot_take_is_named(source_copy: URL, test_home: Path) -> None:
    admin(source_copy, "ALTER TABLE alma.aqua_execblock ALTER COLUMN starttime TYPE text")
    item = source_items(source_copy, test_home)["AQUA_EXECBLOCK"]
    assert not item.ok
    assert item.detail == "starttime is TEXT, which the mirror's DATETIME cannot take"


@pytest.fixture
def limited_role(source_copy: URL) -> Iterator[tuple[str, URL]]:
    """A login role that may read every contract table, and its URL; a test takes away (as the
    administrator, in ``source_copy``) what it needs to."""
    role = f"amt_check_{os.getpid()}_{secrets.token_hex(3)}"
    identifier = sql.Identifier(role)
    admin(
        source_copy,
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'check'").format(identifier),
        sql.SQL("GRANT USAGE ON SCHEMA alma TO {}").format(identifier),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA alma TO {}").format(identifier),
    )
    yield role, source_copy.set(username=role, password="check")
    admin(source_copy, sql.SQL("DROP OWNED BY {}").format(identifier),
          sql.SQL("DROP ROLE {}").format(identifier))


def test_a_role_without_select_on_a_table_is_told_the_grant(
    limited_role: tuple[str, URL], source_copy: URL, test_home: Path
) -> None:
    role, url = limited_role
    assert all(item.ok for item in source_items(url, test_home).values())
    admin(source_copy, sql.SQL("REVOKE SELECT ON alma.aqua_session FROM {}").format(sql.Identifier(role)))
    items = source_items(url, test_home)
    assert [name for name, item in items.items() if not item.ok] == ["AQUA_SESSION"]
    assert items["AQUA_SESSION"].detail.startswith("SELECT failed: permission denied for table aqua_session")
    assert items["AQUA_SESSION"].fix == f"GRANT SELECT ON alma.aqua_session TO {role}"


def test_a_role_without_the_hash_function_is_told_the_sync_cannot_checksum(
    limited_role: tuple[str, URL], source_copy: URL, test_home: Path
) -> None:
    role, url = limited_role
    admin(source_copy, "REVOKE EXECUTE ON FUNCTION pg_catalog.hash_record_extended(record, bigint) "
                       "FROM PUBLIC")
    items = source_items(url, test_home)
    item = items["checksums (hash_record_extended)"]
    assert [name for name, item in items.items() if not item.ok] == ["checksums (hash_record_extended)"]
    assert item.detail == (
        "hash_record_extended does not answer: the sync's checksum reads cannot run without it"
    )
    assert item.fix == f"GRANT EXECUTE ON FUNCTION hash_record_extended(record, bigint) TO {role}"


def test_a_role_without_the_document_hash_is_told_that_table_is_read_whole(
    limited_role: tuple[str, URL], source_copy: URL, test_home: Path
) -> None:
    role, url = limited_role
    admin(source_copy, "REVOKE EXECUTE ON FUNCTION pg_catalog.sha256(bytea) FROM PUBLIC")
    items = source_items(url, test_home)
    item = items["checksums (sha256)"]
    assert [name for name, item in items.items() if not item.ok] == ["checksums (sha256)"]
    assert "the sync will read OBS_UNIT_SET_STATUS whole each night" in item.detail
    assert item.fix == f"GRANT EXECUTE ON FUNCTION sha256(bytea) TO {role}"


def test_without_dbms_crypto_only_the_table_with_a_clob_is_read_whole() -> None:
    mappings = mirrored_tables(build_contract())
    support = HashSupport("oracle", plain=True, clob=False)
    assert [m.source.name for m in mappings if not support.can_checksum(m)] == ["obs_unit_set_status"]
    items = {item.name: item for item in checksum_items(support, mappings, "almamirror")}
    assert items["checksums (STANDARD_HASH)"].ok
    crypto = items["checksums (DBMS_CRYPTO)"]
    assert not crypto.ok
    assert "the sync will read OBS_UNIT_SET_STATUS whole each night" in crypto.detail
    assert crypto.fix == "GRANT EXECUTE ON SYS.DBMS_CRYPTO TO almamirror"


def test_the_oracle_probes_ask_for_the_functions_the_bucket_reads_use() -> None:
    plain, clob = (str(s.compile(dialect=oracle.dialect())) for s in hash_probes("oracle"))
    assert plain.startswith("SELECT standard_hash(")
    assert plain.endswith("FROM DUAL")
    assert clob.startswith("SELECT dbms_crypto.hash(to_clob(")
    assert clob.endswith("FROM DUAL")


def test_an_unreachable_source_is_one_item(test_home: Path) -> None:
    url = URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=9, database="x")
    items = source_items(url, test_home)
    assert list(items) == ["connection"]
    assert not items["connection"].ok
    assert "source.url" in (items["connection"].fix or "")


def _materialize(source: URL, kind: str) -> None:
    admin(source, "ALTER TABLE alma.aqua_ous RENAME TO aqua_ous_rows",
          f"CREATE {kind} alma.aqua_ous AS SELECT * FROM alma.aqua_ous_rows")


def test_a_materialized_view_is_named_as_one_by_check_and_by_the_sync(
    source_copy: URL, mirror_db: URL, test_home: Path
) -> None:
    _materialize(source_copy, "MATERIALIZED VIEW")
    item = source_items(source_copy, test_home)["AQUA_OUS"]
    assert not item.ok
    assert item.detail.startswith("aqua_ous in alma is a materialized view, not a table")
    with pytest.raises(SchemaMismatch, match="aqua_ous in alma is a materialized view, not a table"):
        sync(source_copy, mirror_db, test_home)


def test_a_plain_view_is_read_as_a_table(source_copy: URL, mirror_db: URL, test_home: Path) -> None:
    _materialize(source_copy, "VIEW")
    item = source_items(source_copy, test_home)["AQUA_OUS"]
    assert item.ok, item.line()
    assert item.detail.startswith("view, 4 contract columns")
    sync(source_copy, mirror_db, test_home)  # as check says: the sync reads it


def test_without_standard_hash_the_check_says_the_sync_cannot_checksum() -> None:
    mappings = mirrored_tables(build_contract())
    items = {item.name: item for item in checksum_items(HashSupport("oracle", False, False), mappings, None)}
    standard = items["checksums (STANDARD_HASH)"]
    assert not standard.ok
    assert "the sync's checksum reads cannot run" in standard.detail
    assert "it needs Oracle 12c or later" in standard.detail


def test_a_missing_table_is_still_missing_to_the_sync(
    source_copy: URL, mirror_db: URL, test_home: Path
) -> None:
    admin(source_copy, "DROP TABLE alma.aqua_ous")
    assert source_items(source_copy, test_home)["AQUA_OUS"].detail == "aqua_ous is missing from alma"
    with pytest.raises(SchemaMismatch, match="aqua_ous is missing from alma"):
        sync(source_copy, mirror_db, test_home)

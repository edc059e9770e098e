"""The source contract and the ETL's reads, as Oracle would see them (no Oracle server needed)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import DateTime, Text, select
from sqlalchemy.dialects import oracle, postgresql
from sqlalchemy.schema import CreateTable

from etl.errors import BadSourceData
from etl.load.buckets import Layout, checksum_query, in_buckets, source_key
from etl.load.mapping import (
    StagingConverter,
    TableMapping,
    mirrored_tables,
    row_converter,
    to_integer,
    to_text,
    to_timestamp,
)
from etl.source.contract import (
    CONTRACT,
    STAND_IN_COLUMNS,
    TABLE_NAMES,
    build_contract,
    contract_table,
    source_execution_options,
)

# Every table and column of ../shared/alma-source/CONTRACT.md, as the contract names them.
CONTRACT_COLUMNS = {
    "obs_unit_set_status": ["status_entity_id", "domain_entity_id", "domain_entity_state",
                            "parent_obs_unit_set_status_id", "obs_project_status_id", "obs_project_id",
                            "flags", "xml"],
    "sched_block_status": ["status_entity_id", "domain_entity_id", "domain_entity_state",
                           "parent_obs_unit_set_status_id", "obs_project_id"],
    "obs_project_status": ["status_entity_id", "obs_project_id", "domain_entity_state"],
    "aqua_ous": ["ous_status_entity_id", "obsunitsetuid", "obsunitsetpartid", "qa2status"],
    "bmmv_obsproject": ["prj_archive_uid", "prj_code", "prj_name", "pi", "prj_letter_grade", "deleted"],
    "bmmv_obsproposal": ["archive_uid", "projectuid", "cycle", "pi_fullname", "associatedexec"],
    "bmmv_schedblock": ["archive_uid", "prj_ref", "mous_status_uid", "sb_status_uid", "sb_name", "status",
                        "requestedarray", "receiver_band", "execution_count"],
    "aqua_execblock": ["execblockuid", "schedblockuid", "obsprojectcode", "qa0status", "starttime",
                       "endtime", "execfraction", "sessionid"],
    "aqua_session": ["sessionid", "starttime", "endtime"],
    "shiftlog_entries": ["se_id", "se_type", "se_timestamp", "se_start", "se_project_code", "se_sb_id",
                         "se_eb_uid", "se_location", "se_status", "se_qa0flag", "se_arrayfamily",
                         "se_correlatortype"],
    "asa_science": ["dataset_id", "asdm_uid", "asa_ous_id", "member_ouss_id", "group_ouss_id",
                    "goal_ouss_id", "project_code", "schedblock_uid", "schedblock_name", "start_date",
                    "end_date", "last_updated"],
    "asa_product_files": ["asa_ous_id", "ngas_file_id", "stored_size", "file_class"],
    "asa_delivery_status": ["id", "delivery_id", "qa2_passed", "release_date", "release_date_comment"],
}
PRIMARY_KEYS = {
    "obs_unit_set_status": ["status_entity_id"], "aqua_ous": ["ous_status_entity_id"],
    "aqua_execblock": ["execblockuid"], "aqua_session": ["sessionid"], "shiftlog_entries": ["se_id"],
    "asa_product_files": ["asa_ous_id", "ngas_file_id"], "asa_delivery_status": ["id"],
}


def test_the_contract_has_exactly_the_documented_tables_and_columns() -> None:
    assert set(TABLE_NAMES) == set(CONTRACT_COLUMNS)
    for name, columns in CONTRACT_COLUMNS.items():
        table = contract_table(CONTRACT, name)
        assert [column.key for column in table.columns] == columns
        assert [column.name for column in table.columns] == columns  # default names = contract names
    for name, keys in PRIMARY_KEYS.items():
        assert [c.name for c in contract_table(CONTRACT, name).primary_key.columns] == keys


@pytest.mark.parametrize("name", sorted(CONTRACT_COLUMNS))
def test_every_table_compiles_for_oracle_with_unquoted_upper_case_folding_names(name: str) -> None:
    ddl = str(CreateTable(contract_table(CONTRACT, name)).compile(dialect=oracle.dialect()))
    assert f"CREATE TABLE alma.{name} (" in ddl
    for column in CONTRACT_COLUMNS[name]:
        # Unquoted lower case: Oracle folds it to the upper-case name ALMA uses.
        assert re.search(rf"\n\t{column} [A-Z]", ddl), column
    assert '"' not in ddl
    assert "VARCHAR2(" in ddl or name in {"aqua_session"}


def test_text_clobs_and_dates_use_oracle_types() -> None:
    ddl = str(CreateTable(contract_table(CONTRACT, "obs_unit_set_status")).compile(dialect=oracle.dialect()))
    assert "xml CLOB" in ddl
    execblock = str(CreateTable(contract_table(CONTRACT, "aqua_execblock")).compile(dialect=oracle.dialect()))
    assert "starttime DATE" in execblock
    assert "sessionid NUMBER(19)" in execblock


def test_a_site_can_rename_only_stand_in_columns_in_one_place() -> None:
    renamed = build_contract({"asa_product_files.file_class": "PRODUCT_CLASS", "aqua_session.starttime": "S"})
    files = contract_table(renamed, "asa_product_files")
    assert files.c.file_class.name == "product_class"  # the key stays the contract's name
    assert contract_table(renamed, "aqua_session").c.starttime.name == "s"
    assert contract_table(renamed, "aqua_execblock").c.starttime.name == "starttime"
    assert {"obs_unit_set_status.xml", "asa_product_files.file_class"} <= STAND_IN_COLUMNS


def test_the_extraction_select_compiles_for_oracle_in_the_alma_schema() -> None:
    mapping = next(m for m in mirrored_tables(CONTRACT) if m.name == "execution_block")
    statement = select(*(mapping.source.c[c] for c in mapping.source_columns))
    # The site writes ALMA (Oracle's spelling); it renders unquoted, which Oracle folds to ALMA.
    translate = source_execution_options("ALMA")["schema_translate_map"]
    sql = str(statement.compile(
        dialect=oracle.dialect(), schema_translate_map=translate, render_schema_translate=True
    ))
    assert sql.startswith("SELECT alma.aqua_execblock.execblockuid, alma.aqua_execblock.schedblockuid")
    assert "FROM alma.aqua_execblock" in sql


def test_every_mirrored_table_reads_existing_contract_columns() -> None:
    for mapping in mirrored_tables(CONTRACT):
        assert set(mapping.source_columns) <= set(mapping.source.c.keys()), mapping.name
        assert mapping.key, mapping.name


def test_oracle_values_are_coerced_to_mirror_types() -> None:
    assert to_text("") is None
    assert to_text(None) is None
    assert to_text("Pass") == "Pass"
    assert to_integer(Decimal("42")) == 42
    assert to_integer(7.0) == 7
    assert to_integer("12") == 12
    with pytest.raises(ValueError, match="not a whole number"):
        to_integer(Decimal("1.5"))
    aware = datetime(2017, 12, 6, 18, 44, 53, tzinfo=timezone(timedelta(hours=3)))
    assert to_timestamp(aware) == datetime(2017, 12, 6, 15, 44, 53)
    assert to_timestamp(date(2019, 2, 9)) == datetime(2019, 2, 9)
    assert to_timestamp(datetime(2019, 2, 9, 4, 55, tzinfo=UTC)).tzinfo is None


def test_an_impossible_value_names_table_column_and_row() -> None:
    mapping = next(m for m in mirrored_tables(CONTRACT) if m.name == "observing_session")
    convert = row_converter(mapping)
    assert convert((Decimal("5"), None, datetime(2020, 1, 1))) == (5, None, datetime(2020, 1, 1))
    with pytest.raises(BadSourceData) as caught:
        convert((Decimal("5"), "yesterday", None))
    message = str(caught.value)
    assert "aqua_session.starttime" in message
    assert "'yesterday'" in message
    assert "observing_session" in message


def test_the_staging_converter_marks_a_bad_row_instead_of_raising() -> None:
    """What an Oracle source can hold and the mirror cannot: a NUL in text, bytes, a huge number."""
    mapping = next(m for m in mirrored_tables(CONTRACT) if m.name == "observing_session")
    convert = StagingConverter(mapping)
    good = convert((Decimal("5"), None, datetime(2020, 1, 1)))
    assert good == [5, None, datetime(2020, 1, 1), None, None, None]
    assert convert((Decimal(2**63), "x\x00y", None)) == [
        None, None, None, "sessionid", "Decimal('9223372036854775808')",
        "9223372036854775808 is out of range for the mirror's bigint column",
    ]
    assert convert.marked == 1
    with pytest.raises(ValueError, match="NUL character"):
        to_text("x\x00y")
    with pytest.raises(ValueError, match="bytes that are not UTF-8 text"):
        to_text(b"Jos\xe9")
    assert to_text(b"Jos\xc3\xa9") == "José"


BUCKET_LAYOUT = {"asa_product_files": (("uid://A001/X1/X1", "a.tgz"), ("uid://A001/X2/X1", "b.tgz"))}


@pytest.mark.parametrize("mapping", mirrored_tables(CONTRACT), ids=lambda mapping: mapping.name)
def test_the_bucket_checksums_compile_for_oracle(mapping: TableMapping) -> None:
    """One aggregate per table, in SQL Oracle takes: no row values, no COLLATE, a hash per column."""
    bounds = BUCKET_LAYOUT.get(mapping.source.name) or tuple(
        tuple("b" if column.type.python_type is str else 7 for column in source_key(mapping))
        for _ in range(1)
    )
    layout = Layout(bounds)
    compiled = str(checksum_query(mapping, layout, "oracle").compile(dialect=oracle.dialect()))
    assert compiled.count("FROM alma.") == 1  # the table is read once
    assert "GROUP BY" in compiled
    assert "COLLATE" not in compiled
    assert not re.search(r"\)\s*[<>]=?\s*\(", compiled)  # no (a, b) < (x, y)
    assert "standard_hash" in compiled
    for column in mapping.source_columns:
        assert f"{mapping.source.c[column].name} IS NULL" in compiled
    if any(isinstance(mapping.source.c[c].type, Text) for c in mapping.source_columns):
        assert "dbms_crypto.hash" in compiled  # STANDARD_HASH takes no CLOB
    if any(isinstance(mapping.source.c[c].type, DateTime) for c in mapping.source_columns):
        assert "HH24:MI:SS.FF6" in str(
            checksum_query(mapping, layout, "oracle").compile(
                dialect=oracle.dialect(), compile_kwargs={"literal_binds": True}
            )
        )
    read = select(mapping.source).where(in_buckets(source_key(mapping), layout, [0, 1], "oracle"))
    assert "COLLATE" not in str(read.compile(dialect=oracle.dialect()))


def test_the_postgresql_stand_in_compares_keys_byte_by_byte() -> None:
    mapping = next(m for m in mirrored_tables(CONTRACT) if m.source.name == "asa_product_files")
    layout = Layout(BUCKET_LAYOUT["asa_product_files"])
    compiled = str(checksum_query(mapping, layout, "postgresql").compile(dialect=postgresql.dialect()))
    assert compiled.count('COLLATE "C"') >= 2
    assert "hash_record_extended" in compiled  # each row digested as its types compare

"""The ALMA source tables the ETL reads: the contract in ``shared/alma-source/CONTRACT.md``.

SQLAlchemy Core definitions, declared lower case so they render unquoted and Oracle folds them to upper
case. Column ``key``s are always the contract's names; the rendered ``name`` of the few columns that are
the stand-in's inference (``STAND_IN_COLUMNS``) can be remapped by a site through settings
(``[source.column_names]``), so the rest of the code never sees a site's spelling.

Tables live in the placeholder schema ``alma``; the configured schema (``ALMA`` on Oracle) is applied at
execution time with ``schema_translate_map`` (see ``source_execution_options``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

from etl.errors import ConfigurationError

SCHEMA_PLACEHOLDER: Final = "alma"

# Columns CONTRACT.md marks "(stand-in)": our inference where ALMA's real name is unknown.
STAND_IN_COLUMNS: Final = frozenset(
    {
        "obs_unit_set_status.xml",
        "aqua_session.starttime",
        "aqua_session.endtime",
        "asa_science.goal_ouss_id",
        "asa_science.schedblock_uid",
        "asa_product_files.file_class",
    }
)

# Oracle VARCHAR2 needs a length; these bound what ALMA stores in each kind of column.
UID = String(64)
CODE = String(64)
STATE = String(64)
NAME = String(512)
TITLE = String(1024)
COMMENT = String(4000)


# A column's type as SQLAlchemy takes it: an instance (String(64)) or a class (DateTime).
ColumnType = TypeEngine[Any] | type[TypeEngine[Any]]


class ContractColumn(NamedTuple):
    """One column of a contract table: its contract name (the key), its type, whether it is in the key."""

    key: str
    type: ColumnType
    primary_key: bool = False


def column(key: str, type_: ColumnType) -> ContractColumn:
    return ContractColumn(key, type_)


def key_column(key: str, type_: ColumnType) -> ContractColumn:
    return ContractColumn(key, type_, primary_key=True)


# The contract, declared once: every table the ETL reads, with its columns in order. The SQLAlchemy
# tables (build_contract), the table list and the demo archive's rows (etl/demo/rows.py) come from it.
CONTRACT_TABLES: Final[Mapping[str, tuple[ContractColumn, ...]]] = {
    "obs_unit_set_status": (
        key_column("status_entity_id", UID),
        column("domain_entity_id", CODE),
        column("domain_entity_state", STATE),
        column("parent_obs_unit_set_status_id", UID),
        column("obs_project_status_id", UID),
        column("obs_project_id", UID),
        column("flags", STATE),
        column("xml", Text),
    ),
    "sched_block_status": (
        key_column("status_entity_id", UID),
        column("domain_entity_id", UID),
        column("domain_entity_state", STATE),
        column("parent_obs_unit_set_status_id", UID),
        column("obs_project_id", UID),
    ),
    "obs_project_status": (
        key_column("status_entity_id", UID),
        column("obs_project_id", UID),
        column("domain_entity_state", STATE),
    ),
    "aqua_ous": (
        key_column("ous_status_entity_id", UID),
        column("obsunitsetuid", UID),
        column("obsunitsetpartid", CODE),
        column("qa2status", STATE),
    ),
    "bmmv_obsproject": (
        key_column("prj_archive_uid", UID),
        column("prj_code", CODE),
        column("prj_name", TITLE),
        column("pi", NAME),
        column("prj_letter_grade", String(8)),
        column("deleted", Integer),
    ),
    "bmmv_obsproposal": (
        key_column("archive_uid", UID),
        column("projectuid", UID),
        column("cycle", CODE),
        column("pi_fullname", NAME),
        column("associatedexec", CODE),
    ),
    "bmmv_schedblock": (
        key_column("archive_uid", UID),
        column("prj_ref", UID),
        column("mous_status_uid", UID),
        column("sb_status_uid", UID),
        column("sb_name", NAME),
        column("status", STATE),
        column("requestedarray", CODE),
        column("receiver_band", CODE),
        column("execution_count", Integer),
    ),
    "aqua_execblock": (
        key_column("execblockuid", UID),
        column("schedblockuid", UID),
        column("obsprojectcode", CODE),
        column("qa0status", STATE),
        column("starttime", DateTime),
        column("endtime", DateTime),
        column("execfraction", Numeric(12, 6)),
        column("sessionid", BigInteger),
    ),
    "aqua_session": (
        key_column("sessionid", BigInteger),
        column("starttime", DateTime),
        column("endtime", DateTime),
    ),
    "shiftlog_entries": (
        key_column("se_id", BigInteger),
        column("se_type", CODE),
        column("se_timestamp", DateTime),
        column("se_start", DateTime),
        column("se_project_code", CODE),
        column("se_sb_id", UID),
        column("se_eb_uid", UID),
        column("se_location", CODE),
        column("se_status", CODE),
        column("se_qa0flag", CODE),
        column("se_arrayfamily", CODE),
        column("se_correlatortype", CODE),
    ),
    "asa_science": (
        key_column("dataset_id", UID),
        column("asdm_uid", UID),
        column("asa_ous_id", UID),
        column("member_ouss_id", UID),
        column("group_ouss_id", UID),
        column("goal_ouss_id", UID),
        column("project_code", CODE),
        column("schedblock_uid", UID),
        column("schedblock_name", NAME),
        column("start_date", DateTime),
        column("end_date", DateTime),
        column("last_updated", DateTime),
    ),
    "asa_product_files": (
        key_column("asa_ous_id", UID),
        key_column("ngas_file_id", NAME),
        column("stored_size", BigInteger),
        column("file_class", CODE),
    ),
    "asa_delivery_status": (
        key_column("id", BigInteger),
        column("delivery_id", NAME),
        column("qa2_passed", String(1)),
        column("release_date", DateTime),
        column("release_date_comment", COMMENT),
    ),
}

TABLE_NAMES: Final = tuple(CONTRACT_TABLES)


def build_contract(column_names: Mapping[str, str] | None = None) -> MetaData:
    """Return a MetaData holding every contract table, with a site's stand-in column names applied.

    ``ConfigurationError`` names every rename of a column that is not a stand-in column.
    """
    names = {key.lower(): value for key, value in (column_names or {}).items()}
    _check_renames(names)
    metadata = MetaData(schema=SCHEMA_PLACEHOLDER)
    for table, columns in CONTRACT_TABLES.items():
        Table(table, metadata, *(_sqlalchemy_column(table, column, names) for column in columns))
    return metadata


def _sqlalchemy_column(table: str, column: ContractColumn, names: Mapping[str, str]) -> Column[Any]:
    # The site's name goes to the database; the contract's name stays the attribute key.
    qualified = f"{table}.{column.key}"
    name = names.get(qualified, column.key) if qualified in STAND_IN_COLUMNS else column.key
    if column.primary_key:
        return Column(name.lower(), column.type, key=column.key, primary_key=True, autoincrement=False)
    return Column(name.lower(), column.type, key=column.key)


def _check_renames(names: Mapping[str, str]) -> None:
    unknown = sorted(name for name in names if name not in STAND_IN_COLUMNS)
    if unknown:
        raise ConfigurationError(
            f"source.column_names: '{name}' is not a stand-in column; remappable: "
            f"{', '.join(sorted(STAND_IN_COLUMNS))}"
            for name in unknown
        )


CONTRACT: Final = build_contract()


def contract_table(metadata: MetaData, name: str) -> Table:
    """The contract table ``name`` in ``metadata`` (tables are keyed by their schema-qualified name)."""
    return metadata.tables[f"{SCHEMA_PLACEHOLDER}.{name}"]


def source_execution_options(schema: str) -> dict[str, Any]:
    """Execution options that point the placeholder schema at the configured one."""
    return {"schema_translate_map": {SCHEMA_PLACEHOLDER: schema.lower()}}

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
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

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

TABLE_NAMES: Final = (
    "obs_unit_set_status",
    "sched_block_status",
    "obs_project_status",
    "aqua_ous",
    "bmmv_obsproject",
    "bmmv_obsproposal",
    "bmmv_schedblock",
    "aqua_execblock",
    "aqua_session",
    "shiftlog_entries",
    "asa_science",
    "asa_product_files",
    "asa_delivery_status",
)


def build_contract(column_names: Mapping[str, str] | None = None) -> MetaData:
    """Return a MetaData holding every contract table, with a site's stand-in column names applied.

    ``ConfigurationError`` names every rename of a column that is not a stand-in column.
    """
    names = {key.lower(): value for key, value in (column_names or {}).items()}
    _check_renames(names)
    metadata = MetaData(schema=SCHEMA_PLACEHOLDER)

    def col(table: str, key: str, type_: Any, **kwargs: Any) -> Column[Any]:
        # The site's name goes to the database; the contract's name stays the attribute key.
        name = names.get(f"{table}.{key}", key) if f"{table}.{key}" in STAND_IN_COLUMNS else key
        return Column(name.lower(), type_, key=key, **kwargs)

    def table(name: str, *columns: Any) -> Table:
        return Table(name, metadata, *columns)

    def pk(table_name: str, key: str, type_: Any) -> Column[Any]:
        return col(table_name, key, type_, primary_key=True, autoincrement=False)

    t = "obs_unit_set_status"
    table(
        t,
        pk(t, "status_entity_id", UID),
        col(t, "domain_entity_id", CODE),
        col(t, "domain_entity_state", STATE),
        col(t, "parent_obs_unit_set_status_id", UID),
        col(t, "obs_project_status_id", UID),
        col(t, "obs_project_id", UID),
        col(t, "flags", STATE),
        col(t, "xml", Text),
    )
    t = "sched_block_status"
    table(
        t,
        pk(t, "status_entity_id", UID),
        col(t, "domain_entity_id", UID),
        col(t, "domain_entity_state", STATE),
        col(t, "parent_obs_unit_set_status_id", UID),
        col(t, "obs_project_id", UID),
    )
    t = "obs_project_status"
    table(
        t,
        pk(t, "status_entity_id", UID),
        col(t, "obs_project_id", UID),
        col(t, "domain_entity_state", STATE),
    )
    t = "aqua_ous"
    table(
        t,
        pk(t, "ous_status_entity_id", UID),
        col(t, "obsunitsetuid", UID),
        col(t, "obsunitsetpartid", CODE),
        col(t, "qa2status", STATE),
    )
    t = "bmmv_obsproject"
    table(
        t,
        pk(t, "prj_archive_uid", UID),
        col(t, "prj_code", CODE),
        col(t, "prj_name", TITLE),
        col(t, "pi", NAME),
        col(t, "prj_letter_grade", String(8)),
        col(t, "deleted", Integer),
    )
    t = "bmmv_obsproposal"
    table(
        t,
        pk(t, "archive_uid", UID),
        col(t, "projectuid", UID),
        col(t, "cycle", CODE),
        col(t, "pi_fullname", NAME),
        col(t, "associatedexec", CODE),
    )
    t = "bmmv_schedblock"
    table(
        t,
        pk(t, "archive_uid", UID),
        col(t, "prj_ref", UID),
        col(t, "mous_status_uid", UID),
        col(t, "sb_status_uid", UID),
        col(t, "sb_name", NAME),
        col(t, "status", STATE),
        col(t, "requestedarray", CODE),
        col(t, "receiver_band", CODE),
        col(t, "execution_count", Integer),
    )
    t = "aqua_execblock"
    table(
        t,
        pk(t, "execblockuid", UID),
        col(t, "schedblockuid", UID),
        col(t, "obsprojectcode", CODE),
        col(t, "qa0status", STATE),
        col(t, "starttime", DateTime),
        col(t, "endtime", DateTime),
        col(t, "execfraction", Numeric(12, 6)),
        col(t, "sessionid", BigInteger),
    )
    t = "aqua_session"
    table(
        t,
        pk(t, "sessionid", BigInteger),
        col(t, "starttime", DateTime),
        col(t, "endtime", DateTime),
    )
    t = "shiftlog_entries"
    table(
        t,
        pk(t, "se_id", BigInteger),
        col(t, "se_type", CODE),
        col(t, "se_timestamp", DateTime),
        col(t, "se_start", DateTime),
        col(t, "se_project_code", CODE),
        col(t, "se_sb_id", UID),
        col(t, "se_eb_uid", UID),
        col(t, "se_location", CODE),
        col(t, "se_status", CODE),
        col(t, "se_qa0flag", CODE),
        col(t, "se_arrayfamily", CODE),
        col(t, "se_correlatortype", CODE),
    )
    t = "asa_science"
    table(
        t,
        pk(t, "dataset_id", UID),
        col(t, "asdm_uid", UID),
        col(t, "asa_ous_id", UID),
        col(t, "member_ouss_id", UID),
        col(t, "group_ouss_id", UID),
        col(t, "goal_ouss_id", UID),
        col(t, "project_code", CODE),
        col(t, "schedblock_uid", UID),
        col(t, "schedblock_name", NAME),
        col(t, "start_date", DateTime),
        col(t, "end_date", DateTime),
        col(t, "last_updated", DateTime),
    )
    t = "asa_product_files"
    table(
        t,
        col(t, "asa_ous_id", UID, nullable=False),
        col(t, "ngas_file_id", NAME, nullable=False),
        col(t, "stored_size", BigInteger),
        col(t, "file_class", CODE),
        PrimaryKeyConstraint("asa_ous_id", "ngas_file_id"),
    )
    t = "asa_delivery_status"
    table(
        t,
        pk(t, "id", BigInteger),
        col(t, "delivery_id", NAME),
        col(t, "qa2_passed", String(1)),
        col(t, "release_date", DateTime),
        col(t, "release_date_comment", COMMENT),
    )
    return metadata


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

"""Test helper: which source column fills each mirror column, written out from CONTRACT.md.

Stated here by hand rather than read off the models (``info["source"]``) or the loader, so that a test
comparing the mirror with the source does not take its expectations from the code it tests. Reads
use plain Core ``table()``/``column()`` constructs, never the contract's or the mirror's Table objects.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection, column, select, table

SOURCE_SCHEMA: Final = "alma"

# mirror table → (source table, ((mirror column, source column), …)); the first pair is the key.
MIRRORED_FROM: Final[dict[str, tuple[str, tuple[tuple[str, str], ...]]]] = {
    "project": ("bmmv_obsproject", (
        ("project_uid", "prj_archive_uid"), ("code", "prj_code"), ("title", "prj_name"),
        ("pi_account", "pi"), ("letter_grade", "prj_letter_grade"), ("deleted", "deleted"),
    )),
    "proposal": ("bmmv_obsproposal", (
        ("proposal_uid", "archive_uid"), ("project_uid", "projectuid"), ("cycle", "cycle"),
        ("pi_name", "pi_fullname"), ("associated_exec", "associatedexec"),
    )),
    "project_status": ("obs_project_status", (
        ("project_status_uid", "status_entity_id"), ("project_uid", "obs_project_id"),
        ("state", "domain_entity_state"),
    )),
    "ous": ("obs_unit_set_status", (
        ("ous_uid", "status_entity_id"), ("part_id", "domain_entity_id"), ("state", "domain_entity_state"),
        ("parent_ous_uid", "parent_obs_unit_set_status_id"), ("project_status_uid", "obs_project_status_id"),
        ("project_uid", "obs_project_id"), ("recipe", "flags"), ("status_xml", "xml"),
    )),
    "ous_qa2": ("aqua_ous", (
        ("mous_uid", "ous_status_entity_id"), ("project_uid", "obsunitsetuid"),
        ("part_id", "obsunitsetpartid"), ("qa2_status", "qa2status"),
    )),
    "scheduling_block": ("bmmv_schedblock", (
        ("sb_uid", "archive_uid"), ("project_uid", "prj_ref"), ("mous_uid", "mous_status_uid"),
        ("sb_status_uid", "sb_status_uid"), ("name", "sb_name"), ("status", "status"),
        ("requested_array", "requestedarray"), ("receiver_band", "receiver_band"),
        ("execution_count", "execution_count"),
    )),
    "sb_status": ("sched_block_status", (
        ("sb_status_uid", "status_entity_id"), ("sb_uid", "domain_entity_id"),
        ("state", "domain_entity_state"), ("mous_uid", "parent_obs_unit_set_status_id"),
        ("project_uid", "obs_project_id"),
    )),
    "execution_block": ("aqua_execblock", (
        ("eb_uid", "execblockuid"), ("sb_uid", "schedblockuid"), ("project_code", "obsprojectcode"),
        ("qa0_status", "qa0status"), ("start_time", "starttime"), ("end_time", "endtime"),
        ("exec_fraction", "execfraction"), ("session_id", "sessionid"),
    )),
    "observing_session": ("aqua_session", (
        ("session_id", "sessionid"), ("start_time", "starttime"), ("end_time", "endtime"),
    )),
    "shiftlog_entry": ("shiftlog_entries", (
        ("entry_id", "se_id"), ("entry_type", "se_type"), ("logged_at", "se_timestamp"),
        ("started_at", "se_start"), ("project_code", "se_project_code"), ("sb_uid", "se_sb_id"),
        ("eb_uid", "se_eb_uid"), ("location", "se_location"), ("status", "se_status"),
        ("qa0_flag", "se_qa0flag"), ("array_family_label", "se_arrayfamily"),
        ("correlator", "se_correlatortype"),
    )),
    "asa_dataset": ("asa_science", (
        ("dataset_id", "dataset_id"), ("eb_uid", "asdm_uid"), ("asa_ous_uid", "asa_ous_id"),
        ("mous_uid", "member_ouss_id"), ("gous_uid", "group_ouss_id"), ("sous_uid", "goal_ouss_id"),
        ("project_code", "project_code"), ("sb_uid", "schedblock_uid"), ("sb_name", "schedblock_name"),
        ("start_date", "start_date"), ("end_date", "end_date"), ("last_updated", "last_updated"),
    )),
    "product_file": ("asa_product_files", (
        ("mous_uid", "asa_ous_id"), ("file_name", "ngas_file_id"), ("size_bytes", "stored_size"),
        ("file_class", "file_class"),
    )),
    "delivery": ("asa_delivery_status", (
        ("delivery_id", "id"), ("delivery_name", "delivery_id"), ("qa2_passed", "qa2_passed"),
        ("release_date", "release_date"), ("release_date_comment", "release_date_comment"),
    )),
}


def as_documented(value: Any) -> Any:
    """CONTRACT.md's reading rules: '' is NULL, times are naive UTC; numbers compare by value."""
    if value == "":
        return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def source_rows(source: Connection, mirror_table: str) -> Counter[tuple[Any, ...]]:
    """The source rows behind ``mirror_table``, in its column order, read as CONTRACT.md says."""
    source_table, pairs = MIRRORED_FROM[mirror_table]
    columns = [column(source_column) for _, source_column in pairs]
    statement = select(*columns).select_from(table(source_table, *columns, schema=SOURCE_SCHEMA))
    return Counter(tuple(as_documented(value) for value in row) for row in source.execute(statement))


def mirror_rows(mirror: Connection, mirror_table: str) -> Counter[tuple[Any, ...]]:
    """The mirror table's loaded columns, in the same order as ``source_rows``."""
    _, pairs = MIRRORED_FROM[mirror_table]
    columns = [column(mirror_column) for mirror_column, _ in pairs]
    statement = select(*columns).select_from(table(mirror_table, *columns))
    return Counter(tuple(row) for row in mirror.execute(statement))


def stored_columns(mirror: Connection, mirror_table: str) -> set[str]:
    """The mirror table's columns as the database has them, generated ones left out."""
    information = table(
        "columns", column("table_schema"), column("table_name"), column("column_name"),
        column("is_generated"), schema="information_schema",
    )
    statement = select(information.c.column_name).where(
        information.c.table_schema == "public",
        information.c.table_name == mirror_table,
        information.c.is_generated == "NEVER",
    )
    return set(mirror.execute(statement).scalars())

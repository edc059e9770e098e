"""Tables mirrored from the ALMA source, one per contract table, in the mirror's own vocabulary.

Each keeps every source column the mirror needs (``info["source"]`` names it), so every derived table
can be rebuilt from these alone. Columns parsed from source values (product kind and session number,
array family, the MOUS inside a delivery name) are generated columns: PostgreSQL keeps them true to
their inputs on every insert and update, with no code path that could forget.

There are no foreign keys between these tables on purpose: the source is partly unreliable (an EB whose
session is missing, an SB pointing at an unknown MOUS) and one orphan must not fail a night's sync.
Such rows are recorded as data-quality issues instead.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Computed, DateTime, Index, Integer, Numeric, Text
from sqlalchemy.orm import Mapped, mapped_column

from etl.mirror.base import Base, from_source, mirrored

# Product file kinds, parsed from the archived file name (FILE_CLASS is NULL on older rows and too
# coarse: a restore needs caltables per session, calapply and flagversions per EB, the manifest).
PRODUCT_KIND_SQL = r"""CASE
  WHEN file_name LIKE '%caltables.tgz' OR file_name LIKE '%caltables.tar.gz' THEN
    CASE
      WHEN file_name ~ '\.session_[0-9]{1,6}\.caltables\.(tgz|tar\.gz)$' THEN 'caltables'
      WHEN file_name ~ '\.session_[0-9]{1,6}\.auxcaltables\.(tgz|tar\.gz)$' THEN 'auxcaltables'
      ELSE 'unparsed'
    END
  WHEN file_name LIKE '%.ms.calapply.txt' THEN 'calapply'
  WHEN file_name LIKE '%.ms.flagversions.tgz' OR file_name LIKE '%.ms.flagversions.tar.gz' THEN 'flagversions'
  WHEN file_name LIKE '%pipeline\_manifest.xml' THEN 'manifest'
  WHEN file_name LIKE '%pprequest.xml' OR file_name LIKE 'PPR\_uid\_\_\_%.xml' THEN 'pprequest'
  WHEN file_name LIKE '%scriptForCalibration.py' THEN 'calibration_script'
  ELSE 'other'
END"""
# Cheap suffix tests first: most product files are images that match no pattern, and a regex per
# name per pattern cost 22 s over ALMA's 1.5 million names (4 s this way). The digits are cut out
# with split_part, not a capturing substring(): capturing regexes are an order of magnitude slower.
# (No "(?:" groups anywhere: SQLAlchemy's text() would read ":aux" as a bind parameter.)
PRODUCT_SESSION_SQL = r"""CASE
  WHEN (file_name LIKE '%caltables.tgz' OR file_name LIKE '%caltables.tar.gz')
   AND file_name ~ '\.session_[0-9]{1,6}\.(aux)?caltables\.(tgz|tar\.gz)$'
  THEN CAST(split_part(split_part(file_name, '.session_', -1), '.', 1) AS integer)
END"""
# ALMA's REQUESTEDARRAY spellings, old and new, folded to the three array families of a restore.
ARRAY_FAMILY_SQL = """CASE upper(requested_array)
  WHEN 'TWELVE-M' THEN '12m'
  WHEN 'SEVEN-M' THEN '7m'
  WHEN 'ACA' THEN '7m'
  WHEN 'TP-ARRAY' THEN 'TP'
  WHEN 'TP' THEN 'TP'
END"""
# A delivery is named '<project code>_uid___A001_X…_X…'; the MOUS UID is inside it.
DELIVERY_MOUS_SQL = (
    "'uid://' || replace(substring(delivery_name FROM "
    "'uid___([A-Za-z][0-9]+_X[0-9A-Za-z]+_X[0-9A-Za-z]+)$'), '_', '/')"
)


class Project(Base):
    __tablename__ = "project"
    __table_args__ = (Index(None, "code"), {"info": mirrored("bmmv_obsproject")})

    project_uid: Mapped[str] = mapped_column(Text, primary_key=True, info=from_source("prj_archive_uid"))
    code: Mapped[str | None] = mapped_column(Text, info=from_source("prj_code"))
    title: Mapped[str | None] = mapped_column(Text, info=from_source("prj_name"))
    pi_account: Mapped[str | None] = mapped_column(Text, info=from_source("pi"))
    letter_grade: Mapped[str | None] = mapped_column(Text, info=from_source("prj_letter_grade"))
    deleted: Mapped[int | None] = mapped_column(Integer, info=from_source("deleted"))


class Proposal(Base):
    __tablename__ = "proposal"
    __table_args__ = (Index(None, "project_uid"), {"info": mirrored("bmmv_obsproposal")})

    proposal_uid: Mapped[str] = mapped_column(Text, primary_key=True, info=from_source("archive_uid"))
    project_uid: Mapped[str | None] = mapped_column(Text, info=from_source("projectuid"))
    cycle: Mapped[str | None] = mapped_column(Text, info=from_source("cycle"))
    pi_name: Mapped[str | None] = mapped_column(Text, info=from_source("pi_fullname"))
    associated_exec: Mapped[str | None] = mapped_column(Text, info=from_source("associatedexec"))


class ProjectStatus(Base):
    __tablename__ = "project_status"
    __table_args__ = ({"info": mirrored("obs_project_status")},)

    project_status_uid: Mapped[str] = mapped_column(
        Text, primary_key=True, info=from_source("status_entity_id")
    )
    project_uid: Mapped[str | None] = mapped_column(Text, info=from_source("obs_project_id"))
    state: Mapped[str | None] = mapped_column(Text, info=from_source("domain_entity_state"))


class Ous(Base):
    """Every OUS status document: project root, science goal (SOUS), group (GOUS) and member (MOUS)."""

    __tablename__ = "ous"
    __table_args__ = (
        Index(None, "parent_ous_uid"),
        Index(None, "project_uid"),
        {"info": mirrored("obs_unit_set_status", watch=("state", "recipe"), link=("parent_ous_uid",))},
    )

    ous_uid: Mapped[str] = mapped_column(Text, primary_key=True, info=from_source("status_entity_id"))
    part_id: Mapped[str | None] = mapped_column(Text, info=from_source("domain_entity_id"))
    state: Mapped[str | None] = mapped_column(Text, info=from_source("domain_entity_state"))
    parent_ous_uid: Mapped[str | None] = mapped_column(
        Text, info=from_source("parent_obs_unit_set_status_id")
    )
    project_status_uid: Mapped[str | None] = mapped_column(
        Text, info=from_source("obs_project_status_id")
    )
    project_uid: Mapped[str | None] = mapped_column(Text, info=from_source("obs_project_id"))
    recipe: Mapped[str | None] = mapped_column(Text, info=from_source("flags"))
    # A whole document: a change event names its change but does not copy it.
    status_xml: Mapped[str | None] = mapped_column(Text, info={**from_source("xml"), "document": True})


class OusQa2(Base):
    __tablename__ = "ous_qa2"
    __table_args__ = ({"info": mirrored("aqua_ous", watch=("qa2_status",))},)

    mous_uid: Mapped[str] = mapped_column(Text, primary_key=True, info=from_source("ous_status_entity_id"))
    project_uid: Mapped[str | None] = mapped_column(Text, info=from_source("obsunitsetuid"))
    part_id: Mapped[str | None] = mapped_column(Text, info=from_source("obsunitsetpartid"))
    qa2_status: Mapped[str | None] = mapped_column(Text, info=from_source("qa2status"))


class SchedulingBlock(Base):
    __tablename__ = "scheduling_block"
    __table_args__ = (
        Index(None, "mous_uid"),
        {"info": mirrored("bmmv_schedblock", watch=("mous_uid",), link=("mous_uid",))},
    )

    sb_uid: Mapped[str] = mapped_column(Text, primary_key=True, info=from_source("archive_uid"))
    project_uid: Mapped[str | None] = mapped_column(Text, info=from_source("prj_ref"))
    mous_uid: Mapped[str | None] = mapped_column(Text, info=from_source("mous_status_uid"))
    sb_status_uid: Mapped[str | None] = mapped_column(Text, info=from_source("sb_status_uid"))
    name: Mapped[str | None] = mapped_column(Text, info=from_source("sb_name"))
    status: Mapped[str | None] = mapped_column(Text, info=from_source("status"))
    requested_array: Mapped[str | None] = mapped_column(Text, info=from_source("requestedarray"))
    receiver_band: Mapped[str | None] = mapped_column(Text, info=from_source("receiver_band"))
    execution_count: Mapped[int | None] = mapped_column(Integer, info=from_source("execution_count"))
    array_family: Mapped[str | None] = mapped_column(Text, Computed(ARRAY_FAMILY_SQL, persisted=True))


class SbStatus(Base):
    __tablename__ = "sb_status"
    __table_args__ = (
        Index(None, "mous_uid"),
        {"info": mirrored("sched_block_status", link=("mous_uid",))},
    )

    sb_status_uid: Mapped[str] = mapped_column(Text, primary_key=True, info=from_source("status_entity_id"))
    sb_uid: Mapped[str | None] = mapped_column(Text, info=from_source("domain_entity_id"))
    state: Mapped[str | None] = mapped_column(Text, info=from_source("domain_entity_state"))
    mous_uid: Mapped[str | None] = mapped_column(
        Text, info=from_source("parent_obs_unit_set_status_id")
    )
    project_uid: Mapped[str | None] = mapped_column(Text, info=from_source("obs_project_id"))


class ExecutionBlock(Base):
    __tablename__ = "execution_block"
    __table_args__ = (
        Index(None, "session_id"),
        Index(None, "sb_uid"),
        {
            "info": mirrored(
                "aqua_execblock",
                watch=("qa0_status", "session_id", "start_time", "end_time"),
                link=("sb_uid", "session_id"),
            )
        },
    )

    eb_uid: Mapped[str] = mapped_column(Text, primary_key=True, info=from_source("execblockuid"))
    sb_uid: Mapped[str | None] = mapped_column(Text, info=from_source("schedblockuid"))
    project_code: Mapped[str | None] = mapped_column(Text, info=from_source("obsprojectcode"))
    qa0_status: Mapped[str | None] = mapped_column(Text, info=from_source("qa0status"))
    start_time: Mapped[datetime | None] = mapped_column(DateTime, info=from_source("starttime"))
    end_time: Mapped[datetime | None] = mapped_column(DateTime, info=from_source("endtime"))
    exec_fraction: Mapped[Decimal | None] = mapped_column(Numeric, info=from_source("execfraction"))
    session_id: Mapped[int | None] = mapped_column(BigInteger, info=from_source("sessionid"))


class ObservingSession(Base):
    """AQUA's session: EBs observed back to back that share reference data (not the PPR's SESSION_n)."""

    __tablename__ = "observing_session"
    __table_args__ = ({"info": mirrored("aqua_session", watch=("start_time", "end_time"))},)

    session_id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=False, info=from_source("sessionid")
    )
    start_time: Mapped[datetime | None] = mapped_column(DateTime, info=from_source("starttime"))
    end_time: Mapped[datetime | None] = mapped_column(DateTime, info=from_source("endtime"))


class ShiftlogEntry(Base):
    __tablename__ = "shiftlog_entry"
    __table_args__ = (
        Index(None, "eb_uid"),
        Index(None, "sb_uid"),
        {"info": mirrored("shiftlog_entries", link=("sb_uid", "eb_uid"))},
    )

    entry_id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=False, info=from_source("se_id")
    )
    entry_type: Mapped[str | None] = mapped_column(Text, info=from_source("se_type"))
    logged_at: Mapped[datetime | None] = mapped_column(DateTime, info=from_source("se_timestamp"))
    started_at: Mapped[datetime | None] = mapped_column(DateTime, info=from_source("se_start"))
    project_code: Mapped[str | None] = mapped_column(Text, info=from_source("se_project_code"))
    sb_uid: Mapped[str | None] = mapped_column(Text, info=from_source("se_sb_id"))
    eb_uid: Mapped[str | None] = mapped_column(Text, info=from_source("se_eb_uid"))
    location: Mapped[str | None] = mapped_column(Text, info=from_source("se_location"))
    status: Mapped[str | None] = mapped_column(Text, info=from_source("se_status"))
    qa0_flag: Mapped[str | None] = mapped_column(Text, info=from_source("se_qa0flag"))
    array_family_label: Mapped[str | None] = mapped_column(Text, info=from_source("se_arrayfamily"))
    correlator: Mapped[str | None] = mapped_column(Text, info=from_source("se_correlatortype"))


class AsaDataset(Base):
    """ASA_SCIENCE: mirrored for cross-checks only; never a source of EB membership or sessions."""

    __tablename__ = "asa_dataset"
    __table_args__ = (
        Index(None, "eb_uid"),
        Index(None, "mous_uid"),
        {"info": mirrored("asa_science", link=("mous_uid", "asa_ous_uid", "eb_uid"))},
    )

    dataset_id: Mapped[str] = mapped_column(Text, primary_key=True, info=from_source("dataset_id"))
    eb_uid: Mapped[str | None] = mapped_column(Text, info=from_source("asdm_uid"))
    asa_ous_uid: Mapped[str | None] = mapped_column(Text, info=from_source("asa_ous_id"))
    mous_uid: Mapped[str | None] = mapped_column(Text, info=from_source("member_ouss_id"))
    gous_uid: Mapped[str | None] = mapped_column(Text, info=from_source("group_ouss_id"))
    sous_uid: Mapped[str | None] = mapped_column(Text, info=from_source("goal_ouss_id"))
    project_code: Mapped[str | None] = mapped_column(Text, info=from_source("project_code"))
    sb_uid: Mapped[str | None] = mapped_column(Text, info=from_source("schedblock_uid"))
    sb_name: Mapped[str | None] = mapped_column(Text, info=from_source("schedblock_name"))
    start_date: Mapped[datetime | None] = mapped_column(DateTime, info=from_source("start_date"))
    end_date: Mapped[datetime | None] = mapped_column(DateTime, info=from_source("end_date"))
    last_updated: Mapped[datetime | None] = mapped_column(DateTime, info=from_source("last_updated"))


class ProductFile(Base):
    __tablename__ = "product_file"
    __table_args__ = (
        Index(None, "kind"),
        {"info": mirrored("asa_product_files", watch=("kind", "session_number"), link=("mous_uid",))},
    )

    mous_uid: Mapped[str] = mapped_column(Text, primary_key=True, info=from_source("asa_ous_id"))
    file_name: Mapped[str] = mapped_column(Text, primary_key=True, info=from_source("ngas_file_id"))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, info=from_source("stored_size"))
    file_class: Mapped[str | None] = mapped_column(Text, info=from_source("file_class"))
    kind: Mapped[str] = mapped_column(Text, Computed(PRODUCT_KIND_SQL, persisted=True))
    session_number: Mapped[int | None] = mapped_column(
        Integer, Computed(PRODUCT_SESSION_SQL, persisted=True)
    )


class Delivery(Base):
    __tablename__ = "delivery"
    __table_args__ = (
        Index(None, "mous_uid"),
        {
            "info": mirrored(
                "asa_delivery_status", watch=("release_date", "qa2_passed"), link=("mous_uid",)
            )
        },
    )

    delivery_id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=False, info=from_source("id")
    )
    delivery_name: Mapped[str | None] = mapped_column(Text, info=from_source("delivery_id"))
    qa2_passed: Mapped[str | None] = mapped_column(Text, info=from_source("qa2_passed"))
    release_date: Mapped[datetime | None] = mapped_column(DateTime, info=from_source("release_date"))
    release_date_comment: Mapped[str | None] = mapped_column(
        Text, info=from_source("release_date_comment")
    )
    mous_uid: Mapped[str | None] = mapped_column(Text, Computed(DELIVERY_MOUS_SQL, persisted=True))


MIRRORED_MODELS: tuple[type[Base], ...] = (
    Project,
    Proposal,
    ProjectStatus,
    Ous,
    OusQa2,
    SchedulingBlock,
    SbStatus,
    ExecutionBlock,
    ObservingSession,
    ShiftlogEntry,
    AsaDataset,
    ProductFile,
    Delivery,
)

"""The archive's record of each pipeline calibration: the documents as fetched, and what they say.

``calibration_document`` is a cache of archived files, keyed by NGAS file id: a document never changes
once archived, so it is fetched once, parsed once, and written in short transactions of its own before
a sync's transaction (network I/O never happens inside that one). The per-MOUS record tables are
derived like the other derived tables, in the sync's transaction, from the cache and the mirrored
tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from etl.mirror.base import Base, one_of
from etl.mirror.states import ARCHIVED_RECORD_STATES, DocumentState, ManifestState


def _ous_fk() -> ForeignKey:
    return ForeignKey("ous.ous_uid", deferrable=True, initially="DEFERRED")


class CalibrationDocument(Base):
    """A manifest, restore script or archived PPR as NGAS served it (or why it could not be had).

    ``missing``: the archive does not have it, refused it, or sent something else every time;
    ``unavailable``: the archive could not be reached, or the sync's time budget ran out. Every sync
    tries those again; a ``fetched`` document is fetched again when ASA_PRODUCT_FILES lists another size,
    or when NGAS names another file version or checksum for it (asked in rotation, ``checked_at``).
    """

    __tablename__ = "calibration_document"
    __table_args__ = (
        one_of("state", DocumentState, name="state_known"),
        CheckConstraint(
            "kind IN ('manifest', 'restore_script', 'request', 'calibration_script')", name="kind_known"
        ),
        CheckConstraint("(state = 'fetched') = (content IS NOT NULL)", name="content_iff_fetched"),
        Index(None, "updated_run_id"),
    )

    file_id: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)
    # Every MOUS that listed the file when it was last written (to re-derive their records).
    mous_uids: Mapped[list[str]] = mapped_column(ARRAY(Text))
    file_version: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(Text)
    checksum_plugin: Mapped[str | None] = mapped_column(Text)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime)  # NGAS's IngestionDate (UTC)
    content: Mapped[str | None] = mapped_column(Text)
    parsed: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    parser_version: Mapped[int | None] = mapped_column(SmallInteger)
    parse_problem: Mapped[str | None] = mapped_column(Text)
    problem: Mapped[str | None] = mapped_column(Text)  # why it is not fetched
    fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When NGAS last confirmed the held version and checksum (re-archived documents, revision 0009).
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fetched_run_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("sync_run.run_id"))
    # NULL: written by a fetch before its sync took the lock; the next run to commit claims the row.
    updated_run_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("sync_run.run_id"))


class CalibrationRecord(Base):
    """Per pipeline-calibrated MOUS that lists record documents: what they say, and whether it agrees.

    A MOUS without a row has no record documents (``absent`` in ``mous_status``).
    """

    __tablename__ = "calibration_record"
    __table_args__ = (
        one_of("state", ARCHIVED_RECORD_STATES, name="state_known"),
        one_of("manifest_state", ManifestState, name="manifest_state_known"),
        {
            "info": {
                "watch": ("state", "casa_version", "pipeline_version", "mpi_servers", "restore_task",
                          "extra_steps"),
                "link": ("mous_uid",),
            }
        },
    )

    mous_uid: Mapped[str] = mapped_column(Text, _ous_fk(), primary_key=True)
    state: Mapped[str] = mapped_column(Text)
    calibrations: Mapped[int] = mapped_column(Integer)  # calibrations archived (the newest is used)
    manifest_file: Mapped[str | None] = mapped_column(Text)
    restore_script_file: Mapped[str | None] = mapped_column(Text)
    request_file: Mapped[str | None] = mapped_column(Text)
    casa_version: Mapped[str | None] = mapped_column(Text)
    pipeline_version: Mapped[str | None] = mapped_column(Text)
    mpi_servers: Mapped[int | None] = mapped_column(Integer)
    procedure: Mapped[str | None] = mapped_column(Text)
    restore_task: Mapped[str | None] = mapped_column(Text)
    legacy_restore_task: Mapped[bool | None] = mapped_column(Boolean)
    ocorr_mode: Mapped[str | None] = mapped_column(Text)
    hm_rasterscan: Mapped[str | None] = mapped_column(Text)
    # Every keyword of the restore call but vis and session, its value as written.
    restore_arguments: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    extra_steps: Mapped[list[str]] = mapped_column(ARRAY(Text))
    disagreement: Mapped[str | None] = mapped_column(Text)
    # The data-quality findings of the record: [{"kind", "subject", "detail"}].
    problems: Mapped[list[dict[str, str]]] = mapped_column(JSONB)
    derived_run_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("sync_run.run_id"))
    # The record's manifest: parsed, malformed or unavailable; NULL when none is archived (0009).
    manifest_state: Mapped[str | None] = mapped_column(Text)
    # The archived PPR's SchedBlockRef and SBStatusRef: the SB a PPR of several SBs names (0009).
    request_sb_uid: Mapped[str | None] = mapped_column(Text)
    request_sb_status_uid: Mapped[str | None] = mapped_column(Text)


class CalibrationRecordSession(Base):
    """Per MOUS, document and session number: the EBs the archived document puts in that session.

    The manifest and the restore script name EBs by disk name and list only sessions holding calibrated
    EBs; the archived PPR lists every SESSION_n, empty ones too, by EB UID.
    """

    __tablename__ = "calibration_record_session"
    __table_args__ = (
        CheckConstraint("document IN ('manifest', 'restore_script', 'request')", name="document_known"),
    )

    mous_uid: Mapped[str] = mapped_column(Text, _ous_fk(), primary_key=True)
    document: Mapped[str] = mapped_column(Text, primary_key=True)
    session_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    eb_uids: Mapped[list[str]] = mapped_column(ARRAY(Text))


class CalibrationRecordProduct(Base):
    """The name the record's manifest gives an archived product: what a restore opens in products/."""

    __tablename__ = "calibration_record_product"

    mous_uid: Mapped[str] = mapped_column(Text, _ous_fk(), primary_key=True)
    file_name: Mapped[str] = mapped_column(Text, primary_key=True)
    restore_name: Mapped[str] = mapped_column(Text)

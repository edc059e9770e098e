"""Tables the sync derives from the mirrored ones: parsed OUSStatus sessions, the restore session
mapping, and each member OUS's calibration and restore status.

Their foreign keys to ``ous`` are checked at commit and never cascade: within a sync, a source deletion
removes the OUS row first and the derivation removes (and records) its derived rows afterwards, in the
same transaction. (PostgreSQL runs a CASCADE at once even on a deferred constraint, which would drop
derived rows without a change event.)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from etl.mirror.base import Base, one_of
from etl.mirror.states import CalibrationKind, ManifestSource, RecordState, StatusDocumentState

# What a restore PPR can carry, as PostgreSQL regular expressions (a UID's: etl.archive_names'
# ARCHIVE_UID_PATTERN). A project code also names the request directory, so it is one file-name-safe
# word of at most 64 characters; a partId is any one word XML can carry, at most 255 characters
# (PostgreSQL's largest repetition count). Bounded so that the PPR writer can write whatever the
# verdict lets through (free text it cuts to length itself: ppr/build.py).
PROJECT_CODE_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
PART_ID_PATTERN = "^[^[:space:][:cntrl:]]{1,255}$"


def _ous_fk() -> ForeignKey:
    return ForeignKey("ous.ous_uid", deferrable=True, initially="DEFERRED")


class OusStatusDocument(Base):
    """How the OUSStatus XML of an OUS parsed: a missing or malformed document is a finding, not a failure."""

    __tablename__ = "ous_status_document"
    __table_args__ = (one_of("state", StatusDocumentState, name="state_known"),)

    ous_uid: Mapped[str] = mapped_column(Text, _ous_fk(), primary_key=True)
    state: Mapped[str] = mapped_column(Text)
    problem: Mapped[str | None] = mapped_column(Text)
    session_count: Mapped[int] = mapped_column(Integer, default=0)


class OusStatusSession(Base):
    """A ``Session`` element of a MOUS's OUSStatus document, in document order (position 1 = first)."""

    __tablename__ = "ous_status_session"

    mous_uid: Mapped[str] = mapped_column(Text, _ous_fk(), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    part_id: Mapped[str | None] = mapped_column(Text)
    sb_status_uid: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[datetime | None] = mapped_column(DateTime)
    end_time: Mapped[datetime | None] = mapped_column(DateTime)
    eb_uids: Mapped[list[str]] = mapped_column(ARRAY(Text))


class SessionAssignment(Base):
    """The session rule's result: every EB of a MOUS (all QA0 states) with its SESSION_n number.

    A restore uses the rows with ``qa0_status = 'Pass'``; the others are kept because they decide the
    numbering (sessions made only of them stay in the PPR, empty).
    """

    __tablename__ = "session_assignment"
    __table_args__ = (
        Index(None, "eb_uid"),
        CheckConstraint("session_number >= 1", name="session_number_positive"),
        {"info": {"watch": ("session_number", "qa0_status"), "link": ("mous_uid",)}},
    )

    mous_uid: Mapped[str] = mapped_column(Text, _ous_fk(), primary_key=True)
    eb_uid: Mapped[str] = mapped_column(Text, primary_key=True)
    session_number: Mapped[int] = mapped_column(Integer)
    session_id: Mapped[int] = mapped_column(BigInteger)
    qa0_status: Mapped[str | None] = mapped_column(Text)
    eb_start_time: Mapped[datetime | None] = mapped_column(DateTime)
    position: Mapped[int] = mapped_column(Integer)


class MousStatus(Base):
    """Per member OUS: where it sits, what its calibration is, and whether (or why not) it is restorable."""

    __tablename__ = "mous_status"
    __table_args__ = (
        Index(None, "project_uid"),
        Index(None, "restorable_since_run_id"),
        one_of("calibration_kind", CalibrationKind, name="calibration_kind_known"),
        one_of("manifest_source", ManifestSource, name="manifest_source_known"),
        CheckConstraint("restorable = (reason_code IS NULL)", name="reason_iff_not_restorable"),
        one_of("calibration_record", RecordState, name="calibration_record_known"),
        # Restorable since: by any restore kind, not only a PPR (revision 0013).
        CheckConstraint(
            "restore_kind <> 'none' OR restorable_since IS NULL", name="since_only_when_restorable"
        ),
        CheckConstraint(
            "restore_kind IN ('pipeline_ppr', 'pipeline_script', 'scriptforpi', 'none')",
            name="restore_kind_known",
        ),
        {
            "info": {
                "watch": (
                    "restorable", "reason_code", "calibration_kind", "caltables_sessions",
                    "release_date", "session_count", "calibration_record", "casa_version",
                    "pipeline_version", "mpi_servers", "restore_kind",
                ),
                "link": ("mous_uid",),
            }
        },
    )

    mous_uid: Mapped[str] = mapped_column(Text, _ous_fk(), primary_key=True)
    project_uid: Mapped[str | None] = mapped_column(Text)
    sous_uid: Mapped[str | None] = mapped_column(Text)
    gous_uid: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text)
    sb_count: Mapped[int] = mapped_column(Integer)
    sb_uid: Mapped[str | None] = mapped_column(Text)
    array_family: Mapped[str | None] = mapped_column(Text)
    receiver_band: Mapped[str | None] = mapped_column(Text)
    eb_count: Mapped[int] = mapped_column(Integer)
    pass_eb_count: Mapped[int] = mapped_column(Integer)
    session_count: Mapped[int] = mapped_column(Integer)
    empty_session_count: Mapped[int] = mapped_column(Integer)
    calibration_kind: Mapped[str] = mapped_column(Text)
    # The references the restore PPR carries, as the derivation checked them (ppr reads these).
    obs_project_uid: Mapped[str | None] = mapped_column(Text)
    ous_part_id: Mapped[str | None] = mapped_column(Text)
    project_status_uid: Mapped[str | None] = mapped_column(Text)
    sb_status_uid: Mapped[str | None] = mapped_column(Text)
    caltables_sessions: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    sessions_match_caltables: Mapped[bool] = mapped_column(Boolean)
    status_xml_session_count: Mapped[int | None] = mapped_column(Integer)
    sessions_match_status_xml: Mapped[bool | None] = mapped_column(Boolean)
    release_date: Mapped[datetime | None] = mapped_column(DateTime)
    restorable: Mapped[bool] = mapped_column(Boolean)
    reason_code: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    # Every reason that applies, in REASON_CODES' order (reason_code is the first): the restore kind
    # reads them all (revision 0011).
    reason_codes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    # How it restores (etl/restore/kinds.py): ``restorable`` above is the restore PPR's verdict only.
    restore_kind: Mapped[str] = mapped_column(Text, server_default=text("'none'"))
    # When it last became restorable by any kind (NULL while its kind is none).
    restorable_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    restorable_since_run_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("sync_run.run_id")
    )
    derived_run_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("sync_run.run_id"))
    # The version of the restorability rules the row was derived by: a sync re-derives every row of an
    # older version, so new rules reach MOUSes that no source change touches.
    rules_version: Mapped[int] = mapped_column(Integer)
    # From the archive's record of the calibration (calibration_record): whether it agrees with the
    # mirror's session map, and which CASA and pipeline made it, serial (0) or MPI.
    calibration_record: Mapped[str] = mapped_column(Text, server_default=text("'absent'"))
    casa_version: Mapped[str | None] = mapped_column(Text)
    pipeline_version: Mapped[str | None] = mapped_column(Text)
    mpi_servers: Mapped[int | None] = mapped_column(Integer)
    # Whose pipeline manifest a restore request carries: the archive's, or one almamirror writes from
    # the mirror when none usable is archived (revision 0009); NULL when not pipeline-calibrated.
    manifest_source: Mapped[str | None] = mapped_column(Text)

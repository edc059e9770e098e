"""What every sync did: runs, per-table figures, row-level change events and data-quality issues."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from etl.mirror.base import Base, one_of
from etl.mirror.states import ChangeKind, RunState

# What the sync finds wrong in the source (etl/derive/quality.py computes each).
QUALITY_KINDS = (
    "eb_null_end_time",
    "session_null_end_time",
    "session_null_start_time",
    "duplicate_shiftlog",
    "asa_other_mous",
    "asa_missing_eb",
    "missing_status_xml",
    "malformed_status_xml",
    "status_xml_mismatch",
    "eb_without_session",
    "eb_without_shiftlog",
    "unparsed_product_name",
    "sb_unknown_mous",
    "calibration_document_unavailable",
    "calibration_document_malformed",
    "multiple_calibrations",
    "archive_key_differs",
    "quarantined_row",
)


class SyncRun(Base):
    __tablename__ = "sync_run"
    __table_args__ = (
        one_of("status", RunState, name="status_known"),
        Index(None, "status"),
    )

    run_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    # full: every MOUS re-derived; baseline: the first successful sync, which records no per-row events.
    full: Mapped[bool] = mapped_column(Boolean)
    baseline: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    host: Mapped[str] = mapped_column(Text)
    pid: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    mous_derived: Mapped[int | None] = mapped_column(Integer)
    newly_restorable: Mapped[int | None] = mapped_column(Integer)
    quality_opened: Mapped[int | None] = mapped_column(Integer)
    quality_resolved: Mapped[int | None] = mapped_column(Integer)


class SyncRunTable(Base):
    """Per-table figures of one run (mirrored and derived tables alike)."""

    __tablename__ = "sync_run_table"

    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("sync_run.run_id", ondelete="CASCADE"), primary_key=True
    )
    table_name: Mapped[str] = mapped_column(Text, primary_key=True)
    rows_read: Mapped[int] = mapped_column(BigInteger)
    inserted: Mapped[int] = mapped_column(BigInteger)
    updated: Mapped[int] = mapped_column(BigInteger)
    deleted: Mapped[int] = mapped_column(BigInteger)
    seconds: Mapped[float] = mapped_column(Float)
    # Source rows left out of the run (a duplicated or missing key, a value the mirror cannot store).
    quarantined: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # Rows actually read from the source: rows_read counts the table's rows, which a run that reads
    # only the changed buckets (etl/load/buckets.py) learns from the source's checksums. NULL: a
    # derived table, or a run from before the buckets.
    rows_pulled: Mapped[int | None] = mapped_column(BigInteger)


class SyncLock(Base):
    """One row; a sync holds it ``FOR UPDATE`` in the transaction that writes the mirror.

    A row lock needs UPDATE privilege, so a role that may only read the mirror (almamirror_reader)
    cannot take it and stop the syncs; and it ends with the transaction, so it can neither outlive
    the work nor be lost while the work goes on.
    """

    __tablename__ = "sync_lock"
    __table_args__ = (CheckConstraint("lock_id = 1", name="one_row"),)

    lock_id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)


class ChangeEvent(Base):
    """One row inserted, updated or deleted by a sync, with the values users follow.

    ``old_values``/``new_values`` hold the table's watched and linking columns (not only the changed
    ones, so an event can be read alone) and, for an update, every other column that changed, except
    whole documents; ``changed_columns`` lists every column that changed.
    """

    __tablename__ = "change_event"
    __table_args__ = (
        one_of("kind", ChangeKind, name="kind_known"),
        Index(None, "run_id"),
        Index(None, "mous_uid", "run_id"),
        Index(None, "table_name", "row_key"),
    )

    event_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("sync_run.run_id", ondelete="CASCADE")
    )
    table_name: Mapped[str] = mapped_column(Text)
    row_key: Mapped[str] = mapped_column(Text)
    mous_uid: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    changed_columns: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    old_values: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    new_values: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class MousLastChange(Base):
    """The latest run with a change event of each MOUS: ``restorable_mous.last_change_at`` joins it.

    Kept by statement-level triggers on ``change_event`` (revision 0008), in the transaction that
    writes the events, so it always equals ``max(run_id)`` of the MOUS's events; the loading code never
    writes it. No foreign key: a run deleted with its events is followed by the delete trigger.
    """

    __tablename__ = "mous_last_change"

    mous_uid: Mapped[str] = mapped_column(Text, primary_key=True)
    run_id: Mapped[int] = mapped_column(BigInteger)


class DataQualityIssue(Base):
    """A problem found in the source data; open until a later sync no longer finds it."""

    __tablename__ = "data_quality_issue"
    __table_args__ = (
        # One open issue per finding; NULLS NOT DISTINCT so findings without a MOUS are unique too.
        Index(
            None, "kind", "mous_uid", "subject", unique=True,
            postgresql_where=text("resolved_run_id IS NULL"), postgresql_nulls_not_distinct=True,
        ),
        Index(None, "mous_uid"),
    )

    issue_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    mous_uid: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)
    first_seen_run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("sync_run.run_id", ondelete="CASCADE")
    )
    last_seen_run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("sync_run.run_id", ondelete="CASCADE")
    )
    resolved_run_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("sync_run.run_id", ondelete="CASCADE")
    )


class SourceBuckets(Base):
    """One mirrored table's key-ordered buckets and what the source last said of each.

    A sync compares the source's checksums of each bucket with these and reads only the buckets that
    moved (etl/load/buckets.py). One row per table: the bounds and figures are read and written whole,
    a few thousand values at most, and never queried by bucket. Written in the sync's transaction, so
    a failed sync leaves them, like the rows they describe, as they were.
    """

    __tablename__ = "source_buckets"

    table_name: Mapped[str] = mapped_column(Text, primary_key=True)
    # What the checksums cover (digest version, source table and columns): another one, read whole.
    signature: Mapped[str] = mapped_column(Text)
    # The lower key of buckets 1 … n-1, each a JSON array of the key's values.
    bounds: Mapped[list[list[Any]]] = mapped_column(JSONB)
    row_counts: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    # NULL for a bucket that held a quarantined row: read again every night until the row is fixed.
    checksums: Mapped[list[str | None]] = mapped_column(ARRAY(Text))
    full_read_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    full_read_run_id: Mapped[int] = mapped_column(BigInteger)

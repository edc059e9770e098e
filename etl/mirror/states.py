"""The values the mirror's state, kind and verdict columns may hold: one StrEnum per vocabulary.

The models' CHECK constraints are written from these (etl.mirror.base.one_of), and a test holds the
migrated database's constraints to them (tests/etl/test_vocabularies.py), so a value added here without
a migration fails the tests. A light module, as etl.mirror.reasons: the reports import it without
mapping the ORM models.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class DocumentState(StrEnum):
    """``calibration_document.state``: what fetching an archived document from NGAS came to."""

    FETCHED = "fetched"
    # The archive does not have it, refused it, or sent something else every time.
    MISSING = "missing"
    # The archive could not be reached, or the sync's time budget ran out: every sync tries again.
    UNAVAILABLE = "unavailable"


class StatusDocumentState(StrEnum):
    """``ous_status_document.state``: how an OUS's OUSStatus XML parsed (a finding, not a failure)."""

    PARSED = "parsed"
    MISSING = "missing"
    MALFORMED = "malformed"


class ManifestState(StrEnum):
    """``calibration_record.manifest_state``: the record's pipeline manifest (NULL when none is archived)."""

    PARSED = "parsed"
    MALFORMED = "malformed"
    UNAVAILABLE = "unavailable"


class RecordState(StrEnum):
    """The archive's record of a calibration held against the mirror's session map.

    ``mous_status.calibration_record`` holds any of them; ``calibration_record.state`` all but
    ``absent`` (ARCHIVED_RECORD_STATES), since a MOUS without record documents has no row there.
    """

    AGREES = "agrees"
    # The record disagrees with the mirror and the restore follows the archive's sessions (revision 0009).
    FOLLOWS_ARCHIVE = "follows_archive"
    DISAGREES = "disagrees"
    ABSENT = "absent"
    UNAVAILABLE = "unavailable"
    MALFORMED = "malformed"


# The states a calibration_record row can hold.
ARCHIVED_RECORD_STATES: Final = tuple(state for state in RecordState if state is not RecordState.ABSENT)


class RunState(StrEnum):
    """``sync_run.status``: running → succeeded | failed | interrupted, once, for ever.

    failed is an error the run met, interrupted a signal or a process that died (found by the next
    sync). In the order the run reports count them.
    """

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    RUNNING = "running"


class ChangeKind(StrEnum):
    """``change_event.kind``: what a sync did to a row."""

    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


class CalibrationKind(StrEnum):
    """``mous_status.calibration_kind``: who calibrated a member OUS, as its archived products show."""

    PIPELINE = "pipeline"
    # Pipeline calibration followed by hand-run scripts (polarisation, say).
    PIPELINE_THEN_MANUAL = "pipeline_then_manual"
    MANUAL = "manual"
    NONE = "none"


class ManifestSource(StrEnum):
    """``mous_status.manifest_source``: whose pipeline manifest a restore request carries (revision 0009).

    The archive's, or one almamirror writes from the mirror when none usable is archived; NULL when the
    MOUS is not pipeline-calibrated.
    """

    ARCHIVE = "archive"
    ALMAMIRROR = "almamirror"

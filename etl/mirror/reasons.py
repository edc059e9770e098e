"""Why a member OUS cannot be restored: the reason codes, in a module of their own.

The reports need the codes' order but not the ORM models beside which they were defined: importing
``etl.mirror.derived`` would map classes and load ``sqlalchemy.orm`` (about a fifth of a report's
start-up) for one vocabulary.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class ReasonCode(StrEnum):
    """Why a member OUS cannot be restored, in the order they are checked: the first that applies is reported.

    Every refusal of the PPR generator that depends on mirror data is one of these, decided here once
    (etl/derive/restorability.py): the generator reads the verdict and never re-derives it.
    """

    DELETED_OUS = "deleted_ous"
    MANUAL_CALIBRATION = "manual_calibration"
    MANUAL_POST_CALIBRATION = "manual_post_calibration"
    NO_PASS_EBS = "no_pass_ebs"  # noqa: S105 (no EB passed QA0: not a password)
    NO_CALIBRATION_PRODUCTS = "no_calibration_products"
    MULTIPLE_SBS = "multiple_sbs"
    UNKNOWN_ARRAY = "unknown_array"
    SESSION_MISMATCH = "session_mismatch"
    ARCHIVE_RECORD_DISAGREES = "archive_record_disagrees"
    RESTORE_NEEDS_EXTRA_STEPS = "restore_needs_extra_steps"
    MANIFEST_FILE_MISSING = "manifest_file_missing"
    MALFORMED_EB_UID = "malformed_eb_uid"
    MALFORMED_REFERENCE = "malformed_reference"
    UNSAFE_PRODUCT_NAME = "unsafe_product_name"
    PRODUCT_NAME_CLASH = "product_name_clash"


# The codes in that order, as plain text: SQLAlchemy types a plain string literal as text (an enum
# member as nothing in particular), and the derivation writes them into SQL as literals.
REASON_CODES: Final = tuple(code.value for code in ReasonCode)

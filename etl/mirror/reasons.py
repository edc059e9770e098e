"""Why a member OUS cannot be restored: the reason codes, in a module of their own.

The reports need the codes' order but not the ORM models beside which they were defined: importing
``etl.mirror.derived`` would map classes and load ``sqlalchemy.orm`` (about a fifth of a report's
start-up) for one tuple of strings.
"""

from __future__ import annotations

# Why a member OUS cannot be restored, in the order they are checked: the first that applies is reported.
# Every refusal of the PPR generator that depends on mirror data is one of these, decided here once
# (etl/derive/restorability.py): the generator reads the verdict and never re-derives it.
REASON_CODES = (
    "deleted_ous",
    "manual_calibration",
    "manual_post_calibration",
    "no_pass_ebs",
    "no_calibration_products",
    "multiple_sbs",
    "unknown_array",
    "session_mismatch",
    "archive_record_disagrees",
    "restore_needs_extra_steps",
    "manifest_file_missing",
    "malformed_eb_uid",
    "malformed_reference",
    "unsafe_product_name",
    "product_name_clash",
)

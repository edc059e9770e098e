"""Restore kinds and the CASA of hand-run scripts, through a real sync against the stand-in NGAS."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import ARRAY, Text, any_, cast, literal, select, text
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.engine import URL

from etl.demo.fixed_cases import FIXED_CASES
from etl.derive.restorability import restore_kind
from etl.mirror import CalibrationDocument, MousStatus, table_of
from etl.report.views import mous_restore
from tests.helpers import rows

KINDS = {
    "seed_example": "pipeline_ppr",
    "restore_extra_steps": "pipeline_script",
    "manual_calibration": "scriptforpi",
    "pipeline_then_manual": "scriptforpi",
    "pipeline_then_flux_renormalisation": "scriptforpi",
    "not_processed": "none",
}


@pytest.fixture(scope="module")
def mirror(databases: Any, synced_template: str) -> URL:
    return databases.create("restore_kinds", template=synced_template)


def restore_of(mirror: URL, name: str) -> dict[str, Any]:
    (row,) = rows(mirror, select(mous_restore).where(mous_restore.c.mous_uid == FIXED_CASES[name].mous_uid))
    return row


@pytest.mark.parametrize(("name", "kind"), sorted(KINDS.items()))
def test_each_fixed_case_restores_by_its_kind(mirror: URL, name: str, kind: str) -> None:
    assert restore_of(mirror, name)["restore_kind"] == kind


def test_a_manual_calibration_restores_with_its_scriptforpi_and_the_scripts_casa(mirror: URL) -> None:
    manual = restore_of(mirror, "manual_calibration")
    # A Cycle 5 script (Python 2, which ast cannot parse): the version is still read, not executed.
    assert manual["script_casa_versions"] == ["5.1.1"]
    assert manual["scriptforpi_file"].endswith("scriptForPI.py")
    assert manual["restore_reason"].startswith("manually calibrated")
    documents = table_of(CalibrationDocument)
    scripts = rows(mirror, select(documents.c.file_id, documents.c.state, documents.c.parsed).where(
        documents.c.kind == "calibration_script",
        any_(documents.c.mous_uids) == FIXED_CASES["manual_calibration"].mous_uid,
    ))
    assert scripts
    assert all(row["state"] == "fetched" for row in scripts)
    assert {row["parsed"]["casa_version"] for row in scripts} == {"5.1.1"}


def test_pipeline_then_manual_needs_the_post_step_scripts_casa(mirror: URL) -> None:
    restore = restore_of(mirror, "pipeline_then_manual")
    assert (restore["calibration_kind"], restore["script_casa_versions"]) == (
        "pipeline_then_manual", ["5.6.1"]
    )


def test_every_kind_is_among_the_demos_mouses(mirror: URL) -> None:
    counted = {row["restore_kind"]: row["n"] for row in rows(
        mirror, text("SELECT restore_kind, count(*) AS n FROM mous_restore GROUP BY restore_kind")
    )}
    assert set(counted) == {"pipeline_ppr", "pipeline_script", "scriptforpi", "none"}


def test_the_sync_keeps_every_reason_and_the_first_is_reason_code(mirror: URL) -> None:
    status = table_of(MousStatus)
    found = rows(mirror, select(status.c.reason_code, status.c.reason_codes))
    assert all((row["reason_codes"] or [None])[0] == row["reason_code"] for row in found)
    (extra,) = rows(mirror, select(status.c.reason_codes).where(
        status.c.mous_uid == FIXED_CASES["restore_extra_steps"].mous_uid
    ))
    assert extra["reason_codes"] == ["restore_needs_extra_steps"]


@pytest.mark.parametrize(("reasons", "kind"), [
    # The script carries the calibration's own EB-to-session key: a session mismatch first is no bar.
    (["session_mismatch", "restore_needs_extra_steps"], "pipeline_script"),
    # Clashing product names stop the script's restore as they stop a PPR's, although they come later.
    (["restore_needs_extra_steps", "product_name_clash"], "none"),
])
def test_the_restore_kind_reads_every_reason_not_only_the_first(
    mirror: URL, reasons: list[str], kind: str
) -> None:
    # The rule the sync derives mous_status.restore_kind with, evaluated by the mirror's server.
    judged = select(
        literal(reasons[0]).label("reason_code"),
        cast(array([literal(code) for code in reasons]), ARRAY(Text)).label("reason_codes"),
        literal(1).label("pass_eb_count"), literal(False).label("has_scriptforpi"),
    ).subquery("judged")
    (derived,) = rows(mirror, select(restore_kind(judged.c).label("kind")))
    assert derived["kind"] == kind

"""The mirror's vocabularies (etl/mirror/states.py, etl/mirror/reasons.py) against the migrated database.

The models write their CHECK constraints from the vocabularies; the migrations wrote theirs as literal
SQL, which stays as it is (history). These tests hold the two together: a value added to a vocabulary
without a migration, or a migration that changes a list without the vocabulary, fails here.
"""

from __future__ import annotations

import re
from typing import get_args

from sqlalchemy import CheckConstraint, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL

from etl.calibration.names import SUFFIXES, DocumentKind
from etl.mirror import metadata
from etl.mirror.reasons import REASON_CODES, ReasonCode
from etl.mirror.states import ARCHIVED_RECORD_STATES, RecordState
from etl.restore.kinds import RESTORE_KINDS
from tests.helpers import connect

QUOTED = re.compile(r"'((?:[^']|'')*)'")
# Lists of known values whose vocabulary is defined outside the mirror's schema, with where it is.
DEFINED_ELSEWHERE = {
    "ck_calibration_document_kind_known": get_args(DocumentKind),  # etl/calibration/names.py
    "ck_calibration_record_session_document_known": tuple(SUFFIXES),  # the record's three documents
    "ck_mous_status_restore_kind_known": RESTORE_KINDS,  # etl/restore/kinds.py
}


def _values(definition: str) -> list[str]:
    return [value.replace("''", "'") for value in QUOTED.findall(definition)]


def _declared() -> dict[str, tuple[str, ...]]:
    """The models' vocabulary CHECKs (etl.mirror.base.one_of), by constraint name."""
    return {
        str(constraint.name): constraint.info["vocabulary"]
        for table in metadata.tables.values()
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint) and "vocabulary" in constraint.info
    }


def _migrated_lists(url: URL) -> dict[str, list[str]]:
    """Every CHECK of the migrated mirror that lists known values (column = ANY (ARRAY[…]))."""
    with connect(url) as connection:
        rows = connection.execute(text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'c' AND connamespace = current_schema()::regnamespace AND conrelid <> 0"
        )).all()
    return {name: _values(definition) for name, definition in rows if "= ANY (ARRAY[" in definition}


def test_the_migrated_checks_list_exactly_each_vocabularys_values(mirror_db: URL) -> None:
    declared = _declared()
    migrated = _migrated_lists(mirror_db)
    assert declared
    for name, values in declared.items():
        assert len(set(values)) == len(values), name
        assert name in migrated, f"{name}: no such list in the migrated mirror"
        assert sorted(migrated[name]) == sorted(values), name


def test_every_list_of_known_values_in_the_mirror_has_one_definition(mirror_db: URL) -> None:
    migrated = _migrated_lists(mirror_db)
    assert set(migrated) == set(_declared()) | set(DEFINED_ELSEWHERE)
    for name, values in DEFINED_ELSEWHERE.items():
        assert sorted(migrated[name]) == sorted(values), name


def test_a_models_check_renders_the_vocabulary_it_was_written_from() -> None:
    dialect = postgresql.dialect()
    for table in metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, CheckConstraint) and "vocabulary" in constraint.info:
                compiled = constraint.sqltext.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
                rendered = str(compiled)
                assert tuple(_values(rendered)) == constraint.info["vocabulary"], rendered
    assert tuple(state for state in RecordState if state != "absent") == ARCHIVED_RECORD_STATES


def test_the_reason_codes_in_order_as_plain_text() -> None:
    assert tuple(ReasonCode) == REASON_CODES
    assert all(type(code) is str for code in REASON_CODES)

"""The restore kinds and restore product kinds are spelled once (etl/restore/kinds.py): what the mirror's
schema allows and computes is that vocabulary."""

from __future__ import annotations

import re

from sqlalchemy import CheckConstraint

from etl.mirror import MousStatus, table_of
from etl.mirror.archive import PRODUCT_KIND_SQL
from etl.restore.kinds import (
    BUILT_KINDS,
    NONE,
    RESTORE_KINDS,
    RESTORE_PRODUCT_KINDS,
    RestoreKind,
)


def test_the_mirror_allows_exactly_the_restore_kinds_in_their_report_order() -> None:
    (check,) = (
        constraint for constraint in table_of(MousStatus).constraints
        if isinstance(constraint, CheckConstraint) and str(constraint.name).endswith("restore_kind_known")
    )
    assert tuple(re.findall(r"'([a-z_]+)'", str(check.sqltext))) == RESTORE_KINDS


def test_a_kind_read_from_the_mirror_is_the_member() -> None:
    assert [RestoreKind(text) for text in ("pipeline_ppr", "pipeline_script", "scriptforpi", "none")] == list(
        RESTORE_KINDS
    )
    assert NONE not in BUILT_KINDS
    assert set(BUILT_KINDS) | {NONE} == set(RESTORE_KINDS)


def test_every_restore_product_kind_is_one_the_mirror_computes() -> None:
    computed = set(re.findall(r"THEN '([a-z_]+)'", PRODUCT_KIND_SQL))
    assert set(RESTORE_PRODUCT_KINDS) <= computed
    assert "auxcaltables" in computed - set(RESTORE_PRODUCT_KINDS)  # never used by a restore

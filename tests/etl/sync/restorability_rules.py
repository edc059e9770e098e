"""Test helper: every member OUS judged from the source alone, by the rules docs/architecture.md states.

A second, deliberately plain statement of the restorability rules (Python over rows read with plain
SQL from the stand-in), to compare with what the sync derives in SQL from the mirror. It shares no code
with etl/: the session rule is the test helpers' own query (tests/etl/demo/session_rule.py).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection, text

from tests.etl.demo.session_rule import derived_sessions

# CONTRACT.md: '<mous>.session_<N>.caltables.tgz' (older packages '.tar.gz'), one per calibration session.
CALTABLES_NAME: Final = re.compile(r"\.session_([0-9]{1,6})\.caltables\.(tgz|tar\.gz)$")
CALIBRATION_SCRIPT_SUFFIX: Final = "scriptForCalibration.py"
# The reasons in the order docs/architecture.md gives them: the first that applies is reported.
REASONS_IN_ORDER: Final = (
    "deleted_ous",
    "manual_calibration",
    "no_pass_ebs",
    "no_calibration_products",
    "multiple_sbs",
    "session_mismatch",
)


@dataclass(frozen=True)
class Verdict:
    """What a restore of one MOUS needs to know, and whether it can proceed (reason None)."""

    reason: str | None
    calibration_kind: str
    pass_eb_count: int
    session_count: int
    caltables_sessions: tuple[int, ...]


def member_ous(source: Connection) -> dict[str, tuple[str | None, str | None]]:
    """MOUS UID → (state, recipe) for every OUS three levels below a project root."""
    rows = source.execute(text(
        "SELECT status_entity_id, parent_obs_unit_set_status_id, domain_entity_state, flags "
        "FROM alma.obs_unit_set_status"
    )).all()
    parent = {uid: parent_uid for uid, parent_uid, _, _ in rows}

    def depth(uid: str | None) -> int:
        steps = 0
        while uid is not None and uid in parent and steps <= 4:
            uid, steps = parent[uid], steps + 1
        return steps if uid is None else -1  # -1: an ancestor is missing, so no project root

    return {uid: (state, recipe) for uid, _, state, recipe in rows if depth(uid) == 4}


def judge_every_mous(source: Connection) -> dict[str, Verdict]:
    """MOUS UID → its verdict, for every member OUS in the source."""
    sessions = derived_sessions(source)
    caltables: dict[str, set[int]] = defaultdict(set)
    scripted: set[str] = set()
    for mous_uid, name in source.execute(text("SELECT asa_ous_id, ngas_file_id FROM alma.asa_product_files")):
        if (found := CALTABLES_NAME.search(name)) is not None:
            caltables[mous_uid].add(int(found.group(1)))
        if name.endswith(CALIBRATION_SCRIPT_SUFFIX):
            scripted.add(mous_uid)
    sb_count: dict[str, int] = defaultdict(int)
    for (mous_uid,) in source.execute(text("SELECT mous_status_uid FROM alma.bmmv_schedblock")):
        sb_count[mous_uid] += 1
    verdicts = {}
    for mous_uid, (state, recipe) in member_ous(source).items():
        mapping = sessions.get(mous_uid, ())
        calibrated = tuple(number for number, ebs in enumerate(mapping, start=1) if ebs)
        kind = _calibration_kind(mous_uid in scripted, bool(caltables[mous_uid]), recipe)
        failing = {
            "deleted_ous": state == "Deleted",
            "manual_calibration": kind == "manual",
            "no_pass_ebs": not calibrated,
            "no_calibration_products": kind == "none",
            "multiple_sbs": sb_count[mous_uid] > 1,
            "session_mismatch": calibrated != tuple(sorted(caltables[mous_uid])),
        }
        verdicts[mous_uid] = Verdict(
            reason=next((reason for reason in REASONS_IN_ORDER if failing[reason]), None),
            calibration_kind=kind,
            pass_eb_count=sum(len(ebs) for ebs in mapping),
            session_count=len(mapping),
            caltables_sessions=tuple(sorted(caltables[mous_uid])),
        )
    return verdicts


def _calibration_kind(has_script: bool, has_caltables: bool, recipe: str | None) -> str:
    # An archived calibration script means a hand calibration whatever else is there; a Manual* recipe
    # only counts when no caltables were archived.
    if has_script:
        return "manual"
    if has_caltables:
        return "pipeline"
    if recipe is not None and recipe.startswith("Manual"):
        return "manual"
    return "none"

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
    "unknown_array",
    "session_mismatch",
    "malformed_eb_uid",
    "malformed_reference",
    "unsafe_product_name",
    "product_name_clash",
)
# CONTRACT.md's REQUESTEDARRAY spellings (case aside) that a restore task exists for.
KNOWN_ARRAYS: Final = frozenset({"TWELVE-M", "SEVEN-M", "ACA", "TP-ARRAY", "TP"})
# What a PPR can carry: UIDs as uid://A001/X…/X… (lower-case hex), project codes and partIds as one word.
ARCHIVE_UID: Final = re.compile(r"uid://A[0-9]{3}/X[0-9a-f]+/X[0-9a-f]+")
PROJECT_CODE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
PART_ID: Final = re.compile(r"[^\s\x00-\x1f\x7f]+")
# The products a restore lays out in products/ (CONTRACT.md's names), by suffix.
RESTORE_SUFFIXES: Final = (
    "caltables.tgz", "caltables.tar.gz", ".ms.calapply.txt", ".ms.flagversions.tgz",
    ".ms.flagversions.tar.gz", "pipeline_manifest.xml",
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
    blocks: dict[str, list[tuple[str, str | None, str | None]]] = defaultdict(list)
    for mous_uid, sb_uid, sb_status_uid, array in source.execute(text(
        "SELECT mous_status_uid, archive_uid, sb_status_uid, requestedarray FROM alma.bmmv_schedblock"
    )):
        blocks[mous_uid].append((sb_uid, sb_status_uid, array))
    restore_targets = _restore_targets(source)
    references = _references(source)
    verdicts = {}
    for mous_uid, (state, recipe) in member_ous(source).items():
        mapping = sessions.get(mous_uid, ())
        calibrated = tuple(number for number, ebs in enumerate(mapping, start=1) if ebs)
        kind = _calibration_kind(mous_uid in scripted, bool(caltables[mous_uid]), recipe)
        block = blocks[mous_uid][0] if len(blocks[mous_uid]) == 1 else (None, None, None)
        arrays = {(array or "").upper() for _, _, array in blocks[mous_uid]}
        targets = restore_targets[mous_uid]
        failing = {
            "deleted_ous": state == "Deleted",
            "manual_calibration": kind == "manual",
            "no_pass_ebs": not calibrated,
            "no_calibration_products": kind == "none",
            "multiple_sbs": len(blocks[mous_uid]) > 1,
            "unknown_array": not arrays or not arrays <= KNOWN_ARRAYS,
            "session_mismatch": calibrated != tuple(sorted(caltables[mous_uid])),
            "malformed_eb_uid": any(not ARCHIVE_UID.fullmatch(uid) for ebs in mapping for uid in ebs),
            "malformed_reference": not _references_fit(references.get(mous_uid), block),
            "unsafe_product_name": any("/" in name or name in {"", ".", ".."} for name in targets),
            "product_name_clash": any(len(names) > 1 for names in targets.values()),
        }
        verdicts[mous_uid] = Verdict(
            reason=next((reason for reason in REASONS_IN_ORDER if failing[reason]), None),
            calibration_kind=kind,
            pass_eb_count=sum(len(ebs) for ebs in mapping),
            session_count=len(mapping),
            caltables_sessions=tuple(sorted(caltables[mous_uid])),
        )
    return verdicts


def _restore_target(name: str) -> str:
    bare = name.removeprefix("member.")
    return bare.removesuffix(".tar.gz") + ".tgz" if bare.endswith(".tar.gz") else bare


def _restore_targets(source: Connection) -> dict[str, dict[str, set[str]]]:
    """MOUS → name in products/ → the archived names that land there."""
    targets: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for mous_uid, name in source.execute(text("SELECT asa_ous_id, ngas_file_id FROM alma.asa_product_files")):
        if name.endswith(RESTORE_SUFFIXES) and "auxcaltables" not in name:
            targets[mous_uid][_restore_target(name)].add(name)
    return targets


def _references(source: Connection) -> dict[str, tuple[str | None, ...]]:
    """MOUS → (MOUS, SOUS, GOUS, project code, ObsProject, partId, ProjectStatus), as a PPR carries them."""
    ous = {
        uid: (parent, project, part, project_status)
        for uid, parent, project, part, project_status in source.execute(text(
            "SELECT status_entity_id, parent_obs_unit_set_status_id, obs_project_id, domain_entity_id, "
            "obs_project_status_id FROM alma.obs_unit_set_status"
        ))
    }
    codes = dict(source.execute(text("SELECT prj_archive_uid, prj_code FROM alma.bmmv_obsproject")).all())
    qa2 = {
        uid: (project, part) for uid, project, part in source.execute(text(
            "SELECT ous_status_entity_id, obsunitsetuid, obsunitsetpartid FROM alma.aqua_ous"
        ))
    }
    found = {}
    for mous_uid, (gous_uid, project_uid, part_id, project_status_uid) in ous.items():
        sous_uid = ous.get(gous_uid, (None,))[0] if gous_uid else None
        qa2_project, qa2_part = qa2.get(mous_uid, (None, None))
        found[mous_uid] = (
            mous_uid, sous_uid, gous_uid, codes.get(project_uid), qa2_project or project_uid,
            qa2_part or part_id, project_status_uid,
        )
    return found


def _references_fit(references: tuple[str | None, ...] | None, block: tuple[str | None, ...]) -> bool:
    if references is None:
        return False
    mous, sous, gous, code, obs_project, part, project_status = references
    uids = (mous, sous, gous, obs_project, project_status, block[0], block[1])
    return (
        all(uid is not None and ARCHIVE_UID.fullmatch(uid) for uid in uids)
        and code is not None and PROJECT_CODE.fullmatch(code) is not None
        and part is not None and PART_ID.fullmatch(part) is not None
    )


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

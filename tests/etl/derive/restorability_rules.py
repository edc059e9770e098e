"""Test helper: every member OUS judged from the source alone, by the rules docs/architecture.md states.

A second, deliberately plain statement of the restorability rules (Python over rows read with plain
SQL from the stand-in), to compare with what the sync derives in SQL from the mirror. It shares no code
with etl/: the session rule is the test helpers' own query (tests/etl/demo/session_rule.py), and the
archive's record of each calibration is read here from the stand-in NGAS's catalogue (``alma.ngas_file``,
what the stand-in serves) with the standard library's XML parser and regular expressions, not with
etl/calibration's readers (see ``_records``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from xml.etree import ElementTree

from sqlalchemy import Connection, text

from tests.etl.demo.session_rule import derived_sessions

# CONTRACT.md: '<mous>.session_<N>.caltables.tgz' (older packages '.tar.gz'), one per calibration session.
CALTABLES_NAME: Final = re.compile(r"\.session_([0-9]{1,6})\.caltables\.(tgz|tar\.gz)$")
CALIBRATION_SCRIPT_SUFFIX: Final = "scriptForCalibration.py"
# Hand-run steps after a pipeline calibration (NRAO's NGAS_FILE_ID LIKE '%scriptFor%Cal%').
POST_STEP_SCRIPT: Final = re.compile(r".*scriptFor.*Cal.*")
# The reasons in the order docs/architecture.md gives them: the first that applies is reported.
REASONS_IN_ORDER: Final = (
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
    # The archive's record of the calibration against the session rule (CALIBRATION-RECORD.md).
    calibration_record: str = "absent"


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
    post_steps: set[str] = set()
    for mous_uid, name in source.execute(text("SELECT asa_ous_id, ngas_file_id FROM alma.asa_product_files")):
        if (found := CALTABLES_NAME.search(name)) is not None:
            caltables[mous_uid].add(int(found.group(1)))
        if name.endswith(CALIBRATION_SCRIPT_SUFFIX):
            scripted.add(mous_uid)
        elif POST_STEP_SCRIPT.fullmatch(name):
            post_steps.add(mous_uid)
    blocks: dict[str, list[tuple[str, str | None, str | None]]] = defaultdict(list)
    for mous_uid, sb_uid, sb_status_uid, array in source.execute(text(
        "SELECT mous_status_uid, archive_uid, sb_status_uid, requestedarray FROM alma.bmmv_schedblock"
    )):
        blocks[mous_uid].append((sb_uid, sb_status_uid, array))
    restore_targets = _restore_targets(source)
    references = _references(source)
    members = member_ous(source)
    records = _records(source, sessions, {uid for uid in members if caltables[uid]})
    verdicts = {}
    for mous_uid, (state, recipe) in members.items():
        mapping = sessions.get(mous_uid, ())
        record = records.get(mous_uid, ArchivedRecord("absent", (), False))
        calibrated = tuple(number for number, ebs in enumerate(mapping, start=1) if ebs)
        kind = _calibration_kind(mous_uid in scripted, bool(caltables[mous_uid]), recipe)
        if kind == "pipeline" and mous_uid in post_steps:
            kind = "pipeline_then_manual"
        # Several SBs: the PPR names one of them (the archived PPR's, else the one with most Pass EBs).
        block = min(blocks[mous_uid]) if blocks[mous_uid] else (None, None, None)
        arrays = {(array or "").upper() for _, _, array in blocks[mous_uid]}
        targets = restore_targets[mous_uid]
        failing = {
            "deleted_ous": state == "Deleted",
            "manual_calibration": kind == "manual",
            "manual_post_calibration": kind == "pipeline_then_manual",
            "no_pass_ebs": not calibrated,
            "no_calibration_products": kind == "none",
            "multiple_sbs": len(blocks[mous_uid]) > 1 and record.state not in ("agrees", "follows_archive"),
            "unknown_array": not arrays or not arrays <= KNOWN_ARRAYS,
            "session_mismatch": calibrated != tuple(sorted(caltables[mous_uid]))
            and record.state != "follows_archive",
            "archive_record_disagrees": record.state == "disagrees",
            "restore_needs_extra_steps": bool(record.extra_steps),
            # Without a manifest that parses, the request's is written from the mirror: it names
            # each Pass EB's flagversions and calapply, which must be archived.
            "manifest_file_missing": kind == "pipeline" and not record.manifest_parsed and any(
                f"{_disk(uid)}{suffix}" not in targets
                for ebs in mapping for uid in ebs for suffix in (".ms.flagversions.tgz", ".ms.calapply.txt")
            ),
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
            calibration_record=record.state,
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


# --- the archive's record of a calibration (CALIBRATION-RECORD.md) -------------------------------------

# The three documents a pipeline calibration archives, by the end of their names.
MANIFEST_SUFFIX: Final = ".pipeline_manifest.xml"
SCRIPT_SUFFIX: Final = ".casa_piperestorescript.py"
REQUEST_SUFFIX: Final = ".pprequest.xml"
# An older delivery's archived PPR is PPR_<mous>.xml, of no calibration in particular.
LEGACY_REQUEST: Final = re.compile(r"PPR_uid___.*\.xml")
# Lines the pipeline writes in a restore script, around its one *_restoredata call; any other
# statement was added by hand and is a step a PPR cannot carry. Comments are no statements.
PIPELINE_LINE: Final = re.compile(
    r"(h_init\(\)|\w+ = h_init\(\)|\w+\.set_state\(.*\)|__rethrow_casa_exceptions = True|try:|finally:|"
    r"h_save\(\)|#.*)"
)
RESTORE_CALL: Final = re.compile(r"\w+_restoredata\s*\((?P<arguments>.*)\)")


@dataclass(frozen=True)
class ArchivedRecord:
    state: str  # agrees, disagrees, unavailable, malformed
    extra_steps: tuple[str, ...]
    manifest_parsed: bool


class Unreadable(Exception):
    """A document that is not what its name says."""


@dataclass(frozen=True)
class _Document:
    name: str
    kind: str
    content: bytes | None  # None: the stand-in does not have it
    archived_at: datetime | None


def _records(
    source: Connection, sessions: Mapping[str, Sequence[Sequence[str]]], calibrated: set[str]
) -> dict[str, ArchivedRecord]:
    """MOUS → its record, for every member OUS with caltables that lists record documents."""
    listed: dict[str, list[_Document]] = defaultdict(list)
    caltables: dict[str, set[str]] = defaultdict(set)
    for mous_uid, name, content, archived_at in source.execute(text(
        "SELECT f.asa_ous_id, f.ngas_file_id, n.content, n.ingestion_date FROM alma.asa_product_files f "
        "LEFT JOIN alma.ngas_file n ON n.file_id = f.ngas_file_id"
    )):
        if mous_uid not in calibrated:
            continue
        if CALTABLES_NAME.search(name):
            caltables[mous_uid].add(_restore_target(name))
        kind = _document_kind(name)
        if kind is not None:
            held = None if content is None else bytes(content)
            listed[mous_uid].append(_Document(name, kind, held, archived_at))
    return {
        mous_uid: _judge(
            _chosen(documents, caltables[mous_uid]), sessions.get(mous_uid, ()),
            {int(m.group(1)) for name in caltables[mous_uid] if (m := CALTABLES_NAME.search(name))},
        )
        for mous_uid, documents in listed.items()
    }


def _document_kind(name: str) -> str | None:
    bare = name.removeprefix("member.")
    if bare.endswith(MANIFEST_SUFFIX):
        return "manifest"
    if bare.endswith(SCRIPT_SUFFIX):
        return "restore_script"
    if bare.endswith(REQUEST_SUFFIX) or LEGACY_REQUEST.fullmatch(bare):
        return "request"
    return None


def _stem(document: _Document) -> str:
    """The calibration a document belongs to: its name without prefix and suffix ('' for PPR_*.xml)."""
    bare = document.name.removeprefix("member.")
    for suffix in (MANIFEST_SUFFIX, SCRIPT_SUFFIX, REQUEST_SUFFIX):
        if bare.endswith(suffix):
            return bare.removesuffix(suffix)
    return ""


def _chosen(documents: Sequence[_Document], archived_caltables: set[str]) -> dict[str, _Document]:
    """The documents of the calibration whose caltables are archived, the newest of those (kind → doc).

    A legacy PPR_<mous>.xml belongs to whichever calibration has no PPR of its own.
    """
    calibrations: dict[str, dict[str, _Document]] = defaultdict(dict)
    legacy = [document for document in documents if _stem(document) == ""]
    for document in sorted(documents, key=lambda d: d.name):
        if _stem(document):
            calibrations[_stem(document)][document.kind] = document
    if not calibrations:
        return {"request": legacy[0]}
    for group in calibrations.values():
        if legacy:
            group.setdefault("request", legacy[0])

    def rank(group: dict[str, _Document]) -> tuple[bool, datetime]:
        manifest = group.get("manifest")
        try:
            named = _manifest_caltables(manifest.content) if manifest and manifest.content else None
        except Unreadable:
            named = None
        newest = max((d.archived_at for d in group.values() if d.archived_at), default=datetime.min)
        return bool(named) and set(named or ()) <= archived_caltables, newest

    return max(calibrations.values(), key=rank)


def _judge(
    chosen: Mapping[str, _Document], rule: Sequence[Sequence[str]], caltables: set[int]
) -> ArchivedRecord:
    """Disagrees when any readable document places an EB otherwise than the session rule (Pass EBs);
    else malformed when one does not read, unavailable when one is not in the archive, else agrees.
    A disagreement follows the archive when all three documents read, place every EB alike, name the
    rule's EBs and calibrate exactly the sessions with caltables."""
    ours = {_disk(uid): number for number, ebs in enumerate(rule, start=1) for uid in ebs}
    readers = {
        "manifest": _manifest_sessions, "restore_script": _script_sessions, "request": _request_sessions,
    }
    disagrees = malformed = unavailable = manifest_parsed = False
    maps: dict[str, dict[str, int]] = {}
    extra_steps: tuple[str, ...] = ()
    for kind, document in chosen.items():
        if document.content is None:
            unavailable = True
            continue
        try:
            theirs = readers[kind](document.content)
            if kind == "restore_script":
                extra_steps = _extra_steps(document.content)
        except Unreadable:
            malformed = True
            continue
        manifest_parsed = manifest_parsed or kind == "manifest"
        disagrees = disagrees or theirs != ours
        maps[kind] = theirs
    if disagrees:
        key = (
            len(maps) == 3 and maps["manifest"] == maps["restore_script"] == maps["request"]
            and set(maps["manifest"]) == set(ours) and set(maps["manifest"].values()) == caltables
        )
        return ArchivedRecord("follows_archive" if key else "disagrees", extra_steps, manifest_parsed)
    state = "malformed" if malformed else "unavailable" if unavailable else "agrees"
    return ArchivedRecord(state, extra_steps, manifest_parsed)


def _disk(uid: str) -> str:
    """An EB UID as the pipeline names its ASDM on disk (uid___A002_X…_X…)."""
    return uid.replace(":", "_").replace("/", "_")


def _xml(content: bytes) -> ElementTree.Element:
    try:
        # The demo generator's own documents, read from the stand-in's catalogue: trusted input.
        return ElementTree.fromstring(content)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise Unreadable(str(exc)) from None


def _local(element: ElementTree.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _children(element: ElementTree.Element, name: str) -> Iterable[ElementTree.Element]:
    return (child for child in element if _local(child) == name)


def _manifest_ous(content: bytes) -> ElementTree.Element:
    root = _xml(content)
    ous = next(_children(root, "ous"), None) if _local(root) == "piperesults" else None
    if ous is None:
        raise Unreadable("not a pipeline manifest")
    return ous


def _manifest_sessions(content: bytes) -> dict[str, int]:
    """EB disk name → session number, from the manifest's <session name="session_N"><asdm name=…>."""
    found = {}
    for session in _children(_manifest_ous(content), "session"):
        label = re.fullmatch(r"session_([0-9]+)", session.get("name", ""))
        if label is None:
            raise Unreadable("a session not named session_N")
        for asdm in _children(session, "asdm"):
            found[asdm.get("name", "").removesuffix(".ms")] = int(label.group(1))
    return found


def _manifest_caltables(content: bytes) -> list[str]:
    return [
        caltables.get("name", "")
        for session in _children(_manifest_ous(content), "session")
        for caltables in _children(session, "caltables")
    ]


def _script_lines(content: bytes) -> list[str]:
    return [line.strip() for line in content.decode("utf-8").splitlines() if line.strip()]


def _script_sessions(content: bytes) -> dict[str, int]:
    """EB disk name → session number, from the restore call's vis=[…] and session=[…] lists."""
    calls = [found for line in _script_lines(content) if (found := RESTORE_CALL.fullmatch(line))]
    if len(calls) != 1:
        raise Unreadable("not one restore call")
    arguments = calls[0].group("arguments")
    vis = re.search(r"vis=\[(.*?)\]", arguments)
    labels = re.search(r"session=\[(.*?)\]", arguments)
    if vis is None or labels is None:
        raise Unreadable("a restore call without vis and session")
    names = re.findall(r"'([^']*)'", vis.group(1))
    numbers = [int(number) for number in re.findall(r"'session_([0-9]+)'", labels.group(1))]
    if len(names) != len(numbers):
        raise Unreadable("vis and session of different lengths")
    return dict(zip(names, numbers, strict=True))


IMPORT_LINE: Final = re.compile(r"(from \S+ )?import (?P<names>[\w, .]+?)\s*(#.*)?")


def _extra_steps(content: bytes) -> tuple[str, ...]:
    """Hand-added lines; an import is one only when another line uses a name it imports."""
    lines = [
        line for line in _script_lines(content)
        if not PIPELINE_LINE.fullmatch(line) and not RESTORE_CALL.fullmatch(line)
    ]
    used = set(re.findall(r"\w+", " ".join(line for line in lines if not IMPORT_LINE.fullmatch(line))))
    return tuple(line for line in lines if not _inert_import(line, used))


def _inert_import(line: str, used: set[str]) -> bool:
    found = IMPORT_LINE.fullmatch(line)
    if found is None:
        return False
    names = {name.strip().split(" as ")[-1].split(".")[0] for name in found.group("names").split(",")}
    return not names & used


def _request_sessions(content: bytes) -> dict[str, int]:
    """EB disk name → session number, from the PPR's SESSION_n keywords; an ASDM no session names is
    session 1 (the pipeline's reading)."""
    root = _xml(content)
    if _local(root) != "SciPipeRequest":
        raise Unreadable("not a SciPipeRequest")
    values: dict[str, str] = {}
    for element in root.iter():
        if _local(element) == "Intents":
            keyword = next(_children(element, "Keyword"), None)
            value = next(_children(element, "Value"), None)
            if keyword is not None and keyword.text:
                values[keyword.text] = "" if value is None or value.text is None else value.text
    found: dict[str, int] = {}
    number = 1
    while f"SESSION_{number}" in values:
        for uid in values[f"SESSION_{number}"].split(" | "):
            if uid:
                found[_disk(uid)] = number
        number += 1
    for element in root.iter():
        if _local(element) == "AsdmDiskName" and element.text:
            found.setdefault(element.text.split(".", 1)[0], 1)
    return found

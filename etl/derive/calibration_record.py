"""Per pipeline-calibrated MOUS: the archive's record of its calibration, and whether it agrees.

The record is read from the documents the sync's first step cached (``calibration_document``): the
pipeline manifest and the restore script (the pipeline's own EB→session key) and the archived PPR (the
request the calibration ran from). Each is compared, EB by EB, with the mirror's session map (its QA0
Pass EBs; sessions without one are absent from the manifest and the script, which is no disagreement).

``state``: ``disagrees`` when any document places an EB elsewhere than the mirror does; else
``malformed`` when one does not parse; else ``unavailable`` when one could not be fetched; else
``agrees``. A MOUS listing no record document has no row (``absent``). When no archive is configured,
a MOUS whose documents the mirror does not hold keeps the record it had.

A MOUS calibrated more than once lists several calibrations (several ``<recipe>`` stems): the record
uses the one whose caltables are archived, the newest when that does not decide.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any, Final

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    MetaData,
    Table,
    Text,
    and_,
    any_,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from etl.archive_names import MEMBER_PREFIX, disk_name, restore_name
from etl.calibration.compare import SessionDifference, describe, eb_differences
from etl.calibration.documents import manifest_of, request_sched_block_of, request_sessions_of, script_of
from etl.calibration.manifest import Manifest
from etl.calibration.names import LIKE_PATTERNS, DocumentKind, calibration_stem, document_kind
from etl.calibration.restore_script import RestoreScript
from etl.copy import analyze, copy_rows
from etl.derive.tree import member_ous
from etl.mirror import (
    CalibrationDocument,
    CalibrationRecord,
    CalibrationRecordProduct,
    CalibrationRecordSession,
    ProductFile,
    SessionAssignment,
    table_of,
)
from etl.mirror.states import RecordState
from etl.restore.kinds import RESTORE_PRODUCT_KINDS
from etl.steps.figures import StepCount, StepFigures, timed_step
from etl.steps.merge import MergeTarget, merge
from etl.steps.stage import create_stage

documents = table_of(CalibrationDocument)
log = logging.getLogger(__name__)

records = table_of(CalibrationRecord)
record_sessions = table_of(CalibrationRecordSession)
record_products = table_of(CalibrationRecordProduct)
RECORD_COLUMNS: Final = tuple(column.name for column in records.columns if column.name != "derived_run_id")
SESSION_COLUMNS: Final = ("mous_uid", "document", "session_number", "eb_uids")
PRODUCT_COLUMNS: Final = ("mous_uid", "file_name", "restore_name")
# A disagreement names at most this many EBs; the rest are counted.
SHOWN_DIFFERENCES: Final = 8
# MOUSes judged, and their rows staged, before the next are read (some 20 MB of rows each time).
JUDGED_AT_ONCE: Final = 5_000
PER_EB_SUFFIXES: Final = {
    "calapply": (".ms.calapply.txt",),
    "flagversions": (".ms.flagversions.tgz", ".ms.flagversions.tar.gz"),
}


@dataclass(frozen=True)
class ListedDocument:
    """A record document a MOUS lists, with what the cache holds of it (state None: no row yet)."""

    file_name: str
    kind: DocumentKind
    state: str | None
    parsed: dict[str, Any] | None
    parse_problem: str | None
    problem: str | None
    archived_at: datetime | None

    @property
    def stem(self) -> str:
        return calibration_stem(self.file_name)


@dataclass(frozen=True)
class RestoreProduct:
    file_name: str
    kind: str
    session_number: int | None


@dataclass(frozen=True)
class Record:
    """One MOUS's record, ready to be staged."""

    state: str
    calibrations: int
    files: dict[str, str]  # document kind -> archived file name, for the documents used
    manifest: Manifest | None = None
    script: RestoreScript | None = None
    disagreement: str | None = None
    problems: tuple[dict[str, str], ...] = ()
    sessions: tuple[tuple[str, int, tuple[str, ...]], ...] = ()
    products: tuple[tuple[str, str], ...] = ()
    manifest_state: str | None = None  # parsed, malformed, unavailable; None: no manifest archived
    request_sb: tuple[str | None, str | None] = (None, None)  # the archived PPR's SB and SBStatus


class _Keep:
    """The record stays as it was: its documents cannot be judged in this run (no archive configured)."""


KEEP: Final = _Keep()
Judgement = Record | _Keep | None


def mark_record_changes(connection: Connection, affected: Table, run_id: int) -> None:
    """Add the MOUSes listing a document this run claimed (etl.load.documents.claim_documents).

    That is this run's fetch, and that of any sync that fetched documents and then did not commit:
    documents are written outside the sync's transaction, so they outlive a run that rolled back,
    and stay unclaimed until a run commits.
    """
    written = (
        select(func.unnest(documents.c.mous_uids).label("mous_uid"))
        .where(documents.c.updated_run_id == run_id)
        .subquery("written")
    )
    members = member_ous()
    connection.execute(
        pg_insert(affected)
        .from_select(
            ["mous_uid"],
            select(written.c.mous_uid).distinct().join(members, members.c.mous_uid == written.c.mous_uid),
        )
        .on_conflict_do_nothing()
    )
    analyze(connection, affected)


def derive_calibration_records(
    connection: Connection, affected: Table, run_id: int, record_events: bool, documents_fetched: bool
) -> list[StepFigures]:
    """Re-derive the affected MOUSes' records; the figures of the records (judging them included),
    their sessions and their products.

    ``documents_fetched``: whether this run's fetch step ran (an archive is configured).
    """
    doing = "comparing the archive's records of the calibrations"
    with timed_step(records.name, log, doing=doing, unit="MOUSes") as step:
        scope, (record_stage, session_stage, product_stage) = _judge_affected(
            connection, affected, documents_fetched
        )
        _merge_part(connection, step, records, record_stage, scope, run_id, record_events)
    figures = [step.figures]
    for table, stage in ((record_sessions, session_stage), (record_products, product_stage)):
        with timed_step(table.name, log, doing="merging", unit="MOUSes") as step:
            _merge_part(connection, step, table, stage, scope, run_id, record_events=False)
        figures.append(step.figures)
    return figures


def _judge_affected(
    connection: Connection, affected: Table, documents_fetched: bool
) -> tuple[Table, tuple[Table, Table, Table]]:
    """Judge every affected MOUS that lists a record document; returns the scope of the merges (the
    affected MOUSes, less those whose records are kept as they are) and the stages of the three tables."""
    candidates = _candidates(connection, affected)
    # Without an archive, a MOUS listing a document the mirror does not hold keeps its record: set
    # those aside before reading anything else about them (all of them, in a first sync).
    kept = _temporary(connection, "record_kept")
    if not documents_fetched:
        _set_aside_unheld(connection, candidates, kept)
    stages = _stages(connection)
    also_kept: list[dict[str, str]] = []
    # A chunk of MOUSes at a time, their rows staged before the next is read: at ALMA scale the
    # products and judged rows of every MOUS at once held 220 MB more than a sync's other steps.
    listed_by_mous = _listed_documents(connection, candidates)
    while chunk := list(islice(listed_by_mous, JUDGED_AT_ONCE)):
        uids = [mous_uid for mous_uid, _listed in chunk]
        sessions = _mirror_sessions(connection, uids)
        products = _restore_products(connection, uids)
        judged = _Rows()
        for mous_uid, listed in chunk:
            judgement = judge(
                listed, sessions.get(mous_uid, {}), products.get(mous_uid, ()), documents_fetched
            )
            if isinstance(judgement, Record):
                judged.add(mous_uid, judgement)
            elif judgement is KEEP:
                also_kept.append({"mous_uid": mous_uid})
        judged.copy_into(connection, stages)
    if also_kept:
        connection.execute(insert(kept), also_kept)
    for stage in stages:
        analyze(connection, stage)
    return _merge_scope(connection, affected, kept), stages


def _merge_part(
    connection: Connection, step: StepCount, table: Table, stage: Table, scope: Table, run_id: int,
    record_events: bool,
) -> None:
    """Merge one of the records' three tables from its stage (its key, its columns); ``step`` counts."""
    key = tuple(column.name for column in stage.primary_key)
    target = MergeTarget(
        table, key, tuple(stage.c.keys()), recorded=(*table.info.get("watch", ()), "mous_uid"),
        stamp={"derived_run_id": run_id} if table is records else {}, scope=scope,
    )
    step.changes = merge(connection, target, stage, run_id, record_events)
    step.read = connection.execute(select(func.count()).select_from(stage)).scalar_one()


# --- judging one MOUS ------------------------------------------------------------------------------


def judge(
    listed: Sequence[ListedDocument],
    mirror_sessions: Mapping[int, Sequence[str]],
    products: Sequence[RestoreProduct],
    documents_fetched: bool,
) -> Judgement:
    """The record of one MOUS from the documents it lists; KEEP when they cannot be judged now."""
    if not listed:
        return None
    calibrations = _calibrations(listed)
    stem, why = _chosen(calibrations, products)
    used = calibrations[stem]
    problems: list[dict[str, str]] = []
    if len(calibrations) > 1:
        problems.append(_multiple_calibrations(calibrations, stem, why))
    parsed: dict[str, dict[str, Any]] = {}
    malformed = unavailable = False
    states: dict[str, str] = {}
    for kind, document in used.items():
        if document.state is None and not documents_fetched:
            return KEEP
        if document.state == "fetched" and document.parse_problem is None and document.parsed is not None:
            parsed[kind] = document.parsed
            states[kind] = "parsed"
        elif document.state == "fetched":
            malformed = True
            states[kind] = "malformed"
            problems.append(_finding("calibration_document_malformed", document,
                                     f"does not parse: {document.parse_problem}"))
        else:
            unavailable = True
            states[kind] = "unavailable"
            problems.append(_finding("calibration_document_unavailable", document, document.problem or (
                "not fetched yet: listed after this sync read the archive's file list; the next sync "
                "fetches it"
            )))
    manifest = manifest_of(parsed["manifest"]) if "manifest" in parsed else None
    script = script_of(parsed["restore_script"]) if "restore_script" in parsed else None
    request = request_sessions_of(parsed["request"]) if "request" in parsed else None
    archived = _archived_maps(manifest, script, request)
    disagreement = _disagreement(mirror_sessions, archived, {k: d.file_name for k, d in used.items()})
    state: RecordState = (
        RecordState.DISAGREES if disagreement else RecordState.MALFORMED if malformed
        else RecordState.UNAVAILABLE if unavailable else RecordState.AGREES
    )
    if disagreement and archive_key(archived, mirror_sessions, products):
        # The calibration's own key, consistent in every document and with its caltables: a restore
        # must follow it, AQUA's sessions notwithstanding. The disagreement stays a finding.
        state = RecordState.FOLLOWS_ARCHIVE
        problems.append({
            "kind": "archive_key_differs", "subject": used["manifest"].file_name,
            "detail": "the archive's record (manifest, restore script and archived PPR, which agree "
            "with each other and with the archived caltables) differs from the session rule over "
            f"AQUA's tables, and the PPR follows the archive: {disagreement}",
        })
    return Record(
        state=state, calibrations=len(calibrations),
        files={kind: document.file_name for kind, document in used.items()},
        manifest=manifest, script=script, disagreement=disagreement, problems=tuple(problems),
        sessions=tuple(
            (kind, number, ebs)
            for kind, mapping in archived.items()
            for number, ebs in sorted(mapping.items())
        ),
        products=tuple(_restore_names(manifest, products)) if manifest is not None else (),
        manifest_state=states.get("manifest"),
        request_sb=request_sched_block_of(parsed["request"]) if "request" in parsed else (None, None),
    )


def archive_key(
    archived: Mapping[str, Mapping[int, Sequence[str]]],
    mirror_sessions: Mapping[int, Sequence[str]],
    products: Sequence[RestoreProduct],
) -> bool:
    """Whether the record is the calibration's key: manifest, restore script and archived PPR all
    parsed and place every EB alike, those are the mirror's Pass EBs, and caltables are archived for
    exactly the sessions they calibrate."""
    if set(archived) != {"manifest", "restore_script", "request"}:
        return False
    manifest = archived["manifest"]
    if eb_differences(manifest, archived["restore_script"]) or eb_differences(manifest, archived["request"]):
        return False
    ours = {disk_name(eb) for ebs in mirror_sessions.values() for eb in ebs}
    theirs = {disk_name(eb) for ebs in manifest.values() for eb in ebs}
    calibrated = {number for number, ebs in manifest.items() if ebs}
    caltables = {p.session_number for p in products if p.kind == "caltables"}
    return ours == theirs and calibrated == caltables


def _calibrations(listed: Sequence[ListedDocument]) -> dict[str, dict[str, ListedDocument]]:
    """Documents by calibration stem; a legacy ``PPR_<ous>.xml`` joins the one calibration there is."""
    stems: dict[str, dict[str, ListedDocument]] = defaultdict(dict)
    legacy = [document for document in listed if document.stem == ""]
    for document in sorted(listed, key=lambda d: d.file_name):
        if document.stem:
            stems[document.stem][document.kind] = document
    if not stems:
        return {"": {"request": legacy[0]}}
    for group in stems.values():
        if legacy and "request" not in group:
            group["request"] = legacy[0]
    return dict(stems)


Calibrations = Mapping[str, Mapping[str, ListedDocument]]


def _chosen(calibrations: Calibrations, products: Sequence[RestoreProduct]) -> tuple[str, str]:
    """The calibration whose caltables are archived; among several, the newest. (stem, why it)"""
    archived = {name for product in products if product.kind == "caltables"
                for name in (product.file_name, restore_name(product.file_name))}

    def rank(stem: str) -> tuple[bool, datetime, str]:
        group = calibrations[stem]
        manifest = group.get("manifest")
        caltables_archived = False
        if manifest is not None and manifest.parsed is not None and manifest.parse_problem is None:
            listed = [s.caltables for s in manifest_of(manifest.parsed).sessions if s.caltables]
            caltables_archived = bool(listed) and all(name in archived for name in listed)
        newest = max(
            (d.archived_at for d in group.values() if d.archived_at is not None), default=datetime.min
        )
        return caltables_archived, newest, stem

    ranked = sorted(calibrations, key=rank, reverse=True)
    chosen = ranked[0]
    if len(ranked) == 1:
        return chosen, "the only one"
    first, second = rank(chosen), rank(ranked[1])
    if first[0] and not second[0]:
        return chosen, "whose caltables are archived"
    return chosen, "the newest archived" + (", whose caltables are archived" if first[0] else "")


def _multiple_calibrations(calibrations: Calibrations, used: str, why: str) -> dict[str, str]:
    described = [
        f"{stem or 'the legacy request'} ({', '.join(d.file_name for _, d in sorted(group.items()))})"
        for stem, group in sorted(calibrations.items())
    ]
    own = calibrations[used]
    subject = own["manifest"].file_name if "manifest" in own else min(d.file_name for d in own.values())
    return {
        "kind": "multiple_calibrations",
        "subject": subject,
        "detail": f"{len(calibrations)} calibrations are archived: {', '.join(described)}; the record uses "
        f"{used or 'the legacy request'} ({why})",
    }


def _finding(kind: str, document: ListedDocument, detail: str) -> dict[str, str]:
    return {"kind": kind, "subject": document.file_name, "detail": " ".join(detail.split())}


def _archived_maps(
    manifest: Manifest | None, script: RestoreScript | None, request: Mapping[int, tuple[str, ...]] | None
) -> dict[str, dict[int, tuple[str, ...]]]:
    maps: dict[str, dict[int, tuple[str, ...]]] = {}
    if manifest is not None:
        maps["manifest"] = manifest.eb_sessions()
    if script is not None:
        maps["restore_script"] = script.sessions()
    if request is not None:
        maps["request"] = dict(request)
    return maps


def _disagreement(
    mirror_sessions: Mapping[int, Sequence[str]],
    archived: Mapping[str, Mapping[int, Sequence[str]]],
    names: Mapping[str, str],
) -> str | None:
    found: dict[str, list[SessionDifference]] = {
        kind: differences for kind, mapping in archived.items()
        if (differences := eb_differences(mirror_sessions, mapping))
    }
    if not found:
        return None
    clauses = describe(found, names)
    shown = "; ".join(clauses[:SHOWN_DIFFERENCES])
    more = len(clauses) - SHOWN_DIFFERENCES
    return shown + (f"; and {more} more" if more > 0 else "")


def _restore_names(manifest: Manifest, products: Sequence[RestoreProduct]) -> Iterator[tuple[str, str]]:
    """(archived name, the manifest's name) for each product a restore opens that the manifest names."""
    caltables = {session.number: session.caltables for session in manifest.sessions}
    asdms = {asdm.eb: asdm for session in manifest.sessions for asdm in session.asdms}
    for product in products:
        name: str | None = None
        if product.kind == "caltables" and product.session_number is not None:
            name = caltables.get(product.session_number)
        elif product.kind in PER_EB_SUFFIXES:
            asdm = asdms.get(_eb_of(product.file_name, PER_EB_SUFFIXES[product.kind]))
            if asdm is not None:
                name = asdm.calapply if product.kind == "calapply" else asdm.flagversions
        elif product.kind == "manifest" and restore_name(product.file_name) == manifest.manifest:
            name = manifest.manifest
        if name:
            yield product.file_name, name


def _eb_of(file_name: str, suffixes: Iterable[str]) -> str:
    bare = file_name.removeprefix(MEMBER_PREFIX)
    for suffix in suffixes:
        if bare.endswith(suffix):
            return bare.removesuffix(suffix)
    return bare


# --- reading the mirror, writing the stages ---------------------------------------------------------


def _candidates(connection: Connection, affected: Table) -> Table:
    """The affected member OUSes with caltables: the pipeline-calibrated ones a record can exist for."""
    files = table_of(ProductFile)
    members = member_ous()
    candidates = _temporary(connection, "record_candidates")
    connection.execute(
        insert(candidates).from_select(
            ["mous_uid"],
            select(affected.c.mous_uid)
            .join(members, members.c.mous_uid == affected.c.mous_uid)
            .where(exists().where(files.c.mous_uid == affected.c.mous_uid, files.c.kind == "caltables")),
        )
    )
    analyze(connection, candidates)
    return candidates


def _document_names() -> Any:
    """product_file rows named as record documents (the exact test is ``document_kind``)."""
    name = table_of(ProductFile).c.file_name
    return or_(*(name.like(p, escape="\\") for patterns in LIKE_PATTERNS.values() for p in patterns))


def _set_aside_unheld(connection: Connection, candidates: Table, kept: Table) -> None:
    """Move from ``candidates`` to ``kept`` the MOUSes listing a document the cache has no row for."""
    files = table_of(ProductFile)
    unheld = (
        delete(candidates)
        .where(exists().where(
            files.c.mous_uid == candidates.c.mous_uid,
            _document_names(),
            ~exists().where(documents.c.file_id == files.c.file_name),
        ))
        .returning(candidates.c.mous_uid)
        .cte("unheld")
    )
    connection.execute(insert(kept).from_select(["mous_uid"], select(unheld.c.mous_uid)))
    analyze(connection, candidates)
    analyze(connection, kept)


def _temporary(connection: Connection, name: str) -> Table:
    table = Table(
        name, MetaData(), Column("mous_uid", Text, primary_key=True),
        prefixes=["TEMPORARY"], postgresql_on_commit="DROP",
    )
    table.create(connection)
    return table


def _listed_documents(
    connection: Connection, candidates: Table
) -> Iterator[tuple[str, list[ListedDocument]]]:
    """Per candidate MOUS (in UID order), the record documents it lists and what the cache has of each."""
    files = table_of(ProductFile)
    rows = connection.execute(
        select(
            files.c.mous_uid, files.c.file_name, documents.c.state, documents.c.parsed,
            documents.c.parse_problem, documents.c.problem, documents.c.archived_at,
        )
        .join(candidates, candidates.c.mous_uid == files.c.mous_uid)
        .outerjoin(documents, documents.c.file_id == files.c.file_name)
        .where(_document_names())
        .order_by(files.c.mous_uid, files.c.file_name),
        execution_options={"yield_per": 2000},
    )
    current: str | None = None
    listed: list[ListedDocument] = []
    for row in rows:
        kind = document_kind(row.file_name)
        if kind is None:
            continue
        if row.mous_uid != current:
            if current is not None:
                yield current, listed
            current, listed = row.mous_uid, []
        listed.append(ListedDocument(
            row.file_name, kind, row.state, row.parsed, row.parse_problem, row.problem, row.archived_at
        ))
    if current is not None:
        yield current, listed


def _mirror_sessions(
    connection: Connection, mous_uids: Sequence[str]
) -> dict[str, dict[int, tuple[str, ...]]]:
    """The mirror's map per MOUS: session number → its QA0 Pass EBs (sessions without one left out)."""
    assignment = table_of(SessionAssignment)
    found: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for mous_uid, number, eb_uid in connection.execute(
        select(assignment.c.mous_uid, assignment.c.session_number, assignment.c.eb_uid)
        .where(_among(assignment.c.mous_uid, mous_uids), assignment.c.qa0_status == "Pass")
        .order_by(assignment.c.mous_uid, assignment.c.session_number, assignment.c.position)
    ):
        found[mous_uid][number].append(eb_uid)
    return {uid: {n: tuple(ebs) for n, ebs in sessions.items()} for uid, sessions in found.items()}


def _restore_products(
    connection: Connection, mous_uids: Sequence[str]
) -> dict[str, tuple[RestoreProduct, ...]]:
    files = table_of(ProductFile)
    found: dict[str, list[RestoreProduct]] = defaultdict(list)
    for mous_uid, file_name, kind, number in connection.execute(
        select(files.c.mous_uid, files.c.file_name, files.c.kind, files.c.session_number)
        .where(_among(files.c.mous_uid, mous_uids), files.c.kind.in_(RESTORE_PRODUCT_KINDS))
    ):
        found[mous_uid].append(RestoreProduct(file_name, kind, number))
    return {uid: tuple(products) for uid, products in found.items()}


def _among(column: ColumnElement[str], mous_uids: Sequence[str]) -> ColumnElement[bool]:
    """The rows of ``mous_uids``, which come in the database's order: one array parameter (not one per
    MOUS), and the range they span, which lets the planner read product_file by its key (39 ms a
    chunk at ALMA scale, against 188 ms through the kind index with the array alone)."""
    return and_(
        column.between(mous_uids[0], mous_uids[-1]),
        column == any_(literal(list(mous_uids), ARRAY(Text))),
    )


def _merge_scope(connection: Connection, affected: Table, kept: Table) -> Table:
    """The MOUSes whose record rows this run may replace or delete: every affected one not kept."""
    scope = _temporary(connection, "record_scope")
    connection.execute(insert(scope).from_select(
        ["mous_uid"],
        select(affected.c.mous_uid).where(~exists().where(kept.c.mous_uid == affected.c.mous_uid)),
    ))
    analyze(connection, scope)
    return scope


@dataclass
class _Rows:
    """The staged rows of the judged records, kept as rows (not as the parsed documents behind them)."""

    records: list[tuple[Any, ...]] = field(default_factory=list)
    sessions: list[tuple[Any, ...]] = field(default_factory=list)
    products: list[tuple[Any, ...]] = field(default_factory=list)

    def add(self, mous_uid: str, record: Record) -> None:
        self.records.append(_record_row(mous_uid, record))
        self.sessions.extend((mous_uid, kind, number, list(ebs)) for kind, number, ebs in record.sessions)
        self.products.extend((mous_uid, file_name, name) for file_name, name in record.products)

    def copy_into(self, connection: Connection, stages: tuple[Table, Table, Table]) -> None:
        record_stage, session_stage, product_stage = stages
        copy_rows(connection, record_stage, RECORD_COLUMNS, self.records)
        copy_rows(connection, session_stage, SESSION_COLUMNS, self.sessions)
        copy_rows(connection, product_stage, PRODUCT_COLUMNS, self.products)


def _stages(connection: Connection) -> tuple[Table, Table, Table]:
    """The three tables' stages, empty: the judged rows are copied in a chunk of MOUSes at a time."""
    record_stage = create_stage(connection, records, RECORD_COLUMNS, ("mous_uid",), records.name)
    session_stage = create_stage(
        connection, record_sessions, SESSION_COLUMNS, ("mous_uid", "document", "session_number"),
        record_sessions.name,
    )
    product_stage = create_stage(
        connection, record_products, PRODUCT_COLUMNS, ("mous_uid", "file_name"), record_products.name
    )
    return record_stage, session_stage, product_stage


def _record_row(mous_uid: str, record: Record) -> tuple[Any, ...]:
    manifest, script = record.manifest, record.script
    values: dict[str, Any] = {
        "mous_uid": mous_uid,
        "state": record.state,
        "calibrations": record.calibrations,
        "manifest_file": record.files.get("manifest"),
        "restore_script_file": record.files.get("restore_script"),
        "request_file": record.files.get("request"),
        "casa_version": manifest.casa_version if manifest else None,
        "pipeline_version": manifest.pipeline_version if manifest else None,
        "mpi_servers": manifest.mpi_servers if manifest else None,
        "procedure": manifest.procedure if manifest else None,
        "restore_task": script.task if script else None,
        "legacy_restore_task": script.legacy if script else None,
        "ocorr_mode": script.argument("ocorr_mode") if script else None,
        "hm_rasterscan": script.argument("hm_rasterscan") if script else None,
        "restore_arguments": json.dumps(script.arguments, sort_keys=True) if script else None,
        "extra_steps": list(script.extra_steps) if script else [],
        "disagreement": record.disagreement,
        "problems": json.dumps(list(record.problems)),
        "manifest_state": record.manifest_state,
        "request_sb_uid": record.request_sb[0],
        "request_sb_status_uid": record.request_sb[1],
    }
    return tuple(values[name] for name in RECORD_COLUMNS)

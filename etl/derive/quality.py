"""Data-quality findings: problems in the source that a restore or a person should know about.

Findings are recomputed for the MOUSes a run touched. A finding that matches an open issue keeps it
open (``last_seen_run_id``), a new one opens an issue, and an open issue of a touched MOUS that is no
longer found is resolved by the run. None of this ever fails a sync.

Source rows the load quarantined (``quarantined_row``) are found while loading, for every table and
every run, into the run's ``source_findings``: their open issues are reconciled with all of them,
whichever MOUSes the run touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    cast,
    column,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, distinct_on

from etl.derive.tree import member_ous
from etl.mirror import (
    AsaDataset,
    CalibrationRecord,
    DataQualityIssue,
    ExecutionBlock,
    MousStatus,
    ObservingSession,
    OusStatusDocument,
    ProductFile,
    SchedulingBlock,
    SessionAssignment,
    ShiftlogEntry,
    table_of,
)
from etl.steps.stage import insert_count

issues = table_of(DataQualityIssue)
SOURCE_KINDS = ("quarantined_row",)


@dataclass(frozen=True)
class QualityCounts:
    opened: int
    resolved: int
    open_total: int


def create_source_findings(connection: Connection) -> Table:
    """The run's findings about source rows (quarantined while loading), dropped at commit."""
    findings = Table(
        "source_findings", MetaData(),
        Column("kind", Text), Column("mous_uid", Text), Column("subject", Text), Column("detail", Text),
        prefixes=["TEMPORARY"], postgresql_on_commit="DROP",
    )
    findings.create(connection)
    return findings


def record_findings(
    connection: Connection, affected: Table, run_id: int, source_findings: Table | None = None
) -> QualityCounts:
    """Reconcile the open issues with what the data shows now: the affected MOUSes' issues, and
    every issue about source rows when ``source_findings`` (all of this run's) is given."""
    findings = _stage_findings(connection, affected, source_findings)
    same_finding = and_(
        issues.c.kind == findings.c.kind,
        # coalesce, not IS NOT DISTINCT FROM: the planner can hash-join an equality (source-row
        # findings may have no MOUS; MOUS UIDs are never empty).
        func.coalesce(issues.c.mous_uid, "") == func.coalesce(findings.c.mous_uid, ""),
        issues.c.subject == findings.c.subject,
    )
    still_open = issues.c.resolved_run_id.is_(None)
    derived_scope = and_(
        issues.c.kind.not_in(SOURCE_KINDS), issues.c.mous_uid.in_(select(affected.c.mous_uid))
    )
    scope = derived_scope if source_findings is None else or_(derived_scope, issues.c.kind.in_(SOURCE_KINDS))
    resolved = connection.execute(
        update(issues)
        .where(still_open, scope, not_(exists().where(same_finding)))
        .values(resolved_run_id=run_id)
    ).rowcount
    connection.execute(
        update(issues)
        .where(still_open, same_finding)
        .values(last_seen_run_id=run_id, detail=findings.c.detail)
    )
    opened = insert_count(
        connection,
        insert(issues).from_select(
            ["kind", "mous_uid", "subject", "detail", "first_seen_run_id", "last_seen_run_id"],
            select(
                findings.c.kind, findings.c.mous_uid, findings.c.subject, findings.c.detail,
                literal(run_id), literal(run_id),
            ).where(not_(exists().where(still_open, same_finding))),
        ),
    )
    open_total = connection.execute(
        select(func.count()).select_from(issues).where(still_open)
    ).scalar_one()
    return QualityCounts(opened=opened, resolved=resolved, open_total=open_total)


def _stage_findings(connection: Connection, affected: Table, source_findings: Table | None) -> Table:
    findings = Table(
        "stage_findings", MetaData(),
        Column("kind", Text),
        Column("mous_uid", Text),
        Column("subject", Text),
        Column("detail", Text),
        prefixes=["TEMPORARY"], postgresql_on_commit="DROP",
    )
    findings.create(connection)
    checks: list[Any] = _checks(affected)
    if source_findings is not None:
        checks.append(select(source_findings))
    everything = union_all(*checks).subquery("found")
    connection.execute(
        insert(findings).from_select(
            ["kind", "mous_uid", "subject", "detail"],
            select(everything).ext(
                distinct_on(everything.c.kind, everything.c.mous_uid, everything.c.subject)
            ),
        )
    )
    return findings


def _finding(kind: str, mous: Any, subject: Any, detail: Any) -> list[Any]:
    return [
        literal(kind, Text).label("kind"),
        mous.label("mous_uid"),
        cast(subject, Text).label("subject"),
        detail.label("detail"),
    ]


def _checks(affected: Table) -> list[Select[Any]]:
    return [
        *_timing_checks(affected),
        *_shiftlog_checks(affected),
        *_asa_checks(affected),
        *_document_checks(affected),
        *_linkage_checks(affected),
        _product_name_check(affected),
        _calibration_record_check(affected),
    ]


def _in_scope(column: Any, affected: Table) -> Any:
    return column.in_(select(affected.c.mous_uid))


def _timing_checks(affected: Table) -> list[Select[Any]]:
    assignment = table_of(SessionAssignment)
    ebs = table_of(ExecutionBlock)
    sessions = table_of(ObservingSession)
    per_session = (
        select(assignment.c.mous_uid, assignment.c.session_number, assignment.c.session_id)
        .where(_in_scope(assignment.c.mous_uid, affected))
        .distinct()
        .subquery()
    )
    return [
        select(
            *_finding("eb_null_end_time", assignment.c.mous_uid, ebs.c.eb_uid,
                      func.format("EB has no end time (QA0 %s)", func.coalesce(ebs.c.qa0_status, "unset")))
        )
        .join(ebs, ebs.c.eb_uid == assignment.c.eb_uid)
        .where(_in_scope(assignment.c.mous_uid, affected), ebs.c.end_time.is_(None)),
        select(
            *_finding("session_null_end_time", per_session.c.mous_uid, per_session.c.session_id,
                      func.format("SESSION_%s (AQUA session %s) has no end time",
                                  per_session.c.session_number, per_session.c.session_id))
        )
        .join(sessions, sessions.c.session_id == per_session.c.session_id)
        .where(sessions.c.end_time.is_(None)),
        select(
            *_finding("session_null_start_time", per_session.c.mous_uid, per_session.c.session_id,
                      func.format("SESSION_%s (AQUA session %s) has no start time; ordered by its "
                                  "earliest EB", per_session.c.session_number, per_session.c.session_id))
        )
        .join(sessions, sessions.c.session_id == per_session.c.session_id)
        .where(sessions.c.start_time.is_(None)),
    ]


def _shiftlog_checks(affected: Table) -> list[Select[Any]]:
    assignment = table_of(SessionAssignment)
    shiftlog = table_of(ShiftlogEntry)
    entry_ids = func.string_agg(
        cast(shiftlog.c.entry_id, Text), aggregate_order_by(literal(", "), shiftlog.c.entry_id)
    )
    return [
        select(
            *_finding("duplicate_shiftlog", assignment.c.mous_uid, assignment.c.eb_uid,
                      func.format("%s shift-log rows name this EB (SE_ID %s)", func.count(), entry_ids))
        )
        .join(shiftlog, shiftlog.c.eb_uid == assignment.c.eb_uid)
        .where(_in_scope(assignment.c.mous_uid, affected))
        .group_by(assignment.c.mous_uid, assignment.c.eb_uid)
        .having(func.count() > 1)
    ]


def _asa_checks(affected: Table) -> list[Select[Any]]:
    """ASA_SCIENCE is never used for membership; it is cross-checked against the session rule."""
    assignment = table_of(SessionAssignment)
    datasets = table_of(AsaDataset)
    return [
        select(
            *_finding("asa_other_mous", assignment.c.mous_uid, assignment.c.eb_uid,
                      func.format("ASA_SCIENCE (dataset %s) lists this EB under MOUS %s",
                                  datasets.c.dataset_id, func.coalesce(datasets.c.mous_uid, "(none)")))
        )
        .join(datasets, datasets.c.eb_uid == assignment.c.eb_uid)
        .where(
            _in_scope(assignment.c.mous_uid, affected),
            datasets.c.mous_uid.is_distinct_from(assignment.c.mous_uid),
        ),
        select(
            *_finding("asa_missing_eb", assignment.c.mous_uid, assignment.c.eb_uid,
                      func.format("QA0 %s EB missing from ASA_SCIENCE", assignment.c.qa0_status))
        ).where(
            _in_scope(assignment.c.mous_uid, affected),
            assignment.c.qa0_status.in_(("Pass", "SemiPass")),
            not_(exists().where(datasets.c.eb_uid == assignment.c.eb_uid)),
        ),
    ]


def _document_checks(affected: Table) -> list[Select[Any]]:
    documents = table_of(OusStatusDocument)
    status = table_of(MousStatus)
    return [
        select(
            *_finding(
                "missing_status_xml", documents.c.ous_uid, documents.c.ous_uid,
                func.coalesce(documents.c.problem, "no OUSStatus document"),
            )
        ).where(_in_scope(documents.c.ous_uid, affected), documents.c.state == "missing"),
        select(
            *_finding(
                "malformed_status_xml", documents.c.ous_uid, documents.c.ous_uid,
                func.coalesce(documents.c.problem, "OUSStatus document does not parse"),
            )
        ).where(_in_scope(documents.c.ous_uid, affected), documents.c.state == "malformed"),
        select(
            *_finding(
                "status_xml_mismatch", status.c.mous_uid, status.c.mous_uid,
                func.format(
                    "OUSStatus lists %s session(s); the session rule derives %s with different EBs "
                    "or count", status.c.status_xml_session_count, status.c.session_count,
                ),
            )
        ).where(_in_scope(status.c.mous_uid, affected), status.c.sessions_match_status_xml.is_(False)),
    ]


def _linkage_checks(affected: Table) -> list[Select[Any]]:
    """EBs the session rule cannot place, and SBs pointing at no member OUS."""
    ebs = table_of(ExecutionBlock)
    sessions = table_of(ObservingSession)
    shiftlog = table_of(ShiftlogEntry)
    blocks = table_of(SchedulingBlock)
    members = member_ous()
    via_shiftlog = (
        select(shiftlog.c.eb_uid, blocks.c.mous_uid)
        .join(blocks, blocks.c.sb_uid == shiftlog.c.sb_uid)
        .where(_in_scope(blocks.c.mous_uid, affected))
        .distinct()
        .subquery()
    )
    return [
        select(
            *_finding("eb_without_session", via_shiftlog.c.mous_uid, ebs.c.eb_uid,
                      func.format("EB (QA0 %s) has no AQUA session %s, so no session number",
                                  func.coalesce(ebs.c.qa0_status, "unset"),
                                  func.coalesce(cast(ebs.c.session_id, Text), "(NULL)")))
        )
        .join(ebs, ebs.c.eb_uid == via_shiftlog.c.eb_uid)
        .where(
            or_(
                ebs.c.session_id.is_(None),
                not_(exists().where(sessions.c.session_id == ebs.c.session_id)),
            )
        ),
        select(
            *_finding("eb_without_shiftlog", blocks.c.mous_uid, ebs.c.eb_uid,
                      func.format("EB (QA0 %s) of SB %s is named by no shift-log row, so the session "
                                  "rule leaves it out",
                                  func.coalesce(ebs.c.qa0_status, "unset"), ebs.c.sb_uid))
        )
        .join(blocks, blocks.c.sb_uid == ebs.c.sb_uid)
        .where(
            _in_scope(blocks.c.mous_uid, affected),
            not_(exists().where(shiftlog.c.eb_uid == ebs.c.eb_uid)),
        ),
        select(
            *_finding("sb_unknown_mous", blocks.c.mous_uid, blocks.c.sb_uid,
                      literal("scheduling block points at an OUS that is not a member OUS in "
                              "OBS_UNIT_SET_STATUS"))
        ).where(
            _in_scope(blocks.c.mous_uid, affected),
            not_(exists().where(members.c.mous_uid == blocks.c.mous_uid)),
        ),
    ]


def _product_name_check(affected: Table) -> Select[Any]:
    files = table_of(ProductFile)
    return select(
        *_finding("unparsed_product_name", files.c.mous_uid, files.c.file_name,
                  literal("calibration tables without a session_<N> in the name: no session to restore"))
    ).where(_in_scope(files.c.mous_uid, affected), files.c.kind == "unparsed")


def _calibration_record_check(affected: Table) -> Select[Any]:
    """What the derivation of each record found wrong with its documents (``problems``)."""
    records = table_of(CalibrationRecord)
    problem = (
        func.jsonb_to_recordset(records.c.problems)
        .table_valued(column("kind", Text), column("subject", Text), column("detail", Text))
        .render_derived(name="problem", with_types=True)
    )
    return (
        select(
            problem.c.kind.label("kind"), records.c.mous_uid.label("mous_uid"),
            problem.c.subject.label("subject"), problem.c.detail.label("detail"),
        )
        .select_from(records)
        .join(problem, true())  # a function in FROM sees the row before it: a lateral join
        .where(_in_scope(records.c.mous_uid, affected))
    )

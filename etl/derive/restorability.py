"""Per member OUS: its calibration, how its sessions compare with the archive, and whether it can be
restored, with the first reason when it cannot."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Integer,
    Select,
    Table,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.elements import ColumnElement

from etl.copy import analyze
from etl.derive.tree import member_ous
from etl.load.merge import MergeCounts, MergeTarget, merge
from etl.load.stage import create_stage, insert_count
from etl.mirror import (
    CalibrationRecord,
    Delivery,
    MousStatus,
    OusStatusDocument,
    OusStatusSession,
    ProductFile,
    SchedulingBlock,
    SessionAssignment,
    table_of,
)

STATUS_COLUMNS = tuple(
    column.name for column in table_of(MousStatus).columns if column.name != "derived_run_id"
)
NO_SESSIONS = cast(literal("{}"), ARRAY(Integer))


def derive_mous_status(
    connection: Connection, affected: Table, run_id: int, run_started: datetime, record_events: bool
) -> tuple[int, MergeCounts]:
    """Recompute the status of the affected member OUSes; returns (rows derived, merge counts)."""
    table = table_of(MousStatus)
    stage = create_stage(connection, table, STATUS_COLUMNS, ("mous_uid",), table.name)
    rows = status_rows(affected, run_id, run_started)
    derived = insert_count(connection, insert(stage).from_select(list(STATUS_COLUMNS), rows))
    analyze(connection, stage)
    target = MergeTarget(
        table, ("mous_uid",), STATUS_COLUMNS, recorded=(*table.info["watch"], "mous_uid"),
        stamp={"derived_run_id": run_id}, scope=affected,
    )
    return derived, merge(connection, target, stage, run_id, record_events)


def status_rows(affected: Table, run_id: int, run_started: datetime) -> Select[Any]:
    """The status of every affected member OUS, in three layers: facts, the verdict, the row."""
    facts = _facts(affected)
    code = reason_code(
        facts.c.state, facts.c.calibration_kind, facts.c.pass_eb_count, facts.c.sb_count,
        facts.c.sessions_match_caltables, facts.c.calibration_record, facts.c.record_extra_steps,
    )
    judged = select(facts, code.label("reason_code")).subquery("judged")
    restorable = judged.c.reason_code.is_(None)
    still_restorable = and_(restorable, judged.c.previous_restorable.is_(True))
    computed = {
        **{column.name: column for column in judged.c},
        "restorable": restorable,
        "reason": reason_text(
            judged.c.reason_code, judged.c.eb_count, judged.c.sb_count, judged.c.calibrated_sessions,
            judged.c.caltables_sessions, judged.c.record_disagreement, judged.c.record_extra_steps,
            judged.c.record_script,
        ),
        "restorable_since": case(
            (still_restorable, judged.c.previous_since), (restorable, literal(run_started))
        ),
        "restorable_since_run_id": case(
            (still_restorable, judged.c.previous_since_run_id), (restorable, literal(run_id))
        ),
    }
    # INSERT … SELECT matches columns by position: emit them in the staging table's order.
    return select(*(computed[name].label(name) for name in STATUS_COLUMNS))


def _facts(affected: Table) -> Any:
    """What is known of each affected member OUS before judging it."""
    members = member_ous()
    blocks, sessions, products = _sb_counts(affected), _session_counts(affected), _products(affected)
    documents = table_of(OusStatusDocument)
    xml_match = _status_xml_agreement(affected)
    previous = table_of(MousStatus).alias("previous")
    record = table_of(CalibrationRecord)
    caltables = func.coalesce(products.c.caltables_sessions, NO_SESSIONS)
    calibrated_sessions = func.coalesce(sessions.c.calibrated_sessions, NO_SESSIONS)
    return (
        select(
            members.c.mous_uid,
            members.c.project_uid,
            members.c.sous_uid,
            members.c.gous_uid,
            members.c.state,
            func.coalesce(blocks.c.sb_count, 0).label("sb_count"),
            blocks.c.sb_uid,
            blocks.c.array_family,
            blocks.c.receiver_band,
            func.coalesce(sessions.c.eb_count, 0).label("eb_count"),
            func.coalesce(sessions.c.pass_eb_count, 0).label("pass_eb_count"),
            func.coalesce(sessions.c.session_count, 0).label("session_count"),
            func.coalesce(sessions.c.empty_session_count, 0).label("empty_session_count"),
            calibration_kind(
                products.c.has_calibration_script, products.c.has_caltables, members.c.recipe
            ).label("calibration_kind"),
            caltables.label("caltables_sessions"),
            calibrated_sessions.label("calibrated_sessions"),
            (calibrated_sessions == caltables).label("sessions_match_caltables"),
            case((documents.c.state == "parsed", documents.c.session_count)).label(
                "status_xml_session_count"
            ),
            # No row in the comparison means neither side has a session: they agree.
            case((documents.c.state == "parsed", func.coalesce(xml_match.c.agrees, True))).label(
                "sessions_match_status_xml"
            ),
            _latest_release_date(members.c.mous_uid).label("release_date"),
            previous.c.restorable.label("previous_restorable"),
            previous.c.restorable_since.label("previous_since"),
            previous.c.restorable_since_run_id.label("previous_since_run_id"),
            # The archive's record of the calibration (etl/derive/calibration_record.py).
            func.coalesce(record.c.state, "absent").label("calibration_record"),
            record.c.casa_version,
            record.c.pipeline_version,
            record.c.mpi_servers,
            record.c.disagreement.label("record_disagreement"),
            record.c.extra_steps.label("record_extra_steps"),
            record.c.restore_script_file.label("record_script"),
        )
        .join_from(members, affected, affected.c.mous_uid == members.c.mous_uid)
        .outerjoin(blocks, blocks.c.mous_uid == members.c.mous_uid)
        .outerjoin(sessions, sessions.c.mous_uid == members.c.mous_uid)
        .outerjoin(products, products.c.mous_uid == members.c.mous_uid)
        .outerjoin(documents, documents.c.ous_uid == members.c.mous_uid)
        .outerjoin(xml_match, xml_match.c.mous_uid == members.c.mous_uid)
        .outerjoin(previous, previous.c.mous_uid == members.c.mous_uid)
        .outerjoin(record, record.c.mous_uid == members.c.mous_uid)
        .subquery("facts")
    )


def calibration_kind(
    has_script: ColumnElement[Any], has_caltables: ColumnElement[Any], recipe: ColumnElement[Any]
) -> ColumnElement[str]:
    """Manual when a calibration script was archived, or when the recipe says so and no caltables exist."""
    return case(
        (has_script.is_(True), "manual"),
        (has_caltables.is_(True), "pipeline"),
        (recipe.like("Manual%"), "manual"),
        else_="none",
    )


def reason_code(
    state: ColumnElement[Any],
    kind: ColumnElement[Any],
    pass_ebs: ColumnElement[Any],
    sb_count: ColumnElement[Any],
    sessions_match: ColumnElement[Any],
    calibration_record: ColumnElement[Any],
    extra_steps: ColumnElement[Any],
) -> ColumnElement[Any]:
    """The first reason a restore cannot proceed, in the order of REASON_CODES; NULL when it can."""
    return case(
        (state == "Deleted", "deleted_ous"),
        (kind == "manual", "manual_calibration"),
        (pass_ebs == 0, "no_pass_ebs"),
        (kind == "none", "no_calibration_products"),
        (sb_count > 1, "multiple_sbs"),
        (sessions_match.is_not(True), "session_mismatch"),
        (calibration_record == "disagrees", "archive_record_disagrees"),
        (func.cardinality(extra_steps) > 0, "restore_needs_extra_steps"),
        else_=null(),
    )


def reason_text(
    code: ColumnElement[Any],
    eb_count: ColumnElement[Any],
    sb_count: ColumnElement[Any],
    calibrated_sessions: ColumnElement[Any],
    caltables: ColumnElement[Any],
    disagreement: ColumnElement[Any],
    extra_steps: ColumnElement[Any],
    restore_script: ColumnElement[Any],
) -> ColumnElement[Any]:
    """One line for a person: what is wrong and, where there is one, what to do instead."""
    return case(
        (code == "deleted_ous", literal("the OUS is Deleted in the ALMA archive")),
        (
            code == "manual_calibration",
            literal(
                "manually calibrated: restore with its scriptForPI.py and the CASA version of the "
                "original calibration, not with a PPR"
            ),
        ),
        (
            code == "no_pass_ebs",
            func.format("none of its %s EBs has QA0 Pass", func.coalesce(eb_count, 0)),
        ),
        (code == "no_calibration_products", literal("no calibration tables (caltables) are archived")),
        (
            code == "multiple_sbs",
            func.format("%s scheduling blocks; a restore PPR holds exactly one", sb_count),
        ),
        (
            code == "session_mismatch",
            func.format(
                "session mismatch: the session rule puts Pass EBs in sessions {%s} but caltables are "
                "archived for sessions {%s}",
                func.array_to_string(calibrated_sessions, ","),
                func.array_to_string(caltables, ","),
            ),
        ),
        (
            code == "archive_record_disagrees",
            func.format("the archive's record of the calibration disagrees with the mirror's sessions: %s",
                        disagreement),
        ),
        (
            code == "restore_needs_extra_steps",
            func.format(
                "the archived restore script %s has steps a restore PPR cannot carry (%s); restore this "
                "MOUS by running that script in CASA",
                restore_script, func.array_to_string(extra_steps, "; "),
            ),
        ),
        else_=null(),
    )


def _sb_counts(affected: Table) -> Any:
    blocks = table_of(SchedulingBlock)
    count = func.count()
    return (
        select(
            blocks.c.mous_uid,
            cast(count, Integer).label("sb_count"),
            case((count == 1, func.min(blocks.c.sb_uid))).label("sb_uid"),
            func.min(blocks.c.array_family).label("array_family"),
            func.min(blocks.c.receiver_band).label("receiver_band"),
        )
        .join(affected, affected.c.mous_uid == blocks.c.mous_uid)
        .group_by(blocks.c.mous_uid)
        .subquery("sb_counts")
    )


def _session_counts(affected: Table) -> Any:
    assignment = table_of(SessionAssignment)
    per_session = (
        select(
            assignment.c.mous_uid,
            assignment.c.session_number,
            func.count().label("eb_count"),
            func.count().filter(assignment.c.qa0_status == "Pass").label("pass_count"),
        )
        .join(affected, affected.c.mous_uid == assignment.c.mous_uid)
        .group_by(assignment.c.mous_uid, assignment.c.session_number)
        .subquery("per_session")
    )
    return (
        select(
            per_session.c.mous_uid,
            cast(func.sum(per_session.c.eb_count), Integer).label("eb_count"),
            cast(func.sum(per_session.c.pass_count), Integer).label("pass_eb_count"),
            cast(func.count(), Integer).label("session_count"),
            cast(func.count().filter(per_session.c.pass_count == 0), Integer).label("empty_session_count"),
            func.array_agg(aggregate_order_by(per_session.c.session_number, per_session.c.session_number))
            .filter(per_session.c.pass_count > 0)
            .label("calibrated_sessions"),
        )
        .group_by(per_session.c.mous_uid)
        .subquery("session_counts")
    )


def _products(affected: Table) -> Any:
    files = table_of(ProductFile)
    return (
        select(
            files.c.mous_uid,
            func.array_agg(aggregate_order_by(files.c.session_number.distinct(), files.c.session_number))
            .filter(files.c.kind == "caltables")
            .label("caltables_sessions"),
            func.bool_or(files.c.kind == "caltables").label("has_caltables"),
            func.bool_or(files.c.kind == "calibration_script").label("has_calibration_script"),
        )
        .join(affected, affected.c.mous_uid == files.c.mous_uid)
        .group_by(files.c.mous_uid)
        .subquery("products")
    )


def _latest_release_date(mous_uid: ColumnElement[Any]) -> Any:
    """The release date of the MOUS's latest delivery (a redelivery supersedes the earlier one)."""
    deliveries = table_of(Delivery)
    return (
        select(deliveries.c.release_date)
        .where(deliveries.c.mous_uid == mous_uid)
        .order_by(deliveries.c.delivery_id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _status_xml_agreement(affected: Table) -> Any:
    """Per MOUS: do the OUSStatus sessions hold the same EBs, session by session, as the session rule?

    Each session is compared as its sorted EB list; a missing session on either side is a disagreement.
    """
    assignment = table_of(SessionAssignment)
    documented = table_of(OusStatusSession)
    derived = (
        select(
            assignment.c.mous_uid,
            assignment.c.session_number.label("number"),
            _sorted_text(assignment.c.eb_uid).label("ebs"),
        )
        .join(affected, affected.c.mous_uid == assignment.c.mous_uid)
        .group_by(assignment.c.mous_uid, assignment.c.session_number)
        .subquery("derived")
    )
    eb = func.unnest(documented.c.eb_uids).table_valued("uid").render_derived(name="eb")
    sorted_ebs = select(_sorted_text(eb.c.uid)).select_from(eb).scalar_subquery()
    listed = (
        select(documented.c.mous_uid, documented.c.position.label("number"), sorted_ebs.label("ebs"))
        .join(affected, affected.c.mous_uid == documented.c.mous_uid)
        .subquery("listed")
    )
    both = derived.join(
        listed, and_(listed.c.mous_uid == derived.c.mous_uid, listed.c.number == derived.c.number),
        full=True,
    )
    mous = func.coalesce(derived.c.mous_uid, listed.c.mous_uid)
    return (
        select(
            mous.label("mous_uid"),
            func.bool_and(func.coalesce(derived.c.ebs == listed.c.ebs, False)).label("agrees"),
        )
        .select_from(both)
        .group_by(mous)
        .subquery("status_xml_agreement")
    )


def _sorted_text(uid: Any) -> Any:
    """EB UIDs as one sorted, space-separated string: equal strings mean equal sets."""
    return func.string_agg(uid, aggregate_order_by(literal(" "), uid))

"""Per member OUS: its calibration, how its sessions compare with the archive, and whether it can be
restored, with the first reason when it cannot.

The verdict is the only place restorability is decided: every refusal the PPR generator could make
from mirror data (an array without a restore task, a UID the PPR cannot carry, product names that
cannot be laid out) is a reason here, so the report and the generator can never disagree. The
generator's own checks stay as a last line of defence, which a verdict of "restorable" never reaches.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Integer,
    Select,
    Table,
    Text,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, array
from sqlalchemy.sql.elements import ColumnElement

from etl.archive_names import ARCHIVE_UID_PATTERN, MEMBER_PREFIX, OLD_TAR_SUFFIX, TAR_SUFFIX
from etl.copy import analyze
from etl.derive.status_agreement import status_xml_agreement
from etl.derive.tree import member_ous
from etl.mirror import (
    CalibrationRecord,
    CalibrationRecordProduct,
    Delivery,
    ExecutionBlock,
    MousStatus,
    OusQa2,
    OusStatusDocument,
    ProductFile,
    Project,
    SchedulingBlock,
    SessionAssignment,
    table_of,
)
from etl.mirror.derived import PART_ID_PATTERN, PROJECT_CODE_PATTERN
from etl.mirror.reasons import REASON_CODES
from etl.mirror.states import RecordState
from etl.restore.kinds import NONE, PIPELINE_PPR, PIPELINE_SCRIPT, RESTORE_PRODUCT_KINDS, SCRIPTFORPI
from etl.steps.figures import StepFigures, timed_step
from etl.steps.merge import MergeTarget, merge
from etl.steps.stage import create_stage, insert_count

log = logging.getLogger(__name__)

STATUS_COLUMNS = tuple(
    column.name for column in table_of(MousStatus).columns if column.name != "derived_run_id"
)
NO_SESSIONS = cast(literal("{}"), ARRAY(Integer))
# Raise when a rule changes: the next sync re-derives every MOUS derived by an older version
# (rows from before the version was kept are version 1).
RULES_VERSION = 6
# NRAO's rule for hand-run calibration scripts (scriptForPI.py runs them after a pipeline restore):
# scriptForPolCalibration.py, scriptForFluxCalibration.py, scriptForSDCalibration.py. The plain
# scriptForCalibration.py of a manual calibration matches too; it is the kind calibration_script.
POST_STEP_SCRIPT_PATTERN = "%scriptFor%Cal%"
# The file that drives a delivery's restore: its presence makes a hand calibration restorable.
SCRIPTFORPI_PATTERN = "%scriptForPI.py"
# What stands in the way of running a pipeline calibration by its archived restore script: only the
# script's extra steps, and the EB-to-session key it restores with itself (revision 0011).
SCRIPT_RUN_REASONS = ("restore_needs_extra_steps", "session_mismatch")
MANUAL_REASONS = ("manual_calibration", "manual_post_calibration")
# What a manifest written from the mirror names per EB, after the EB's disk name.
PER_EB_RESTORE_SUFFIXES = (".ms.flagversions.tgz", ".ms.calapply.txt")
# Why a restore request carries a manifest written by almamirror, by the record's manifest_state.
WRITTEN_MANIFEST_WHY = {
    None: "no pipeline manifest is archived with the calibration",
    "malformed": "the archived pipeline manifest does not parse",
    "unavailable": "the archived pipeline manifest could not be fetched from NGAS",
}


def derive_mous_status(
    connection: Connection, affected: Table, run_id: int, run_started: datetime, record_events: bool
) -> StepFigures:
    """Recompute the status of the affected member OUSes (its ``rows_read``: the MOUSes re-derived)."""
    table = table_of(MousStatus)
    with timed_step(table.name, log, doing="judging restorability", unit="MOUSes") as step:
        stage = create_stage(connection, table, STATUS_COLUMNS, ("mous_uid",), table.name)
        rows = status_rows(affected, run_id, run_started)
        step.read = insert_count(connection, insert(stage).from_select(list(STATUS_COLUMNS), rows))
        analyze(connection, stage)
        target = MergeTarget(
            table, ("mous_uid",), STATUS_COLUMNS, recorded=(*table.info["watch"], "mous_uid"),
            stamp={"derived_run_id": run_id}, scope=affected,
        )
        step.changes = merge(connection, target, stage, run_id, record_events)
    return step.figures


def status_rows(affected: Table, run_id: int, run_started: datetime) -> Select[Any]:
    """The status of every affected member OUS, in three layers: facts, the verdict, the row."""
    facts = _facts(affected)
    judged = _computed_once(select(
        facts, reason_code(facts.c).label("reason_code"), reason_codes(facts.c).label("reason_codes")
    )).subquery("judged")
    kind = restore_kind(judged.c)
    # Restorable means restorable by some kind (a PPR, the archived script or scriptForPI.py): a change
    # between kinds keeps the date; a row restorable before without a date (kinds other than
    # pipeline_ppr, before revision 0013) gets this run's.
    restorable = kind != NONE
    still_restorable = and_(restorable, judged.c.previous_since.is_not(None))
    computed = {
        **{column.name: column for column in judged.c},
        "restorable": judged.c.reason_code.is_(None),
        "reason": reason_text(judged.c),
        "restore_kind": kind,
        "restorable_since": case(
            (still_restorable, judged.c.previous_since), (restorable, literal(run_started))
        ),
        "restorable_since_run_id": case(
            (still_restorable, judged.c.previous_since_run_id), (restorable, literal(run_id))
        ),
        "rules_version": literal(RULES_VERSION),
    }
    # INSERT … SELECT matches columns by position: emit them in the staging table's order.
    return select(*(computed[name].label(name) for name in STATUS_COLUMNS))


def restore_kind(judged: Any) -> ColumnElement[str]:
    """How the member OUS restores (``mous_restore.restore_kind``): by a restore PPR, by its archived
    restore script, by its delivery's scriptForPI.py, or not at all."""
    codes = cast(judged.reason_codes, ARRAY(Text))
    return case(
        (judged.reason_code.is_(None), literal(PIPELINE_PPR)),
        (
            and_(
                codes.bool_op("@>")(_text_array(SCRIPT_RUN_REASONS[:1])),
                codes.bool_op("<@")(_text_array(SCRIPT_RUN_REASONS)),
            ),
            literal(PIPELINE_SCRIPT),
        ),
        (
            and_(
                judged.reason_code.in_(MANUAL_REASONS), judged.pass_eb_count > 0,
                judged.has_scriptforpi.is_(True),
            ),
            literal(SCRIPTFORPI),
        ),
        else_=literal(NONE),
    )


def _text_array(values: tuple[str, ...]) -> ColumnElement[Any]:
    return cast(array([literal(value) for value in values]), ARRAY(Text))


def _facts(affected: Table) -> Any:
    """What is known of each affected member OUS before judging it."""
    members = member_ous()
    blocks, sessions, products = _sb_counts(affected), _session_counts(affected), _products(affected)
    names, bad_ebs = _restore_names(affected), _malformed_pass_ebs(affected)
    gaps = _manifest_gaps(affected)
    qa2, project = table_of(OusQa2), table_of(Project)
    documents = table_of(OusStatusDocument)
    xml_match = status_xml_agreement(affected)
    previous = table_of(MousStatus).alias("previous")
    record = table_of(CalibrationRecord)
    caltables = func.coalesce(products.c.caltables_sessions, NO_SESSIONS)
    calibrated_sessions = func.coalesce(sessions.c.calibrated_sessions, NO_SESSIONS)
    facts = (
        select(
            members.c.mous_uid,
            members.c.project_uid,
            members.c.sous_uid,
            members.c.gous_uid,
            members.c.state,
            func.coalesce(blocks.c.sb_count, 0).label("sb_count"),
            blocks.c.sb_uid,
            blocks.c.sb_status_uid,
            blocks.c.sb_uids,
            blocks.c.requested_array,
            blocks.c.array_family,
            blocks.c.receiver_band,
            # AQUA_OUS names the MOUS's ObsProject and partId; the OUS row is the fallback.
            func.coalesce(qa2.c.project_uid, members.c.project_uid).label("obs_project_uid"),
            func.coalesce(qa2.c.part_id, members.c.part_id).label("ous_part_id"),
            members.c.project_status_uid,
            project.c.code.label("project_code"),
            bad_ebs.c.malformed_eb_uid,
            names.c.unsafe_product_name,
            names.c.product_name_clash,
            func.coalesce(sessions.c.eb_count, 0).label("eb_count"),
            func.coalesce(sessions.c.pass_eb_count, 0).label("pass_eb_count"),
            func.coalesce(sessions.c.session_count, 0).label("session_count"),
            func.coalesce(sessions.c.empty_session_count, 0).label("empty_session_count"),
            calibration_kind(
                products.c.has_calibration_script, products.c.has_caltables, members.c.recipe,
                products.c.post_step_scripts,
            ).label("calibration_kind"),
            products.c.post_step_scripts,
            func.coalesce(products.c.has_scriptforpi, False).label("has_scriptforpi"),
            gaps.c.missing_manifest_file,
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
            record.c.manifest_state,
            record.c.manifest_file.label("record_manifest"),
        )
        .join_from(members, affected, affected.c.mous_uid == members.c.mous_uid)
        .outerjoin(blocks, blocks.c.mous_uid == members.c.mous_uid)
        .outerjoin(sessions, sessions.c.mous_uid == members.c.mous_uid)
        .outerjoin(products, products.c.mous_uid == members.c.mous_uid)
        .outerjoin(names, names.c.mous_uid == members.c.mous_uid)
        .outerjoin(bad_ebs, bad_ebs.c.mous_uid == members.c.mous_uid)
        .outerjoin(gaps, gaps.c.mous_uid == members.c.mous_uid)
        .outerjoin(qa2, qa2.c.mous_uid == members.c.mous_uid)
        .outerjoin(project, project.c.project_uid == members.c.project_uid)
        .outerjoin(documents, documents.c.ous_uid == members.c.mous_uid)
        .outerjoin(xml_match, xml_match.c.mous_uid == members.c.mous_uid)
        .outerjoin(previous, previous.c.mous_uid == members.c.mous_uid)
        .outerjoin(record, record.c.mous_uid == members.c.mous_uid)
        .subquery("facts")
    )
    return _with_bad_reference(facts)


def _with_bad_reference(facts: Any) -> Any:
    """The facts, plus the first reference the restore PPR carries that it cannot carry as it is, and
    whose pipeline manifest its restore request carries."""
    return _computed_once(select(
        facts,
        malformed_reference(facts.c).label("malformed_reference"),
        manifest_source(facts.c).label("manifest_source"),
    )).subquery("checked")


def _computed_once(layer: Select[Any]) -> Select[Any]:
    """A layer whose columns the next one reads many times, computed once per row.

    PostgreSQL would otherwise pull the layer up into its reader and copy each column's expression
    into every place that reads it: ``reason_code`` is read some twenty times, and holds every
    reason's condition, ``malformed_reference``'s nine regular expressions among them. Copied, they
    cost half a millisecond per MOUS (25 s of 35 over ALMA's 50,000); ``OFFSET 0`` keeps a subquery
    as it is written.
    """
    return layer.offset(0)


def manifest_source(facts: Any) -> ColumnElement[Any]:
    """``archive`` when the record's manifest parsed, else ``almamirror`` (written from the mirror);
    NULL for a MOUS the pipeline alone did not calibrate."""
    return case(
        (facts.calibration_kind != "pipeline", null()),
        (facts.manifest_state == "parsed", literal("archive")),
        else_=literal("almamirror"),
    )


def calibration_kind(
    has_script: ColumnElement[Any],
    has_caltables: ColumnElement[Any],
    recipe: ColumnElement[Any],
    post_step_scripts: ColumnElement[Any],
) -> ColumnElement[str]:
    """Manual when a calibration script was archived, or when the recipe says so and no caltables exist;
    pipeline_then_manual when the pipeline's caltables come with hand-run post-calibration scripts."""
    return case(
        (has_script.is_(True), "manual"),
        (and_(has_caltables.is_(True), post_step_scripts.is_not(None)), "pipeline_then_manual"),
        (has_caltables.is_(True), "pipeline"),
        (recipe.like("Manual%"), "manual"),
        else_="none",
    )


def reason_code(facts: Any) -> ColumnElement[Any]:
    """The first reason a restore cannot proceed, in the order of REASON_CODES; NULL when it can.

    ``facts`` are the columns of ``_facts``. The order is REASON_CODES' own: a code without a
    condition here fails the first sync with a KeyError, never silently.
    """
    conditions = _reason_conditions(facts)
    return case(*((conditions[code], literal(code)) for code in REASON_CODES), else_=null())


def reason_codes(facts: Any) -> ColumnElement[Any]:
    """Every reason that applies, in REASON_CODES' order ('{}' when restorable by a PPR).

    The restore kind reads them all (``mous_restore``): a MOUS is restored by its archived script
    only when nothing but the script's extra steps stands in a restore's way, whichever reason is first.
    """
    conditions = _reason_conditions(facts)
    applying: list[Any] = [
        case((conditions[code], literal(code)), else_=null()) for code in REASON_CODES
    ]
    return func.array_remove(array[str](applying, type_=Text), null())


def _reason_conditions(facts: Any) -> dict[str, ColumnElement[bool]]:
    """Per reason code, when it applies to a MOUS of ``facts``."""
    conditions: dict[str, ColumnElement[bool]] = {
        "deleted_ous": facts.state == "Deleted",
        "manual_calibration": facts.calibration_kind == "manual",
        "manual_post_calibration": facts.calibration_kind == "pipeline_then_manual",
        "no_pass_ebs": facts.pass_eb_count == 0,
        "no_calibration_products": facts.calibration_kind == "none",
        # EBs of several SBs restore together in one SchedBlockIdentifier when the archive's record
        # of the calibration shows they were calibrated together.
        "multiple_sbs": and_(
            facts.sb_count > 1,
            facts.calibration_record.not_in((RecordState.AGREES.value, RecordState.FOLLOWS_ARCHIVE.value)),
        ),
        # A PPR names one restore task, chosen by array: none without a known array.
        "unknown_array": facts.array_family.is_(None),
        # A record that follows the archive was checked against the caltables by itself.
        "session_mismatch": and_(
            facts.sessions_match_caltables.is_not(True),
            facts.calibration_record != RecordState.FOLLOWS_ARCHIVE.value,
        ),
        # The archive's own record of the calibration (etl/derive/calibration_record.py).
        "archive_record_disagrees": facts.calibration_record == "disagrees",
        "restore_needs_extra_steps": func.cardinality(facts.record_extra_steps) > 0,
        # A manifest written from the mirror must name files the archive has (ppr/pipeline_manifest.py).
        "manifest_file_missing": and_(
            facts.manifest_source == "almamirror", facts.missing_manifest_file.is_not(None)
        ),
        # The pipeline matches ASDMs by the EB UID's disk name: a stray space restores nothing.
        "malformed_eb_uid": facts.malformed_eb_uid.is_not(None),
        "malformed_reference": facts.malformed_reference.is_not(None),
        "unsafe_product_name": facts.unsafe_product_name.is_not(None),
        "product_name_clash": facts.product_name_clash.is_not(None),
    }
    return conditions


def reason_text(judged: Any) -> ColumnElement[Any]:
    """One line for a person: what is wrong and, where there is one, what to do instead."""
    texts: dict[str, ColumnElement[Any]] = {
        "deleted_ous": literal("the OUS is Deleted in the ALMA archive"),
        "manual_calibration": literal(
            "manually calibrated: restore with its scriptForPI.py and the CASA version of the "
            "original calibration, not with a PPR"
        ),
        "manual_post_calibration": func.format(
            "calibrated by the pipeline and then by hand: %s, which scriptForPI.py runs after the "
            "pipeline's restore; a PPR restore would give data that differ from ALMA's, so restore "
            "with scriptForPI.py and the CASA version the scripts name",
            func.array_to_string(judged.post_step_scripts, ", "),
        ),
        "no_pass_ebs": func.format("none of its %s EBs has QA0 Pass", func.coalesce(judged.eb_count, 0)),
        "no_calibration_products": literal("no calibration tables (caltables) are archived"),
        "multiple_sbs": func.format(
            "%s scheduling blocks (%s) and no archived record of the calibration that agrees with the "
            "mirror's sessions: nothing shows that their EBs were calibrated together, which a restore "
            "PPR of all of them (in its one SchedBlockIdentifier) needs",
            judged.sb_count, judged.sb_uids,
        ),
        "unknown_array": func.format(
            "the scheduling block's REQUESTEDARRAY is %s, not one of TWELVE-M, SEVEN-M, ACA, TP-Array: "
            "no restore task (hifa_restoredata, hsd_restoredata) can be chosen",
            func.coalesce(func.quote_literal(judged.requested_array), "empty"),
        ),
        "session_mismatch": func.format(
            "session mismatch: the session rule puts Pass EBs in sessions {%s} but caltables are "
            "archived for sessions {%s}",
            func.array_to_string(judged.calibrated_sessions, ","),
            func.array_to_string(judged.caltables_sessions, ","),
        ),
        "archive_record_disagrees": func.format(
            "the archive's record of the calibration disagrees with the mirror's sessions: %s",
            judged.record_disagreement,
        ),
        "restore_needs_extra_steps": func.format(
            "the archived restore script %s has steps a restore PPR cannot carry (%s); restore this "
            "MOUS by running that script in CASA",
            judged.record_script, func.array_to_string(judged.record_extra_steps, "; "),
        ),
        "manifest_file_missing": func.format(
            "%s, so almamirror writes the restore's manifest from the mirror; that manifest must list %s, "
            "which is not archived: the restore could not open it",
            _written_manifest_why(judged), func.quote_literal(judged.missing_manifest_file),
        ),
        "malformed_eb_uid": func.format(
            "QA0 Pass EB UID %s is not an archive UID (uid://A…/X…/X…); the PPR and the pipeline need "
            "it exactly, so it must be corrected in the ALMA archive",
            func.quote_literal(judged.malformed_eb_uid),
        ),
        "malformed_reference": func.format(
            "%s; a restore PPR needs archive UIDs (uid://A…/X…/X…), a project code like 2017.1.00895.S "
            "and a one-word partId",
            judged.malformed_reference,
        ),
        "unsafe_product_name": func.format(
            "archived product %s is not a plain file name, so it cannot be placed in products/",
            func.quote_literal(judged.unsafe_product_name),
        ),
        "product_name_clash": func.format(
            "archived products %s: the restore would overwrite one with the other in products/",
            judged.product_name_clash,
        ),
    }
    return case(*((judged.reason_code == code, texts[code]) for code in REASON_CODES), else_=null())


def _written_manifest_why(judged: Any) -> ColumnElement[Any]:
    return case(
        (judged.manifest_state == "malformed",
         func.format("the archived pipeline manifest %s does not parse", judged.record_manifest)),
        (judged.manifest_state == "unavailable",
         func.format("the archived pipeline manifest %s could not be fetched", judged.record_manifest)),
        else_=literal(WRITTEN_MANIFEST_WHY[None]),
    )


def malformed_reference(facts: Any) -> ColumnElement[Any]:
    """The first reference the PPR carries that is missing or not in the form it needs, as a phrase.

    In the order the PPR and its request directory use them; NULL when every one can be carried.
    """
    checks = (
        ("the MOUS UID", facts.mous_uid, ARCHIVE_UID_PATTERN),
        ("the science goal (SOUS) UID", facts.sous_uid, ARCHIVE_UID_PATTERN),
        ("the group (GOUS) UID", facts.gous_uid, ARCHIVE_UID_PATTERN),
        ("the project code", facts.project_code, PROJECT_CODE_PATTERN),
        ("the ObsProject UID", facts.obs_project_uid, ARCHIVE_UID_PATTERN),
        ("the OUS partId", facts.ous_part_id, PART_ID_PATTERN),
        ("the ProjectStatus UID", facts.project_status_uid, ARCHIVE_UID_PATTERN),
        ("the SchedBlock UID", facts.sb_uid, ARCHIVE_UID_PATTERN),
        ("the SBStatus UID", facts.sb_status_uid, ARCHIVE_UID_PATTERN),
    )
    return case(
        *(
            (
                or_(value.is_(None), value.regexp_match(pattern).is_not(True)),
                case(
                    (value.is_(None), literal(f"{label} is missing")),
                    else_=func.format(f"{label} %s is malformed", func.quote_literal(value)),
                ),
            )
            for label, value, pattern in checks
        ),
        else_=null(),
    )


def restore_name(file_name: ColumnElement[str]) -> ColumnElement[str]:
    """The name the restore gives an archived product in products/: no ``member.`` prefix, ``.tgz``
    for ``.tar.gz``. ``etl.archive_names.restore_name`` in SQL (a property test keeps them equal)."""
    prefixed = file_name.startswith(MEMBER_PREFIX, autoescape=True)
    bare = case((prefixed, func.substr(file_name, len(MEMBER_PREFIX) + 1)), else_=file_name)
    old_tar = bare.endswith(OLD_TAR_SUFFIX, autoescape=True)
    return case((old_tar, func.left(bare, -len(OLD_TAR_SUFFIX)) + TAR_SUFFIX), else_=bare)


def _sb_counts(affected: Table) -> Any:
    """Per MOUS: its SB count, the SB (and SBStatus) its PPR names, its array and band.

    The pipeline holds the EBs of several SBs in one SchedBlockIdentifier, whose SchedBlockRef it does
    not read: the SB named is the archived PPR's, else the one with the most Pass EBs (then the lowest
    UID). Whether several SBs may be restored together is ``multiple_sbs``'s to say.
    """
    blocks = table_of(SchedulingBlock)
    record = table_of(CalibrationRecord)
    ebs = table_of(ExecutionBlock)
    pass_ebs = (
        select(func.count())
        .where(ebs.c.sb_uid == blocks.c.sb_uid, ebs.c.qa0_status == "Pass")
        .scalar_subquery()
    )
    named = func.coalesce(blocks.c.sb_uid == record.c.request_sb_uid, False)
    ranked = (
        select(
            blocks.c.mous_uid, blocks.c.sb_uid, blocks.c.sb_status_uid, blocks.c.requested_array,
            blocks.c.array_family, blocks.c.receiver_band,
            func.row_number().over(
                partition_by=blocks.c.mous_uid,
                order_by=(named.desc(), pass_ebs.desc(), blocks.c.sb_uid),
            ).label("rank"),
        )
        .join(affected, affected.c.mous_uid == blocks.c.mous_uid)
        .outerjoin(record, record.c.mous_uid == blocks.c.mous_uid)
        .subquery("ranked_sbs")
    )
    first = ranked.c.rank == 1
    return (
        select(
            ranked.c.mous_uid,
            cast(func.count(), Integer).label("sb_count"),
            func.min(ranked.c.sb_uid).filter(first).label("sb_uid"),
            func.min(ranked.c.sb_status_uid).filter(first).label("sb_status_uid"),
            func.string_agg(ranked.c.sb_uid, aggregate_order_by(literal(", "), ranked.c.sb_uid))
            .label("sb_uids"),
            func.min(ranked.c.requested_array).label("requested_array"),
            func.min(ranked.c.array_family).label("array_family"),
            func.min(ranked.c.receiver_band).label("receiver_band"),
        )
        .group_by(ranked.c.mous_uid)
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
            func.bool_or(files.c.file_name.like(SCRIPTFORPI_PATTERN)).label("has_scriptforpi"),
            func.array_agg(aggregate_order_by(files.c.file_name, files.c.file_name))
            .filter(
                files.c.file_name.like(POST_STEP_SCRIPT_PATTERN), files.c.kind != "calibration_script"
            )
            .label("post_step_scripts"),
        )
        .join(affected, affected.c.mous_uid == files.c.mous_uid)
        .group_by(files.c.mous_uid)
        .subquery("products")
    )


def _manifest_gaps(affected: Table) -> Any:
    """Per MOUS: the first per-EB file a manifest written from the mirror would list that is not
    archived (each Pass EB's flagversions and calapply, under the names the restore opens).

    Each session's caltables are checked by ``session_mismatch``, which comes first.
    """
    assignment = table_of(SessionAssignment)
    files = table_of(ProductFile)
    disk = func.replace(func.replace(assignment.c.eb_uid, ":", "_"), "/", "_")
    wanted = (
        select(
            assignment.c.mous_uid,
            func.concat(disk, func.unnest(literal(list(PER_EB_RESTORE_SUFFIXES), ARRAY(Text)))).label("name"),
        )
        .join(affected, affected.c.mous_uid == assignment.c.mous_uid)
        .where(assignment.c.qa0_status == "Pass")
        .subquery("wanted")
    )
    archived = (
        select(files.c.file_name)
        .where(
            files.c.mous_uid == wanted.c.mous_uid,
            files.c.kind.in_(("flagversions", "calapply")),
            restore_name(files.c.file_name) == wanted.c.name,
        )
        .exists()
    )
    return (
        select(wanted.c.mous_uid, func.min(wanted.c.name).label("missing_manifest_file"))
        .where(~archived)
        .group_by(wanted.c.mous_uid)
        .subquery("manifest_gaps")
    )


def _malformed_pass_ebs(affected: Table) -> Any:
    """Per MOUS: the first QA0 Pass EB UID that is not an archive UID (the PPR carries every Pass EB)."""
    assignment = table_of(SessionAssignment)
    return (
        select(assignment.c.mous_uid, func.min(assignment.c.eb_uid).label("malformed_eb_uid"))
        .join(affected, affected.c.mous_uid == assignment.c.mous_uid)
        .where(
            assignment.c.qa0_status == "Pass",
            assignment.c.eb_uid.regexp_match(ARCHIVE_UID_PATTERN).is_not(True),
        )
        .group_by(assignment.c.mous_uid)
        .subquery("malformed_pass_ebs")
    )


def _restore_names(affected: Table) -> Any:
    """Per MOUS: the first restore product whose name cannot be laid out in products/, and the first
    two archived products that would land on the same name there.

    A product is named as the request directory names it (``ppr.query``): by the archive's record of
    the calibration where its manifest lists the product, else by the restore's own rule. Every
    archived manifest is checked, also one of an earlier calibration that the request leaves out.
    """
    files = table_of(ProductFile)
    listed = table_of(CalibrationRecordProduct)
    named = (
        select(
            files.c.mous_uid, files.c.file_name,
            func.coalesce(listed.c.restore_name, restore_name(files.c.file_name)).label("target"),
        )
        .join(affected, affected.c.mous_uid == files.c.mous_uid)
        .outerjoin(
            listed, and_(listed.c.mous_uid == files.c.mous_uid, listed.c.file_name == files.c.file_name)
        )
        .where(files.c.kind.in_(RESTORE_PRODUCT_KINDS))
        .subquery("named")
    )
    per_target = (
        select(
            named.c.mous_uid,
            named.c.target,
            func.min(named.c.file_name).label("first"),
            func.max(named.c.file_name).label("last"),
            func.count().label("copies"),
        )
        .group_by(named.c.mous_uid, named.c.target)
        .subquery("per_target")
    )
    unsafe = or_(func.strpos(per_target.c.target, "/") > 0, per_target.c.target.in_(("", ".", "..")))
    clash = func.format(
        "%s and %s both restore as %s", func.quote_literal(per_target.c.first),
        func.quote_literal(per_target.c.last), func.quote_literal(per_target.c.target),
    )
    return (
        select(
            per_target.c.mous_uid,
            func.min(per_target.c.first).filter(unsafe).label("unsafe_product_name"),
            func.min(clash).filter(per_target.c.copies > 1).label("product_name_clash"),
        )
        .group_by(per_target.c.mous_uid)
        .subquery("restore_names")
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

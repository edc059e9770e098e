"""Turns a modelled project into rows of the contract tables, in each table's column order."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from etl.archive_names import disk_name
from etl.demo.model import (
    ARRAYS,
    FAIL,
    PASS,
    SEMIPASS,
    ExecBlock,
    Mous,
    Project,
    ScienceGoal,
    Session,
    XmlForm,
)
from etl.demo.status_xml import group_document, member_document
from etl.source.contract import CONTRACT_TABLES

Row = tuple[Any, ...]

# Contract column keys each generated row fills, in row order: the contract's own column order.
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    table: tuple(column.key for column in columns) for table, columns in CONTRACT_TABLES.items()
}

FINISHED_STATES: Final = frozenset({"Delivered", "Deleted", "ObservingTimedOut"})


class RowSink(Protocol):
    """Where rows go (spooled per table until the load)."""

    def add(self, table: str, row: Row) -> None: ...


def project_state(mouses: Iterable[Mous]) -> str:
    """OBS_PROJECT_STATUS state from its members' states."""
    members = list(mouses)
    if all(mous.state in FINISHED_STATES for mous in members):
        return "Completed"
    if any(mous.state == "Ready" for mous in members):
        return "PartiallyObserved" if any(mous.all_ebs() for mous in members) else "Ready"
    return "FullyObserved"


def group_state(mouses: Iterable[Mous]) -> str:
    """State of a root, science-goal or group OUS from the members below it."""
    state = project_state(mouses)
    return "Delivered" if state == "Completed" else state


def write_project(project: Project, sink: RowSink) -> None:
    """Every row one project contributes, to every contract table."""
    mouses = project.mouses()
    sink.add("obs_project_status", (project.status_uid, project.obsproject_uid, project_state(mouses)))
    sink.add(
        "bmmv_obsproject",
        (project.obsproject_uid, project.code, project.title, project.pi_account, project.grade, 0),
    )
    sink.add(
        "bmmv_obsproposal",
        (project.proposal_uid, project.obsproject_uid, project.cycle.code, project.pi_fullname,
         project.executive),
    )
    if project.earlier_proposal is not None:
        earlier_uid, earlier_cycle = project.earlier_proposal
        sink.add(
            "bmmv_obsproposal",
            (earlier_uid, project.obsproject_uid, earlier_cycle, None, project.executive),
        )
    _write_group_ous(
        sink, project, project.root_uid, project.root_part_id, None, mouses, project.root_xml_form
    )
    goal_of = {mous.uid: goal for goal in project.goals for mous in goal.mouses}
    for goal in project.goals:
        _write_goal(sink, project, goal)
        for mous in goal.mouses:
            _write_mous(sink, project, goal, mous, goal_of)


def _write_group_ous(
    sink: RowSink,
    project: Project,
    uid: str,
    part_id: str,
    parent_uid: str | None,
    mouses: list[Mous],
    form: XmlForm,
) -> None:
    state = group_state(mouses)
    document = group_document(
        uid, project.obsproject_uid, part_id, project.status_uid, parent_uid, state, form
    )
    sink.add(
        "obs_unit_set_status",
        (uid, part_id, state, parent_uid, project.status_uid, project.obsproject_uid, None, document),
    )


def _write_goal(sink: RowSink, project: Project, goal: ScienceGoal) -> None:
    _write_group_ous(
        sink, project, goal.sous_uid, goal.sous_part_id, project.root_uid, goal.mouses, goal.xml_form
    )
    _write_group_ous(
        sink, project, goal.gous_uid, goal.gous_part_id, goal.sous_uid, goal.mouses, goal.xml_form
    )


def _write_mous(
    sink: RowSink, project: Project, goal: ScienceGoal, mous: Mous, goal_of: dict[str, ScienceGoal]
) -> None:
    document = member_document(mous, project.obsproject_uid, project.status_uid, goal.gous_uid)
    sink.add(
        "obs_unit_set_status",
        (mous.uid, mous.part_id, mous.state, goal.gous_uid, project.status_uid,
         project.obsproject_uid, mous.flags, document),
    )
    sink.add("aqua_ous", (mous.uid, project.obsproject_uid, mous.part_id, mous.qa2))
    for sb in mous.sbs:
        sink.add(
            "sched_block_status",
            (sb.status_uid, sb.uid, sb.state, mous.uid, project.obsproject_uid),
        )
        sink.add(
            "bmmv_schedblock",
            (sb.uid, project.obsproject_uid, mous.uid, sb.status_uid, sb.name, sb.state,
             mous.requested_array, sb.band, sb.execution_count),
        )
    for session in mous.sessions:
        _write_session(sink, session)
    for eb in mous.all_ebs():
        _write_eb(sink, project, mous, eb)
        _write_asa(sink, project, goal, mous.uid, eb, eb.uid)
        if eb.asa_also_under is not None:
            # The anomaly: ASA also files this EB under another MOUS of the project.
            other = goal_of[eb.asa_also_under]
            _write_asa(sink, project, other, eb.asa_also_under, eb, f"{eb.uid}_2")
    for product in mous.products:
        sink.add(
            "asa_product_files", (mous.uid, product.name, product.size, product.file_class)
        )
    if mous.delivery is not None:
        delivery = mous.delivery
        sink.add(
            "asa_delivery_status",
            (delivery.key, f"{project.code}_{disk_name(mous.uid)}", "Y", delivery.release,
             delivery.comment),
        )


def _write_session(sink: RowSink, session: Session) -> None:
    sink.add("aqua_session", (session.session_id, session.start, session.end))


def _write_eb(sink: RowSink, project: Project, mous: Mous, eb: ExecBlock) -> None:
    sink.add(
        "aqua_execblock",
        (eb.uid, eb.sb.uid, project.code, eb.qa0, eb.start, eb.end, eb.exec_fraction, eb.session_id),
    )
    array = ARRAYS[mous.array]
    logged = _logged_at(eb)
    for copy_number, se_id in enumerate(eb.shiftlog_ids):
        sink.add(
            "shiftlog_entries",
            (se_id, "OBSERVATION", logged + timedelta(minutes=7 * copy_number), eb.start, project.code,
             eb.sb.uid, eb.uid, "OSF-AOS", "FAIL" if eb.qa0 == FAIL else "SUCCESS", eb.qa0,
             array.shiftlog_family, array.correlator),
        )


def _logged_at(eb: ExecBlock) -> datetime:
    return (eb.end or eb.start + timedelta(hours=1)) + timedelta(minutes=2)


def _write_asa(
    sink: RowSink, project: Project, goal: ScienceGoal, mous_uid: str, eb: ExecBlock, dataset_id: str
) -> None:
    # ASA lists only QA0 Pass and SemiPass EBs; some Pass EBs are missing from it.
    if eb.qa0 not in (PASS, SEMIPASS) or not eb.asa_listed:
        return
    sink.add(
        "asa_science",
        (dataset_id, eb.uid, mous_uid, mous_uid, goal.gous_uid, goal.sous_uid, project.code,
         eb.sb.uid, eb.sb.name, eb.start, eb.end, _logged_at(eb) + timedelta(days=3)),
    )

"""Which MOUSes a run's changes touch, and the MOUS each change event belongs to.

Every change event carries its table's linking columns, old and new, so a change can be traced to its
MOUS even when the row is gone: a deleted shift-log row still names the SB it pointed at.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    MetaData,
    Select,
    Table,
    Text,
    case,
    cast,
    func,
    insert,
    or_,
    select,
    union,
    update,
)

from etl.copy import analyze
from etl.derive.restorability import RULES_VERSION
from etl.derive.tree import eb_mous, member_ous
from etl.mirror import (
    ChangeEvent,
    ExecutionBlock,
    MousStatus,
    Ous,
    Project,
    SchedulingBlock,
    metadata,
    table_of,
)

events = table_of(ChangeEvent)


def create_affected_table(connection: Connection) -> Table:
    """A temporary set of MOUS UIDs whose derived rows this run recomputes."""
    affected = Table(
        "affected_mous", MetaData(), Column("mous_uid", Text, primary_key=True),
        prefixes=["TEMPORARY"], postgresql_on_commit="DROP",
    )
    affected.create(connection)
    return affected


def mark_all_members(connection: Connection, affected: Table) -> None:
    """Every member OUS, and every OUS that still has derived rows (a full sync re-derives them all).

    An OUS gone from the source, or no longer a member (its group gone), is no member any more; its
    derived rows must go in this run all the same, or they name an OUS the same run deleted.
    """
    members = member_ous()
    derived = [select(members.c.mous_uid)]
    derived += [select(column) for column in _derived_ous_columns()]
    connection.execute(insert(affected).from_select(["mous_uid"], union(*derived)))
    analyze(connection, affected)


def _derived_ous_columns() -> list[Column[str]]:
    """The column of each derived table that names its OUS: those with a foreign key to ``ous``."""
    ous_uid = table_of(Ous).c.ous_uid
    return [
        column
        for table in metadata.sorted_tables
        for column in table.columns
        if any(key.column is ous_uid for key in column.foreign_keys)
    ]


def mark_changed(connection: Connection, affected: Table, run_id: int) -> None:
    """Fill ``affected`` from this run's events, and name the MOUS of events that lacked one.

    A changed project touches every member of it (its code is in each of their PPRs) without naming
    one; MOUSes whose status was derived by older restorability rules are added too, so that new rules
    reach every MOUS on the first sync after an upgrade, touched by a change or not.
    """
    pairs = _event_mous_pairs(run_id).subquery("event_mous")
    per_event = (
        select(pairs.c.event_id, func.min(pairs.c.mous_uid).label("mous_uid"))
        .group_by(pairs.c.event_id)
        .subquery("per_event")
    )
    connection.execute(
        update(events)
        .where(events.c.event_id == per_event.c.event_id, events.c.mous_uid.is_(None))
        .values(mous_uid=per_event.c.mous_uid)
    )
    status = table_of(MousStatus)
    outdated = select(status.c.mous_uid).where(status.c.rules_version != RULES_VERSION)
    changed = select(pairs.c.mous_uid).where(pairs.c.mous_uid.is_not(None))
    connection.execute(
        insert(affected).from_select(["mous_uid"], union(changed, _project_members(run_id), outdated))
    )
    analyze(connection, affected)


def _linked(run_id: int, column: str, tables: tuple[str, ...]) -> list[Select[tuple[int, str]]]:
    """(event, value of a linking column) from both the old and the new values of events on ``tables``."""
    return [
        select(events.c.event_id, values[column].astext.label("value")).where(
            events.c.run_id == run_id, events.c.table_name.in_(tables), values.is_not(None)
        )
        for values in (events.c.old_values, events.c.new_values)
    ]


def _direct(run_id: int) -> list[Select[tuple[int, str]]]:
    """Tables that carry a MOUS column name it themselves, before and after the change."""
    carrying = ("ous_qa2", "scheduling_block", "sb_status", "product_file", "delivery", "asa_dataset")
    linked = [*_linked(run_id, "mous_uid", carrying), *_linked(run_id, "asa_ous_uid", ("asa_dataset",))]
    return [
        select(value.c.event_id, value.c.value.label("mous_uid"))
        for value in (q.subquery() for q in linked)
    ]


def _through_tree(run_id: int) -> list[Select[tuple[int, str]]]:
    """An OUS change touches the OUS itself (a member, or one that stopped being one) and the members
    below it (a moved group moves its members' science goal), as the tree is now and as the mirror
    last derived it (a group that vanished leaves its MOUSes members of nothing)."""
    ous = table_of(Ous)
    members = member_ous()
    status = table_of(MousStatus)
    changed = (
        select(events.c.event_id, events.c.row_key.label("ous_uid"))
        .where(events.c.run_id == run_id, events.c.table_name == ous.name)
        .subquery("changed_ous")
    )
    return [
        select(changed.c.event_id, changed.c.ous_uid),
        select(changed.c.event_id, members.c.mous_uid).join(
            members,
            or_(members.c.gous_uid == changed.c.ous_uid, members.c.sous_uid == changed.c.ous_uid),
        ),
        select(changed.c.event_id, status.c.mous_uid).join(
            status, or_(status.c.gous_uid == changed.c.ous_uid, status.c.sous_uid == changed.c.ous_uid)
        ),
    ]


def _project_members(run_id: int) -> Select[tuple[str]]:
    """The members of every project this run changed."""
    members = member_ous()
    return (
        select(members.c.mous_uid)
        .join(events, events.c.row_key == members.c.project_uid)
        .where(events.c.run_id == run_id, events.c.table_name == table_of(Project).name)
    )


def _through_sb(run_id: int) -> list[Select[tuple[int, str]]]:
    """Shift-log and EB rows name an SB; the SB names the MOUS."""
    blocks = table_of(SchedulingBlock)
    return [
        select(link.c.event_id, blocks.c.mous_uid).join(blocks, blocks.c.sb_uid == link.c.value)
        for link in (
            q.subquery() for q in _linked(run_id, "sb_uid", ("shiftlog_entry", "execution_block"))
        )
    ]


def _through_eb(run_id: int) -> list[Select[tuple[int, str]]]:
    """EB, session, shift-log and ASA changes reach the MOUS the session rule puts their EB in."""
    ebs = table_of(ExecutionBlock)
    links = eb_mous()
    is_session = events.c.table_name == "observing_session"
    eb_keys = [
        select(events.c.event_id, events.c.row_key.label("value")).where(
            events.c.run_id == run_id, events.c.table_name == ebs.name
        ),
        *_linked(run_id, "eb_uid", ("asa_dataset", "shiftlog_entry")),
        # The CASE keeps the cast away from other tables' keys, whatever order the planner picks.
        select(events.c.event_id, ebs.c.eb_uid.label("value"))
        .join(ebs, ebs.c.session_id == cast(case((is_session, events.c.row_key)), BigInteger))
        .where(events.c.run_id == run_id, is_session),
    ]
    return [
        select(key.c.event_id, links.c.mous_uid).join(links, links.c.eb_uid == key.c.value)
        for key in (q.subquery() for q in eb_keys)
    ]


def _event_mous_pairs(run_id: int) -> Select[tuple[int, str]]:
    return union(
        *_direct(run_id), *_through_tree(run_id), *_through_sb(run_id), *_through_eb(run_id)
    )  # type: ignore[return-value]

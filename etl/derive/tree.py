"""The OUS tree as the derivations see it: member OUSes with their group, science goal and project."""

from __future__ import annotations

from sqlalchemy import FromClause, Subquery, select

from etl.mirror import Ous, SchedulingBlock, ShiftlogEntry, table_of


def member_ous() -> Subquery:
    """Every member OUS: an OUS three levels below a project root (root → SOUS → GOUS → MOUS)."""
    mous = table_of(Ous).alias("mous")
    gous = table_of(Ous).alias("gous")
    sous = table_of(Ous).alias("sous")
    root = table_of(Ous).alias("root")
    return (
        select(
            mous.c.ous_uid.label("mous_uid"),
            gous.c.ous_uid.label("gous_uid"),
            sous.c.ous_uid.label("sous_uid"),
            mous.c.project_uid,
            mous.c.part_id,
            mous.c.project_status_uid,
            mous.c.state,
            mous.c.recipe,
        )
        .join_from(mous, gous, gous.c.ous_uid == mous.c.parent_ous_uid)
        .join(sous, sous.c.ous_uid == gous.c.parent_ous_uid)
        .join(root, root.c.ous_uid == sous.c.parent_ous_uid)
        .where(root.c.parent_ous_uid.is_(None))
        .subquery("member_ous")
    )


def eb_mous(scope: FromClause | None = None) -> Subquery:
    """(EB, MOUS) pairs through the shift log and scheduling blocks, as the session rule links them.

    One pair per EB and MOUS however many shift-log rows name the EB. ``scope`` (a table of MOUS UIDs)
    limits the pairs to those MOUSes.
    """
    shiftlog = table_of(ShiftlogEntry)
    blocks = table_of(SchedulingBlock)
    pairs = select(shiftlog.c.eb_uid, blocks.c.mous_uid).join_from(
        shiftlog, blocks, blocks.c.sb_uid == shiftlog.c.sb_uid
    )
    if scope is not None:
        pairs = pairs.join(scope, scope.c.mous_uid == blocks.c.mous_uid)
    return pairs.distinct().subquery("eb_mous")

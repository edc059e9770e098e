"""Which MOUSes lost restorability (``report no-longer-restorable``), why, and whether the spool holds
a request for them.

A night can take restorability away: an EB flipped to QA0 Fail, an archive record that now disagrees,
an OUS that vanished. The sync records it as a change event of ``mous_status`` whose old values have a
restore kind other than none and whose new values have none (or as the row's deletion); the reason is
the MOUS's verdict now. A request already in the spool for such a MOUS must not be run: the report names it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Boolean, Connection, Select, and_, or_, select
from sqlalchemy.sql.functions import coalesce

from etl.mirror.base import table_of
from etl.mirror.bookkeeping import ChangeEvent, SyncRun
from etl.output import PLAIN, Layout, TableView, moment_text
from etl.report.base import Report, counted, fetch, plural, write_report
from etl.report.latest_run import latest_succeeded_run
from etl.report.views import mous_restore, restorable_mous
from etl.restore.kinds import PIPELINE_PPR, PIPELINE_SCRIPT, SCRIPTFORPI
from etl.restore.spool import spooled_requests

COLUMNS = ("mous_uid", "project_code", "run_id", "lost_at", "reason_code", "reason", "spool_request")
LAYOUT = Layout(
    drop_first=("run_id", "lost_at", "project_code", "reason_code"), fold=("reason", "spool_request")
)
VANISHED = "ous_deleted"


@dataclass(frozen=True)
class LostMous:
    mous_uid: str
    reason_code: str
    reason: str


def lost_query(
    run_id: int | None = None, since: datetime | None = None, ppr_only: bool = False
) -> Select[Any]:
    """The MOUSes whose restorability a run took away: in run ``run_id``, or in runs finished since.

    Restorable means a restore kind other than none; with ``ppr_only``, the kind pipeline_ppr (a PPR-only
    site loses a MOUS that now restores only by its script or scriptForPI.py). A change between two
    other kinds is no loss: ``report changes`` shows it (``restore_kind``).
    """
    events = table_of(ChangeEvent)
    runs = table_of(SyncRun)
    view, kinds = restorable_mous, mous_restore
    old_kind = events.c.old_values["restore_kind"].astext
    new_kind = events.c.new_values["restore_kind"].astext
    # Events recorded before revision 0013 carry only the PPR verdict.
    old_ppr = events.c.old_values["restorable"].astext.cast(Boolean).is_(True)
    new_not_ppr = events.c.new_values["restorable"].astext.cast(Boolean).is_(False)
    wanted = (PIPELINE_PPR,) if ppr_only else (PIPELINE_PPR, PIPELINE_SCRIPT, SCRIPTFORPI)
    was_restorable = or_(old_kind.in_(wanted), and_(old_kind.is_(None), old_ppr))
    now_not = or_(
        events.c.kind == "delete", and_(new_kind.is_not(None), new_kind.not_in(wanted)),
        and_(new_kind.is_(None), new_not_ppr),
    )
    still_lost = or_(kinds.c.restore_kind.is_(None), kinds.c.restore_kind.not_in(wanted))
    query = (
        select(
            events.c.mous_uid,
            view.c.project_code,
            events.c.run_id,
            runs.c.finished_at.label("lost_at"),
            coalesce(view.c.reason_code, VANISHED).label("reason_code"),
            coalesce(
                kinds.c.restore_reason, view.c.reason, "the OUS is no longer in the ALMA source"
            ).label("reason"),
        )
        .join(runs, runs.c.run_id == events.c.run_id)
        .outerjoin(view, view.c.mous_uid == events.c.mous_uid)
        .outerjoin(kinds, kinds.c.mous_uid == events.c.mous_uid)
        .where(
            events.c.table_name == "mous_status", events.c.kind.in_(("update", "delete")),
            was_restorable, now_not,
            # Restorable again since: no longer lost.
            still_lost,
        )
        .order_by(events.c.run_id.desc(), view.c.project_code, events.c.mous_uid)
    )
    if run_id is not None:
        query = query.where(events.c.run_id == run_id)
    if since is not None:
        query = query.where(and_(runs.c.finished_at >= since, runs.c.status == "succeeded"))
    return query


def lost_in_run(connection: Connection, run_id: int) -> list[LostMous]:
    """The MOUSes run ``run_id`` took restorability from, with their reason (for the sync summary)."""
    rows = connection.execute(lost_query(run_id=run_id)).mappings()
    return [LostMous(row["mous_uid"], row["reason_code"], row["reason"]) for row in rows]


def show_no_longer_restorable(
    connection: Connection, since: datetime | None, spool: Path | None, fmt: str, stream: TextIO,
    view: TableView = PLAIN, ppr_only: bool = False,
) -> None:
    """``report no-longer-restorable``: the latest run's losses (or every one since a moment)."""
    write_report(no_longer_restorable_report(connection, since, spool, ppr_only), fmt, stream, view)


def no_longer_restorable_report(
    connection: Connection, since: datetime | None, spool: Path | None, ppr_only: bool = False
) -> Report:
    how = " by a restore PPR" if ppr_only else ""
    if since is not None:
        rows = fetch(connection, lost_query(since=since, ppr_only=ppr_only))
        scope = f"no longer restorable{how} since {moment_text(since)}"
    else:
        run = latest_succeeded_run(connection)
        if run is None:
            return Report([], COLUMNS, "no sync has succeeded yet", layout=LAYOUT)
        rows = fetch(connection, lost_query(run_id=run.run_id, ppr_only=ppr_only))
        scope = f"no longer restorable{how} after run {run.run_id} (finished {moment_text(run.finished_at)})"
    in_spool = spool_requests(spool, [row["mous_uid"] for row in rows])
    for row in rows:
        row["spool_request"] = str(in_spool[row["mous_uid"]]) if row["mous_uid"] in in_spool else None
    summary = f"{plural(len(rows), 'MOUS', 'MOUSes')} {scope}"
    reasons = _count(row["reason_code"] for row in rows)
    if reasons:
        summary += f" ({counted(reasons)})"
    if spool is not None:
        summary += f"; {len(in_spool):,} of them with a request in {spool} (do not run it)"
    return Report(rows, COLUMNS, summary, layout=LAYOUT)


def spool_requests(spool: Path | None, mous_uids: Sequence[str]) -> Mapping[str, Path]:
    """The request directory the spool holds for each of ``mous_uids`` (any session map), if any; of
    several, the last by path (a request's path begins with its creation time)."""
    if spool is None or not mous_uids:
        return {}
    wanted = set(mous_uids)
    return {request.mous_uid: request.directory for request in spooled_requests(spool)
            if request.mous_uid in wanted}


def _count(codes: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for code in codes:
        counts[code] = counts.get(code, 0) + 1
    return counts

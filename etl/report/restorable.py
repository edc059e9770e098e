"""Which member OUSes can be restored (``restorable_mous``), how (``mous_restore``'s restore kind),
with which of the site's CASA releases, and which just became so.

Restorable means a restore kind other than ``none``: by a restore PPR, by the archived restore script,
or by the delivery's scriptForPI.py; ``ppr_only`` keeps the first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import ColumnElement, Connection, Select, func, select

from etl.mirror.reasons import REASON_CODES
from etl.output import PLAIN, Layout, TableView, choose_columns, moment_text
from etl.report.base import Report, counted, fetch, plural, write_report
from etl.report.latest_run import latest_succeeded_run
from etl.report.views import column_names, mous_restore, newly_restorable, restorable_mous
from etl.restore.casa import RestoreFacts, choose_casa
from etl.restore.kinds import NONE, PIPELINE_PPR, RESTORE_KINDS
from etl.restore.settings import CasaInstallation

# What fits a terminal; csv and json carry every column of the view. Only the shown columns are
# selected: last_change_at, the one costly column (a change_event lookup per MOUS), is not among them.
VIEW_COLUMNS = column_names(restorable_mous)
# How the MOUS restores (mous_restore) and the CASA it needs at this site ([restore.casa]).
RESTORE_COLUMNS = ("restore_kind", "restore_reason", "casa_needed", "casa_chosen", "casa_installed",
                   "casa_to_install")
ALL_COLUMNS = (*VIEW_COLUMNS, *RESTORE_COLUMNS)
# What the CASA choice reads from mous_restore.
CHOICE_COLUMNS = ("restore_kind", "restore_reason", "hm_rasterscan", "script_casa_versions")
TABLE_COLUMNS = (
    "mous_uid", "project_code", "array_family", "band", "eb_count", "pass_eb_count", "session_count",
    "empty_session_count", "restore_kind", "calibration_kind", "release_date", "proprietary",
    "calibration_record", "casa_version", "pipeline_version", "mpi_servers", "casa_chosen",
)
NOT_RESTORABLE_TABLE_COLUMNS = (
    "mous_uid", "project_code", "array_family", "band", "eb_count", "pass_eb_count", "session_count",
    "empty_session_count", "calibration_kind", "release_date", "proprietary", "calibration_record",
    "casa_version", "pipeline_version", "mpi_servers", "reason_code", "reason",
)
NEWLY_RESTORABLE_COLUMNS = column_names(newly_restorable)
# On a narrow terminal the counts go first, then the provenance and the dates, then the CASA
# choice; the UID, project, restore kind (the verdict), calibration record and reason stay.
LAYOUT = Layout(
    drop_first=(
        "empty_session_count", "session_count", "pass_eb_count", "eb_count", "pipeline_version",
        "mpi_servers", "casa_version", "proprietary", "calibration_kind", "release_date", "band",
        "array_family", "casa_chosen",
    ),
    fold=("reason", "restore_reason", "casa_chosen"),
)
NEWLY_RESTORABLE_LAYOUT = Layout(drop_first=("proprietary", "release_date", "band", "array_family"))


@dataclass(frozen=True)
class RestorableFilter:
    project: str | None = None
    array: str | None = None
    not_restorable: bool = False
    ppr_only: bool = False  # restorable by a restore PPR only (sites that run nothing else)
    casa: tuple[CasaInstallation, ...] = ()  # the site's CASA releases ([restore.casa])

    def table_columns(self) -> tuple[str, ...]:
        """A listing is all restorable or all not: only the latter needs the reason."""
        return NOT_RESTORABLE_TABLE_COLUMNS if self.not_restorable else TABLE_COLUMNS

    def describe(self) -> str:
        """' of project 2017.1.00886.S on the 12m array', or '' when unfiltered."""
        project = f" of project {self.project}" if self.project else ""
        array = f" on the {self.array} array" if self.array else ""
        return project + array

    def kinds(self) -> tuple[str, ...]:
        """The restore kinds listed."""
        if self.not_restorable:
            return (NONE,)
        if self.ppr_only:
            return (PIPELINE_PPR,)
        return tuple(kind for kind in RESTORE_KINDS if kind != NONE)


def show_restorable(
    connection: Connection, chosen: RestorableFilter, fmt: str, stream: TextIO, view: TableView = PLAIN
) -> None:
    """``report restorable``: the MOUSes that can (or, with not_restorable, cannot) be restored."""
    # Only the columns shown are selected: last_change_at costs a lookup per MOUS.
    columns = choose_columns(view, ALL_COLUMNS, chosen.table_columns() if fmt == "table" else ALL_COLUMNS)
    write_report(restorable_report(connection, chosen, columns), fmt, stream, view)


def restorable_report(
    connection: Connection, chosen: RestorableFilter, columns: Sequence[str] = ALL_COLUMNS
) -> Report:
    rows = fetch(connection, restorable_query(chosen, columns))
    missing: dict[str, int] = {}
    for row in rows:
        _add_casa(row, chosen.casa, missing)
    counts = {
        (row.restore_kind, row.reason_code): row.mous_count
        for row in connection.execute(verdict_counts_query(chosen))
    }
    summary = restorable_summary(counts, chosen) + _missing_summary(missing)
    return Report(rows, columns, summary, chosen.table_columns(), LAYOUT)


def restorable_query(chosen: RestorableFilter, columns: Sequence[str] = ALL_COLUMNS) -> Select[Any]:
    """The view's chosen columns, and what the CASA choice reads, of the MOUSes of the listed kinds."""
    view, kinds = restorable_mous, mous_restore
    shown = [view.c[name] for name in columns if name in VIEW_COLUMNS]
    needed = {"calibration_kind", "casa_version", "mpi_servers"} - set(columns)
    return (
        select(*shown, *(view.c[name] for name in sorted(needed)), *(kinds.c[n] for n in CHOICE_COLUMNS))
        .join(kinds, kinds.c.mous_uid == view.c.mous_uid)
        .where(*_scope(chosen), kinds.c.restore_kind.in_(chosen.kinds()))
        .order_by(view.c.project_code, view.c.mous_uid)
    )


def verdict_counts_query(chosen: RestorableFilter) -> Select[Any]:
    """MOUSes per restore kind and reason code (NULL: restorable by a PPR) in the filter's scope."""
    view, kinds = restorable_mous, mous_restore
    return (
        select(kinds.c.restore_kind, view.c.reason_code, func.count().label("mous_count"))
        .join(kinds, kinds.c.mous_uid == view.c.mous_uid)
        .where(*_scope(chosen))
        .group_by(kinds.c.restore_kind, view.c.reason_code)
    )


def restore_kind_counts(connection: Connection) -> dict[str, int]:
    """MOUSes per restore kind, every kind named (0 when none has it), in RESTORE_KINDS' order."""
    view = mous_restore
    query = select(view.c.restore_kind, func.count().label("n")).group_by(view.c.restore_kind)
    counted: dict[str, int] = {row.restore_kind: row.n for row in connection.execute(query)}
    return {kind: counted.get(kind, 0) for kind in RESTORE_KINDS}


def describe_restore_kinds(counts: Mapping[str, int]) -> str:
    """'restore kinds: pipeline_ppr 25, pipeline_script 1, scriptforpi 3, none 12'."""
    return "restore kinds: " + ", ".join(f"{kind} {count:,}" for kind, count in counts.items())


def _add_casa(row: dict[str, Any], site: Sequence[CasaInstallation], missing: dict[str, int]) -> None:
    """The CASA the row's restore needs, the installation chosen for it, and what to install if none."""
    choice = choose_casa(RestoreFacts.from_row(row), site)
    row["casa_needed"] = choice.needed
    row["casa_chosen"] = choice.summary() or None
    row["casa_installed"] = choice.installed if choice.needed is not None else None
    row["casa_to_install"] = choice.to_install
    if choice.needed is not None and not choice.installed:
        wanted = choice.to_install or "a known CASA version"
        missing[wanted] = missing.get(wanted, 0) + 1


def _missing_summary(missing: Mapping[str, int]) -> str:
    """'; CASA missing here for 3 (install 4.7.0 ×2, 6.5.4.9 with the pipeline ×1)'."""
    if not missing:
        return ""
    total = sum(missing.values())
    parts = ", ".join(f"{version} ×{count}" for version, count in sorted(missing.items()))
    return f"; CASA missing at this site for {total:,} ({parts}: [restore.casa])"


def _scope(chosen: RestorableFilter) -> list[ColumnElement[bool]]:
    view = restorable_mous
    conditions: list[ColumnElement[bool]] = []
    if chosen.project is not None:
        conditions.append(view.c.project_code == chosen.project)
    if chosen.array is not None:
        conditions.append(view.c.array_family == chosen.array)
    return conditions


def restorable_summary(counts: Mapping[tuple[str, str | None], int], chosen: RestorableFilter) -> str:
    """'41 MOUSes: 30 restorable (pipeline_ppr 25, scriptforpi 5), 11 not (no_calibration_products 5, …)'."""
    total = sum(counts.values())
    by_kind: dict[str, int] = {}
    not_restorable: dict[str | None, int] = {}
    for (kind, reason), count in counts.items():
        by_kind[kind] = by_kind.get(kind, 0) + count
        if kind == NONE:
            not_restorable[reason] = not_restorable.get(reason, 0) + count
    restorable = total - by_kind.get(NONE, 0)
    kinds: dict[str, int] = {
        kind: by_kind[kind] for kind in RESTORE_KINDS if kind != NONE and by_kind.get(kind)
    }
    mouses = plural(total, "MOUS", "MOUSes")
    line = f"{mouses}{chosen.describe()}: {restorable:,} restorable"
    if kinds:
        line += f" ({counted(kinds)})"
    line += f", {total - restorable:,} not"
    reasons = _in_reason_order(not_restorable)
    return f"{line} ({counted(reasons)})" if reasons else line


def _in_reason_order(counts: Mapping[str | None, int]) -> dict[str, int]:
    """Reasons in the order the derivation checks them; any code this version does not know, last."""
    known: Sequence[str] = REASON_CODES
    codes = [*known, *sorted(code for code in counts if code is not None and code not in known)]
    return {code: counts[code] for code in codes if counts.get(code)}


def show_newly_restorable(
    connection: Connection, since: datetime | None, fmt: str, stream: TextIO, view: TableView = PLAIN,
    ppr_only: bool = False,
) -> None:
    """``report newly-restorable``: MOUSes that became restorable in the latest run, or since a date."""
    write_report(newly_restorable_report(connection, since, ppr_only), fmt, stream, view)


def newly_restorable_report(connection: Connection, since: datetime | None, ppr_only: bool = False) -> Report:
    rows = fetch(connection, newly_restorable_query(since, ppr_only))
    proprietary = sum(1 for row in rows if row["proprietary"])
    how = " by a restore PPR" if ppr_only else ""
    if since is not None:
        scope = f"restorable{how} since {moment_text(since)}"
    else:
        run = latest_succeeded_run(connection)
        if run is None:
            return Report(rows, NEWLY_RESTORABLE_COLUMNS, "no sync has succeeded yet",
                          layout=NEWLY_RESTORABLE_LAYOUT)
        scope = f"newly restorable{how} in run {run.run_id} (finished {moment_text(run.finished_at)})"
    summary = f"{plural(len(rows), 'MOUS', 'MOUSes')} {scope}; {proprietary:,} of them still proprietary"
    kinds: dict[str, int] = {
        kind: sum(1 for row in rows if row["restore_kind"] == kind) for kind in RESTORE_KINDS
    }
    if sum(1 for n in kinds.values() if n) > 1:
        summary += f" ({counted(kinds)})"
    return Report(rows, NEWLY_RESTORABLE_COLUMNS, summary, layout=NEWLY_RESTORABLE_LAYOUT)


def newly_restorable_query(since: datetime | None, ppr_only: bool = False) -> Select[Any]:
    """The view (the latest run) without ``since``; otherwise every MOUS restorable (by any kind, or by
    a restore PPR with ``ppr_only``) from that moment on."""
    if since is None:
        query = select(newly_restorable).order_by(
            newly_restorable.c.project_code, newly_restorable.c.mous_uid
        )
        return query.where(newly_restorable.c.restore_kind == PIPELINE_PPR) if ppr_only else query
    view, kinds = restorable_mous, mous_restore
    query = (
        select(*(view.c[name] for name in NEWLY_RESTORABLE_COLUMNS if name != "restore_kind"),
               kinds.c.restore_kind)
        .join(kinds, kinds.c.mous_uid == view.c.mous_uid)
        # restorable_since is set while the kind is not none (mous_status's check).
        .where(view.c.restorable_since >= since)
        .order_by(view.c.restorable_since, view.c.project_code, view.c.mous_uid)
    )
    return query.where(kinds.c.restore_kind == PIPELINE_PPR) if ppr_only else query

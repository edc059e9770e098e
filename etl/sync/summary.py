"""The end-of-sync summary: per-table figures, changes, newly restorable MOUSes, quality, duration."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, TextIO

from etl.load.documents import DocumentFetch
from etl.output import json_value, render_table
from etl.sync.pipeline import SyncSummary

TABLE_COLUMNS = ("table", "rows_read", "rows_pulled", "inserted", "updated", "deleted", "seconds")
LISTED_NEWLY_RESTORABLE = 20


def summary_document(summary: SyncSummary) -> dict[str, Any]:
    document = asdict(summary)
    document["changes"] = summary.changes
    document["documents"]["skipped_reason"] = summary.documents.skipped_reason
    result: dict[str, Any] = json_value_tree(document)
    return result


def json_value_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: json_value_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_value_tree(item) for item in value]
    if isinstance(value, float):
        return round(value, 3)
    return json_value(value)


def write_summary(summary: SyncSummary, fmt: str, stream: TextIO, with_tables: bool = True) -> None:
    """The run's summary; ``with_tables=False`` leaves out the per-table figures (the terminal's
    progress lines already showed each table's one line)."""
    if fmt == "json":
        json.dump(summary_document(summary), stream, indent=2, ensure_ascii=False)
        stream.write("\n")
        return
    if with_tables:
        rows = [
            {**asdict(figures), "seconds": round(figures.seconds, 2)} for figures in summary.tables
        ]
        stream.write(render_table(rows, TABLE_COLUMNS) + "\n")
    kind = "baseline (first) sync" if summary.baseline else "full sync" if summary.full else "sync"
    stream.write(
        f"{kind} run {summary.run_id}: {summary.changes:,} row change(s), "
        f"{summary.mous_derived:,} MOUS(es) re-derived, in {summary.seconds:.1f} s\n"
    )
    stream.write(
        f"restorable MOUSes: {summary.restorable_total:,} ({summary.restorable_by_ppr:,} by a restore PPR); "
        f"newly restorable by a PPR in this run: {len(summary.newly_restorable):,}\n"
    )
    for uid in summary.newly_restorable[:LISTED_NEWLY_RESTORABLE]:
        stream.write(f"  {uid}\n")
    if len(summary.newly_restorable) > LISTED_NEWLY_RESTORABLE:
        stream.write(
            f"  … and {len(summary.newly_restorable) - LISTED_NEWLY_RESTORABLE:,} more "
            "(almamirror report newly-restorable)\n"
        )
    write_lost(summary, stream)
    stream.write(pulled_line(summary) + "\n")
    stream.write(documents_line(summary.documents) + "\n")
    quarantined = sum(figures.quarantined for figures in summary.tables)
    if quarantined:
        stream.write(
            f"source rows quarantined (left out, the mirror's previous version kept): {quarantined:,} "
            "(almamirror report quality --kind quarantined_row)\n"
        )
    quality = summary.quality
    stream.write(
        f"data-quality issues: {quality.opened:,} opened, {quality.resolved:,} resolved, "
        f"{quality.open_total:,} open (almamirror report quality)\n"
    )


def write_lost(summary: SyncSummary, stream: TextIO) -> None:
    """The other side of "newly restorable": what this run took restorability from, and why."""
    lost = summary.no_longer_restorable
    stream.write(f"no longer restorable after this run: {len(lost):,}\n")
    for mous in lost[:LISTED_NEWLY_RESTORABLE]:
        stream.write(f"  {mous.mous_uid}  {mous.reason_code}: {mous.reason}\n")
    if len(lost) > LISTED_NEWLY_RESTORABLE:
        stream.write(f"  … and {len(lost) - LISTED_NEWLY_RESTORABLE:,} more\n")
    if lost:
        stream.write(
            "  (almamirror report no-longer-restorable --spool DIR: which have a request in the spool)\n"
        )


def pulled_line(summary: SyncSummary) -> str:
    """How much of the source the run read: a night reads only the buckets whose checksums moved."""
    source = [figures for figures in summary.tables if figures.rows_pulled is not None]
    pulled = sum(figures.rows_pulled or 0 for figures in source)
    total = sum(figures.rows_read for figures in source)
    share = f" ({pulled / total:.2%})" if total else ""
    how = "every table read whole" if pulled == total else "only the buckets whose checksums moved"
    return f"source rows read: {pulled:,} of {total:,}{share}, {how}"


def documents_line(fetch: DocumentFetch) -> str:
    """The calibration-document step in one line: what was fetched, and why anything was not."""
    if not fetch.configured:
        return f"calibration documents: not fetched, {fetch.skipped_reason}; records stay as they were"
    line = (
        f"calibration documents: {fetch.fetched:,} fetched ({fetch.malformed:,} malformed), "
        f"{fetch.held:,} already held, {fetch.missing:,} not in the archive, "
        f"{fetch.unavailable:,} unavailable, in {fetch.seconds:.1f} s"
    )
    if fetch.stopped:
        line += f"; stopped early: {fetch.stopped} (the next sync goes on)"
    return line

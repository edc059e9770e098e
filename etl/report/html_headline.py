"""The status page's first lines: the one sentence that matters, then what the last night did.

An operator opening the page wants, before any figure per table: how much is restorable (and
public), what the last successful sync gained and lost, and whether recent runs failed.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from etl.report.base import plural


def headline_section(
    totals: Mapping[str, int], runs: Sequence[Mapping[str, Any]], lost: Sequence[Mapping[str, Any]]
) -> str:
    lines = [
        f'<p class="big"><strong>{totals["restorable"]:,} of {plural(totals["mouses"], "MOUS", "MOUSes")} '
        f'restorable</strong> ({totals["restorable_public"]:,} of them public, '
        f'{totals["restorable_by_ppr"]:,} by a restore PPR); '
        f'{totals["not_restorable"]:,} not.</p>'
    ]
    good = next((run for run in runs if run["status"] == "succeeded"), None)
    if good is not None:
        gained = good["newly_restorable"] or 0
        what = ("the baseline sync, which found every restorable MOUS at once" if good["baseline"]
                else f"+{gained:,} newly restorable, −{len(lost):,} no longer restorable")
        lines.append(f"<p>Last successful sync: run {good['run_id']}, finished "
                     f"{good['finished_at']:%Y-%m-%d %H:%M} UTC: {html.escape(what)}.</p>")
    failed = [run for run in runs if run["status"] in ("failed", "interrupted")]
    if failed:
        listed = ", ".join(str(run["run_id"]) for run in failed)
        lines.append(f'<p class="bad">{plural(len(failed), "failed run")} among the last {len(runs)}: '
                     f"{listed} (<code>almamirror report runs</code>).</p>")
    elif runs:
        lines.append(f'<p class="good">No failed run among the last {len(runs)}.</p>')
    return f'<section id="headline">{"".join(lines)}</section>'

"""The status page's "no longer restorable" table: what the last successful sync took away, and why."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from etl.report.base import fetch, plural
from etl.report.latest_run import latest_succeeded_run
from etl.report.lost import lost_query

LISTED = 50


def lost_in_latest_run(connection: Connection) -> list[dict[str, Any]]:
    run = latest_succeeded_run(connection)
    return [] if run is None else fetch(connection, lost_query(run_id=run.run_id))


def lost_table(lost: Sequence[Mapping[str, Any]]) -> str:
    if not lost:
        return '<p id="lost">No MOUS lost restorability in the last sync.</p>'
    rows = "".join(
        f"<tr><td><code>{html.escape(row['mous_uid'])}</code></td>"
        f"<td>{html.escape(row['project_code'] or '')}</td>"
        f"<td><code>{html.escape(row['reason_code'])}</code></td><td>{html.escape(row['reason'])}</td></tr>"
        for row in lost[:LISTED]
    )
    more = len(lost) - LISTED
    tail = f"<p>… and {more:,} more.</p>" if more > 0 else ""
    return (
        f'<table id="lost"><caption class="bad">{plural(len(lost), "MOUS", "MOUSes")} no longer restorable '
        "after the last sync</caption><tr><th>MOUS</th><th>project</th><th>reason code</th>"
        f"<th>reason</th></tr>{rows}</table>{tail}<p><code>almamirror report no-longer-restorable --spool "
        "DIR</code> names the requests already in the spool for them, which must not be run.</p>"
    )

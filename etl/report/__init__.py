"""SQL reporting on the mirror: library functions over the views of revision 0002.

Each ``show_*`` function is one ``almamirror report …`` command: it checks its arguments (UsageError),
opens a read-only snapshot of a mirror at the expected revision (SchemaMismatch otherwise), runs Core
queries with bound parameters, and writes a table, CSV or JSON.
"""

from __future__ import annotations

from etl.report.base import Report, write_report
from etl.report.changes import changes_report, show_changes
from etl.report.provenance import ProvenanceFilter, provenance_report, show_provenance
from etl.report.quality import quality_report, show_quality
from etl.report.restorable import (
    RestorableFilter,
    newly_restorable_report,
    restorable_report,
    show_newly_restorable,
    show_restorable,
)
from etl.report.runs import RunHistory, run_history, show_runs, write_runs

__all__ = [
    "ProvenanceFilter",
    "Report",
    "RestorableFilter",
    "RunHistory",
    "changes_report",
    "newly_restorable_report",
    "provenance_report",
    "quality_report",
    "restorable_report",
    "run_history",
    "show_changes",
    "show_newly_restorable",
    "show_provenance",
    "show_quality",
    "show_restorable",
    "show_runs",
    "write_report",
    "write_runs",
]

"""SQL reporting on the mirror: library functions over its views (etl/mirror/views.py).

Each ``show_*`` function is one ``almamirror report …`` command: it checks its arguments (UsageError),
opens a read-only snapshot of a mirror at the expected revision (SchemaMismatch otherwise), runs Core
queries with bound parameters, and writes a table, CSV or JSON.

The names are loaded on first use (PEP 562): the command line imports ``etl.report.arguments`` to
build its parser, and ``--help`` must not pay for SQLAlchemy and the mirror's schema.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Each public name and the module that defines it.
_HOMES = {
    "Report": "base", "write_report": "base",
    "changes_report": "changes", "show_changes": "changes",
    "ProvenanceFilter": "provenance", "provenance_report": "provenance", "show_provenance": "provenance",
    "quality_report": "quality", "show_quality": "quality",
    "RestorableFilter": "restorable", "newly_restorable_report": "restorable",
    "restorable_report": "restorable", "show_newly_restorable": "restorable",
    "show_restorable": "restorable",
    "RunHistory": "runs", "run_history": "runs", "show_runs": "runs", "write_runs": "runs",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


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

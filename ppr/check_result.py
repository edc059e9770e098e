"""What ``almamirror ppr --check`` says: the mirror's sessions against the archive's record of the
calibration, or against an archived PPR file, as lines to read or a JSON document, and its exit status
(0 when they agree, 1 when not).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection

from etl.calibration.compare import DOCUMENT_LABELS
from ppr.check import describe_differences
from ppr.service import CheckResult, RecordDifferences, check_against_record, check_archived_ppr


def check_sessions(
    connection: Connection, mous_uid: str, archived_ppr: Path | None, fmt: str, out: TextIO
) -> int:
    """Compare the mirror's sessions of ``mous_uid`` with an archived PPR file, or with the archive's
    record in the mirror when ``archived_ppr`` is None; write the result in ``fmt`` (table or json)."""
    if archived_ppr is None:
        return write_record_check(mous_uid, check_against_record(connection, mous_uid), fmt, out)
    return write_archived_check(check_archived_ppr(connection, mous_uid, archived_ppr), fmt, out)


def write_archived_check(result: CheckResult, fmt: str, out: TextIO) -> int:
    """The comparison with an archived PPR file: its reading notes, then each difference."""
    if fmt == "json":
        json.dump(check_document(result, describe_differences(result.differences)), out, indent=2)
        out.write("\n")
        return 0 if result.agree else 1
    for note in result.archived.notes:
        print(f"note: {note.text}", file=out)
    if result.agree:
        print(f"ppr check: the mirror's sessions agree with {result.archived.path}", file=out)
        return 0
    for line in describe_differences(result.differences):
        print(line, file=out)
    print(f"ppr check: {len(result.differences)} difference(s) between the mirror and {result.archived.path}",
          file=out)
    return 1


def write_record_check(mous_uid: str, found: RecordDifferences, fmt: str, out: TextIO) -> int:
    """The comparison with the archive's record: the documents not compared, then each EB placed
    differently."""
    if fmt == "json":
        json.dump(record_check_document(mous_uid, found), out, indent=2)
        out.write("\n")
        return 1 if found.lines else 0
    documents = ", ".join(f"{DOCUMENT_LABELS[kind]} {name}" for kind, name in found.files.items())
    for name in found.unchecked:
        print(f"not compared: {name} (calibration_record {found.state}; almamirror report quality says why)",
              file=out)
    if not found.lines:
        print(f"ppr check: the mirror's sessions of {mous_uid} agree with {documents}", file=out)
        return 0
    for line in found.lines:
        print(line, file=out)
    print(f"ppr check: {len(found.lines)} EB(s) placed differently by the mirror and the archive's record "
          f"of {mous_uid}", file=out)
    return 1


def record_check_document(mous_uid: str, found: RecordDifferences) -> dict[str, Any]:
    """The ``--check --format json`` document without a file: the record's documents and differences."""
    return {
        "mous_uid": mous_uid,
        "calibration_record": found.state,
        "agree": not found.lines,
        "documents": dict(found.files),
        "not_compared": list(found.unchecked),
        "differences": list(found.lines),
    }


def check_document(result: CheckResult, lines: list[str]) -> dict[str, Any]:
    """The ``--check FILE --format json`` document: the verdict, each difference, each reading note."""
    return {
        "mous_uid": result.mous_uid,
        "archived_ppr": str(result.archived.path),
        "archived_mous_uid": result.archived.mous_uid,
        "agree": result.agree,
        "differences": [
            {
                "kind": str(difference.kind),
                "eb_uid": difference.eb_uid,
                "mirror_session": difference.mirror_session,
                "archived_session": difference.archived_session,
                "paired_with_session_1_by_default": difference.paired_by_default,
                "text": line,
            }
            for difference, line in zip(result.differences, lines, strict=True)
        ],
        "notes": [{"kind": str(note.kind), "text": note.text} for note in result.archived.notes],
        "archived_sessions": {str(n): list(uids) for n, uids in sorted(result.archived.sessions.items())},
    }

"""Everything the mirror knows about one MOUS, on one screen: the first thing to read when a restore fails.

Its place in the tree (project, SOUS, GOUS), its scheduling block(s), every EB with QA0, times and
session (a timeline), the sessions three ways — the session rule's, the caltables' session numbers and
the OUSStatus document's — the verdict and its reason, since when it is restorable, what the syncs
changed about it and the open data-quality findings. It reads the mirror's tables and views only.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from sqlalchemy import Connection, Text, literal, select

from etl.archive_names import MEMBER_PREFIX, disk_name
from etl.calibration.request import session_value
from etl.derive.status_agreement import session_agreement
from etl.mirror import (
    ExecutionBlock,
    MousStatus,
    ObservingSession,
    Ous,
    OusStatusDocument,
    OusStatusSession,
    ProductFile,
    Project,
    SchedulingBlock,
    SessionAssignment,
    ShiftlogEntry,
    table_of,
)
from etl.output import PLAIN, Layout, TableView, json_value, table_value, write_rows
from etl.report.base import fetch, plural
from etl.report.changes import describe_change
from etl.report.views import data_quality, mous_restore, mous_sessions, recent_changes, restorable_mous
from etl.restore.casa import RestoreFacts, choose_casa
from etl.restore.kinds import HOW, NONE, PIPELINE_PPR
from etl.restore.sessions import FOLLOWS_ARCHIVE, archive_key_sessions
from etl.restore.settings import CasaInstallation

# The changes a screen lists, newest first; JSON carries every one.
SHOWN_CHANGES = 20

TREE_COLUMNS = ("level", "ous_uid", "part_id", "state")
SB_COLUMNS = ("sb_uid", "name", "status", "array_family", "receiver_band", "requested_array")
EB_COLUMNS = ("eb_uid", "qa0_status", "session_number", "start_time", "end_time", "session_id")
EB_LAYOUT = Layout(drop_first=("session_id", "end_time"))
SESSION_COLUMNS = (
    "session_number", "session_id", "eb_count", "pass_eb_count", "session_value", "caltables",
    "status_xml_eb_uids", "status_xml_agrees",
)
CHANGE_COLUMNS = ("changed_at", "run_id", "table_name", "kind", "row_key", "change")
FINDING_COLUMNS = ("kind", "subject", "detail", "first_seen_at", "last_seen_at")
# A UID per line at the least: session values and the document's EB lists are lists of UIDs.
SESSION_LAYOUT = Layout(
    drop_first=("session_id", "eb_count", "pass_eb_count", "status_xml_agrees"),
    fold=("session_value", "status_xml_eb_uids"), folded_width=24,
)
CHANGE_LAYOUT = Layout(drop_first=("run_id", "row_key"), fold=("change",))
FINDING_LAYOUT = Layout(drop_first=("first_seen_at", "last_seen_at"), fold=("detail",))


@dataclass(frozen=True)
class Explanation:
    status: Mapping[str, Any]
    """The row of ``restorable_mous`` with the derivation's own columns of ``mous_status``."""
    tree: Sequence[Mapping[str, Any]]
    """Project root, SOUS, GOUS, MOUS, top down."""
    project: Mapping[str, Any] | None
    scheduling_blocks: Sequence[Mapping[str, Any]]
    execution_blocks: Sequence[Mapping[str, Any]]
    """Every EB linked to the MOUS (all QA0 states), in observation order."""
    sessions: Sequence[Mapping[str, Any]]
    """Per session number: the rule's EBs, the archived caltables file, the OUSStatus session."""
    caltables: Sequence[Mapping[str, Any]]
    status_document: Mapping[str, Any] | None
    changes: Sequence[Mapping[str, Any]]
    """Newest first."""
    findings: Sequence[Mapping[str, Any]]

    def document(self) -> dict[str, Any]:
        """The explanation as JSON-ready values (times ISO 8601)."""
        return {
            "mous_uid": self.status["mous_uid"],
            "status": json_value(self.status),
            "tree": json_value(self.tree),
            "project": json_value(self.project),
            "scheduling_blocks": json_value(self.scheduling_blocks),
            "execution_blocks": json_value(self.execution_blocks),
            "sessions": json_value(self.sessions),
            "caltables": json_value(self.caltables),
            "status_document": json_value(self.status_document),
            "changes": json_value([{k: v for k, v in c.items() if k != "change"} for c in self.changes]),
            "findings": json_value(self.findings),
        }


def explain_mous(
    connection: Connection, mous_uid: str, casa: Sequence[CasaInstallation] = ()
) -> Explanation | None:
    """What the mirror knows about the member OUS ``mous_uid`` (canonical form); None when it has no
    status for it (not in the mirror, not a member, or not yet derived). ``casa``: the site's CASA
    releases, to say which would run its restore."""
    status = _status(connection, mous_uid)
    if status is None:
        return None
    choice = choose_casa(RestoreFacts.from_row(status), casa)
    status.update(casa_needed=choice.needed, casa_chosen=choice.summary() or None,
                  casa_to_install=choice.to_install)
    caltables = _caltables(connection, mous_uid)
    return Explanation(
        status=status,
        tree=_tree(connection, mous_uid),
        project=_project(connection, status["project_uid"]),
        scheduling_blocks=_scheduling_blocks(connection, mous_uid),
        execution_blocks=_execution_blocks(connection, mous_uid),
        sessions=_sessions(connection, mous_uid, caltables, status["calibration_record"] == FOLLOWS_ARCHIVE),
        caltables=caltables,
        status_document=_status_document(connection, mous_uid),
        changes=_changes(connection, mous_uid),
        findings=_findings(connection, mous_uid),
    )


def _status(connection: Connection, mous_uid: str) -> dict[str, Any] | None:
    view = restorable_mous
    derived = table_of(MousStatus)
    extra = (
        "project_uid", "sous_uid", "gous_uid", "state", "sb_count", "sb_uid", "sessions_match_caltables",
        "status_xml_session_count", "sessions_match_status_xml", "restorable_since_run_id",
        "derived_run_id", "manifest_source",
    )
    kinds = mous_restore
    how = ("restore_kind", "restore_reason", "hm_rasterscan", "restore_script_file", "scriptforpi_file",
           "script_casa_versions")
    rows = fetch(
        connection,
        select(view, *(derived.c[name] for name in extra), *(kinds.c[name] for name in how))
        .join(derived, derived.c.mous_uid == view.c.mous_uid)
        .join(kinds, kinds.c.mous_uid == view.c.mous_uid)
        .where(view.c.mous_uid == mous_uid),
    )
    return rows[0] if rows else None


def _tree(connection: Connection, mous_uid: str) -> list[dict[str, Any]]:
    """The MOUS and its ancestors, walked up through parent_ous_uid (at most three steps)."""
    ous = table_of(Ous)
    chain: list[dict[str, Any]] = []
    current: str | None = mous_uid
    while current is not None and len(chain) < 4:
        row = connection.execute(
            select(ous.c.ous_uid, ous.c.part_id, ous.c.state, ous.c.parent_ous_uid, ous.c.recipe)
            .where(ous.c.ous_uid == current)
        ).mappings().first()
        if row is None:
            break
        chain.append(dict(row))
        current = row["parent_ous_uid"]
    levels = ("MOUS", "GOUS", "SOUS", "project")
    return [
        {"level": level, **{k: v for k, v in node.items() if k != "parent_ous_uid"}}
        for level, node in reversed(list(zip(levels, chain, strict=False)))
    ]


def _project(connection: Connection, project_uid: str | None) -> dict[str, Any] | None:
    if project_uid is None:
        return None
    project = table_of(Project)
    rows = fetch(
        connection,
        select(project.c.project_uid, project.c.code, project.c.title, project.c.pi_account)
        .where(project.c.project_uid == project_uid),
    )
    return rows[0] if rows else None


def _scheduling_blocks(connection: Connection, mous_uid: str) -> list[dict[str, Any]]:
    blocks = table_of(SchedulingBlock)
    return fetch(
        connection,
        select(*(blocks.c[name] for name in SB_COLUMNS))
        .where(blocks.c.mous_uid == mous_uid)
        .order_by(blocks.c.sb_uid),
    )


def _execution_blocks(connection: Connection, mous_uid: str) -> list[dict[str, Any]]:
    """EBs through the shift log and the MOUS's scheduling blocks (as the session rule links them),
    with the session number the rule gave each; an EB the rule could not place has none."""
    shiftlog = table_of(ShiftlogEntry)
    blocks = table_of(SchedulingBlock)
    ebs = table_of(ExecutionBlock)
    sessions = table_of(ObservingSession)
    assignment = table_of(SessionAssignment)
    linked = (
        select(shiftlog.c.eb_uid)
        .join(blocks, blocks.c.sb_uid == shiftlog.c.sb_uid)
        .where(blocks.c.mous_uid == mous_uid)
        .union(select(assignment.c.eb_uid).where(assignment.c.mous_uid == mous_uid))
        .subquery("linked")
    )
    return fetch(
        connection,
        select(
            ebs.c.start_time, ebs.c.end_time, ebs.c.qa0_status, assignment.c.session_number,
            ebs.c.session_id, linked.c.eb_uid, sessions.c.start_time.label("session_start_time"),
            sessions.c.end_time.label("session_end_time"),
        )
        .select_from(linked)
        .outerjoin(ebs, ebs.c.eb_uid == linked.c.eb_uid)
        .outerjoin(sessions, sessions.c.session_id == ebs.c.session_id)
        .outerjoin(
            assignment,
            (assignment.c.eb_uid == linked.c.eb_uid) & (assignment.c.mous_uid == mous_uid),
        )
        .order_by(ebs.c.start_time.asc().nulls_last(), linked.c.eb_uid),
    )


def _sessions(
    connection: Connection, mous_uid: str, caltables: Sequence[Mapping[str, Any]], follows_archive: bool
) -> list[dict[str, Any]]:
    """The rule's sessions beside the OUSStatus document's, by number (a number on one side only too),
    each with its value in the restore PPR."""
    view = mous_sessions
    derived = {
        row["session_number"]: row
        for row in fetch(connection, select(view).where(view.c.mous_uid == mous_uid))
    }
    documented_table = table_of(OusStatusSession)
    documented = {
        row["position"]: row
        for row in fetch(
            connection,
            select(documented_table.c.position, documented_table.c.eb_uids)
            .where(documented_table.c.mous_uid == mous_uid),
        )
    }
    agreement = _status_xml_agreement(connection, mous_uid)
    values = _ppr_values(connection, mous_uid, derived, follows_archive)
    # Caltables of a session number the rule does not have are part of the picture too.
    archived: dict[int, str] = {}
    for row in caltables:
        if row["session_number"] is not None:
            archived.setdefault(row["session_number"], row["file_name"])
    sessions = []
    for number in sorted(set(derived) | set(documented) | set(archived) | set(values)):
        rule = derived.get(number, {})
        listed = documented.get(number)
        sessions.append({
            "session_number": number,
            "session_id": rule.get("session_id"),
            "eb_count": rule.get("eb_count"),
            "pass_eb_count": rule.get("pass_eb_count"),
            "pass_eb_uids": rule.get("pass_eb_uids"),
            "session_value": values.get(number),
            "is_empty": rule.get("is_empty", False),
            "caltables_file": rule.get("caltables_file") or archived.get(number),
            "status_xml_eb_uids": None if listed is None else list(listed["eb_uids"]),
            # The derivation's own verdict (shown only where both sides have the session).
            "status_xml_agrees": None if listed is None or not rule else agreement[number],
        })
    return sessions


def _ppr_values(
    connection: Connection, mous_uid: str, derived: Mapping[int, Mapping[str, Any]], follows_archive: bool
) -> dict[int, str]:
    """Each SESSION_n value of the MOUS's restore PPR, as the generator writes it: the rule's Pass EBs,
    or the archived PPR's sessions where the archive's record is the calibration's key."""
    sessions = {number: row["pass_eb_uids"] for number, row in derived.items()}
    if follows_archive:
        mirror_ebs = {mous_uid: [eb for ebs in sessions.values() for eb in ebs]}
        archived = archive_key_sessions(connection, lambda column: column == mous_uid, mirror_ebs)
        if mous_uid in archived:
            sessions = dict(archived[mous_uid])
    return {number: session_value(ebs) for number, ebs in sessions.items()}


def _status_xml_agreement(connection: Connection, mous_uid: str) -> dict[int, bool]:
    """Per session number: does the OUSStatus document agree with the rule, as the derivation judged.

    One definition (``etl.derive.status_agreement``) for the verdict and this screen: the report
    runs the derivation's SQL for one MOUS rather than comparing the EB lists again in Python.
    """
    agreement = session_agreement(select(literal(mous_uid, Text).label("mous_uid")).subquery("mous"))
    rows = connection.execute(select(agreement.c.session_number, agreement.c.agrees))
    return {row.session_number: row.agrees for row in rows}


def _caltables(connection: Connection, mous_uid: str) -> list[dict[str, Any]]:
    files = table_of(ProductFile)
    return fetch(
        connection,
        select(files.c.session_number, files.c.file_name, files.c.size_bytes)
        .where(files.c.mous_uid == mous_uid, files.c.kind == "caltables")
        .order_by(files.c.session_number.asc().nulls_last(), files.c.file_name),
    )


def _status_document(connection: Connection, mous_uid: str) -> dict[str, Any] | None:
    documents = table_of(OusStatusDocument)
    rows = fetch(
        connection,
        select(documents.c.state, documents.c.problem, documents.c.session_count)
        .where(documents.c.ous_uid == mous_uid),
    )
    return rows[0] if rows else None


def _changes(connection: Connection, mous_uid: str) -> list[dict[str, Any]]:
    view = recent_changes
    rows = fetch(connection, select(view).where(view.c.mous_uid == mous_uid).order_by(view.c.event_id.desc()))
    for row in rows:
        row["change"] = describe_change(row)
    return rows


def _findings(connection: Connection, mous_uid: str) -> list[dict[str, Any]]:
    view = data_quality
    return fetch(
        connection,
        select(view).where(view.c.mous_uid == mous_uid).order_by(view.c.kind, view.c.subject),
    )


def write_explanation(explanation: Explanation, fmt: str, stream: TextIO, view: TableView = PLAIN) -> None:
    """JSON: one object; text: a verdict, then a section per part, each a small table."""
    if fmt == "json":
        json.dump(explanation.document(), stream, ensure_ascii=False, indent=2)
        stream.write("\n")
        return
    tables = TableView(terminal=view.terminal, wide=view.wide, choosable=False)
    status = explanation.status

    def say(line: str, indent: str = "  ") -> None:
        if view.terminal is not None and not view.wide:
            line = textwrap.fill(line, view.terminal.width, subsequent_indent=indent + "  ")
        stream.write(line + "\n")

    from etl.report.explain_next import next_step, write_headline

    line = headline(explanation)
    if view.terminal is not None and not view.wide:
        line = textwrap.fill(line, view.terminal.width, subsequent_indent="  ")
    write_headline(stream, line, bool(status["restorable"]), view.terminal)
    for line in verdict_lines(status):
        say(f"  {line}")

    def section(title: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
                layout: Layout | None = None, empty: str = "none") -> None:
        stream.write(f"\n{title}\n")
        if rows:
            write_rows(rows, columns, "table", stream, view=tables, layout=layout)
        else:
            stream.write(f"  ({empty})\n")

    section("Tree", explanation.tree, (*TREE_COLUMNS, "recipe"))
    section(f"Scheduling block ({plural(len(explanation.scheduling_blocks), 'SB')})",
            explanation.scheduling_blocks, SB_COLUMNS, empty="no scheduling block names this MOUS")
    section(f"Execution blocks, in observation order ({eb_counts(status)})",
            explanation.execution_blocks, EB_COLUMNS, EB_LAYOUT, empty="no EB is linked to this MOUS")
    sessions = shown_sessions(status["mous_uid"], explanation.sessions)
    section("Sessions: the session rule, the caltables and the OUSStatus document "
            f"({session_counts(explanation)})", sessions, SESSION_COLUMNS, SESSION_LAYOUT,
            empty="no session")
    for line in calibration_lines(explanation):
        say(f"  {line}")
    changes = explanation.changes
    section(f"Changes recorded by the syncs ({plural(len(changes), 'change')}, newest first)",
            changes[:SHOWN_CHANGES], CHANGE_COLUMNS, CHANGE_LAYOUT,
            empty="no change since the baseline sync")
    if len(changes) > SHOWN_CHANGES:
        stream.write(f"  … and {len(changes) - SHOWN_CHANGES:,} earlier (--format json lists them all)\n")
    section(f"Open data-quality findings ({len(explanation.findings):,})", explanation.findings,
            FINDING_COLUMNS, FINDING_LAYOUT)
    stream.write("\n")
    say(next_step(status), indent="")


def shown_sessions(mous_uid: str, sessions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """For a screen: an empty session says so (its PPR value is the empty string, which a table cannot
    show), and a caltables file is named without the MOUS prefix every one of them has."""
    prefix = f"{MEMBER_PREFIX}{disk_name(mous_uid)}."
    return [
        {
            **session,
            "session_value": "(empty)" if session["session_value"] == "" else session["session_value"],
            "caltables": (session["caltables_file"] or "").removeprefix(prefix) or None,
            # Joined as the session value is, so the two read side by side.
            "status_xml_eb_uids": None if session["status_xml_eb_uids"] is None
            else session_value(session["status_xml_eb_uids"]) or "(none)",
        }
        for session in sessions
    ]


def headline(explanation: Explanation) -> str:
    """'MOUS uid://… of 2017.1.00886.L (cycle 2017.1, PI Name): restorable'."""
    status = explanation.status
    project = status["project_code"] or "an unknown project"
    about = ", ".join(part for part in (
        f"cycle {status['cycle']}" if status["cycle"] else "",
        f"PI {status['pi']}" if status["pi"] else "",
    ) if part)
    kind = status["restore_kind"]
    if kind == PIPELINE_PPR:
        verdict = "restorable"
    elif kind != NONE:
        verdict = f"restorable by {kind}, not by a restore PPR ({status['reason_code']})"
    else:
        verdict = f"NOT restorable ({status['reason_code']})"
    return f"MOUS {status['mous_uid']} of {project}" + (f" ({about})" if about else "") + f": {verdict}"


def verdict_lines(status: Mapping[str, Any]) -> list[str]:
    lines = []
    since = status["restorable_since"]
    if since:  # restorable by any kind
        run = status["restorable_since_run_id"]
        lines.append(f"restorable since {table_value(since)} (sync run {run})")
    elif status["restorable"]:
        lines.append("restorable")
    if not status["restorable"]:
        lines.append(f"why: {status['restore_reason'] or status['reason']}")
    lines.append(restore_line(status))
    release = status["release_date"]
    if release is None:
        lines.append("release: none recorded (never released: proprietary)")
    else:
        access = "proprietary" if status["proprietary"] else "public"
        lines.append(f"release: {table_value(release)} ({access})")
    lines.append(record_line(status))
    lines.append(
        f"{status['array_family'] or 'unknown array'}, {status['band'] or 'unknown band'}; "
        f"state {status['state'] or '-'}; derived in sync run {status['derived_run_id']}, "
        f"last changed {table_value(status['last_change_at'])}"
    )
    return lines


def restore_line(status: Mapping[str, Any]) -> str:
    """'restore: pipeline_ppr (…); CASA 6.5.4.9 or newer, with the pipeline: CASA 6.5.4.9 (exact)'."""
    kind = status["restore_kind"]
    line = f"restore: {kind} ({HOW[kind]})"
    if status.get("casa_needed"):
        line += f"; CASA {status['casa_needed']}: {status['casa_chosen']}"
    return line


def record_line(status: Mapping[str, Any]) -> str:
    """'archive's record: agrees; CASA 6.5.4-9, pipeline 2023.1.0.124, MPI (8 servers)'."""
    line = f"archive's record of the calibration: {status['calibration_record']}"
    if status["calibration_record"] == "absent":
        return line + " (not verified: no manifest, restore script or PPR in the mirror)"
    servers = status["mpi_servers"]
    made = [
        f"CASA {status['casa_version']}" if status["casa_version"] else "",
        f"pipeline {status['pipeline_version']}" if status["pipeline_version"] else "",
        "" if servers is None else "serial CASA" if servers == 0 else f"MPI CASA ({servers} servers)",
    ]
    said = [part for part in made if part]
    return line + ("; " + ", ".join(said) if said else "")


def eb_counts(status: Mapping[str, Any]) -> str:
    return f"{plural(status['eb_count'], 'EB')}, {status['pass_eb_count']:,} QA0 Pass"


def session_counts(explanation: Explanation) -> str:
    status = explanation.status
    empty = status["empty_session_count"]
    return f"{plural(status['session_count'], 'session')}" + (f", {empty:,} empty" if empty else "")


def calibration_lines(explanation: Explanation) -> list[str]:
    status = explanation.status
    caltables = ",".join(str(n) for n in status["caltables_sessions"] or ()) or "none"
    document = explanation.status_document
    if document is None:
        xml = "OUSStatus document: not parsed yet"
    elif document["state"] != "parsed":
        problem = f" ({document['problem']})" if document["problem"] else ""
        xml = f"OUSStatus document: {document['state']}{problem}"
    else:
        xml = (
            f"OUSStatus document: {plural(document['session_count'], 'session')}, "
            f"{'agrees' if status['sessions_match_status_xml'] else 'DISAGREES'} with the session rule"
        )
    lines = [
        f"calibration: {status['calibration_kind']}; caltables archived for sessions {caltables} "
        f"({'match' if status['sessions_match_caltables'] else 'do NOT match'} the sessions with Pass EBs)",
        xml,
    ]
    manifest = MANIFEST_SOURCES.get(status.get("manifest_source") or "")
    if manifest is not None:
        lines.append(f"pipeline manifest of a restore request: {manifest}")
    return lines


# What mous_status.manifest_source means for a restore request (ppr/pipeline_manifest.py).
MANIFEST_SOURCES = {
    "archive": "the archive's own (it parses)",
    "almamirror": "written by almamirror from the mirror (no archived manifest that parses)",
}

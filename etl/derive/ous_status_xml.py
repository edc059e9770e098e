"""OUSStatus documents: parsed leniently into their sessions; a bad document is a finding, never a failure."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lxml import etree
from sqlalchemy import Connection, Table, select

from etl.calibration.xml import safe_parser
from etl.copy import analyze, copy_rows
from etl.derive.tree import member_ous
from etl.mirror import Ous, OusStatusDocument, OusStatusSession, table_of
from etl.steps.figures import StepCount, StepFigures, timed_step
from etl.steps.merge import MergeTarget, merge
from etl.steps.stage import create_stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StatusSession:
    position: int
    part_id: str | None
    sb_status_uid: str | None
    start_time: datetime | None
    end_time: datetime | None
    eb_uids: tuple[str, ...]


@dataclass(frozen=True)
class StatusDocument:
    state: str  # parsed, missing, malformed
    problem: str | None
    sessions: tuple[StatusSession, ...]


def parse_status_document(xml: str | None) -> StatusDocument:
    """The sessions of an OUSStatus document, matching elements by local name (prefixes vary)."""
    if xml is None or not xml.strip():
        return StatusDocument("missing", "the OUS has no OUSStatus document", ())
    try:
        root = etree.fromstring(xml.encode("utf-8"), safe_parser(remove_comments=True))
    except etree.XMLSyntaxError as exc:
        return StatusDocument("malformed", f"OUSStatus XML does not parse: {exc}", ())
    sessions = tuple(
        _session(position, element)
        for position, element in enumerate(_children(root, "Session"), start=1)
    )
    return StatusDocument("parsed", None, sessions)


def _children(element: Any, name: str) -> Iterator[Any]:
    """``element`` and its descendants named ``name`` in any namespace or none, in document order.

    ``{*}`` lets libxml2 match the local name: no Python call per element of the document (comments
    and processing instructions never match).
    """
    found: Iterator[Any] = element.iter("{*}" + name)
    return found


def _first(element: Any, name: str) -> Any | None:
    return next(_children(element, name), None)


def _session(position: int, element: Any) -> StatusSession:
    sb_status = _first(element, "SBStatusRef")
    return StatusSession(
        position=position,
        part_id=element.get("entityPartId"),
        sb_status_uid=sb_status.get("entityId") if sb_status is not None else None,
        start_time=_time_text(_first(element, "StartTime")),
        end_time=_time_text(_first(element, "EndTime")),
        eb_uids=tuple(
            uid for ref in _children(element, "ExecBlockRef") if (uid := ref.get("execBlockId"))
        ),
    )


def _time_text(element: Any | None) -> datetime | None:
    """ISO times; anything else (ALMA writes 'End time not known yet.') reads as unknown."""
    if element is None or not element.text:
        return None
    try:
        parsed = datetime.fromisoformat(element.text.strip().removesuffix("Z"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=None)


def refresh_status_documents(
    connection: Connection, affected: Table, run_id: int, record_events: bool
) -> StepFigures:
    """Re-parse the documents of the affected member OUSes; the step's figures are the documents'
    (their sessions follow them)."""
    documents = table_of(OusStatusDocument).name
    with timed_step(documents, log, doing="parsing OUSStatus documents", unit="MOUSes") as step:
        _refresh(connection, affected, run_id, record_events, step)
    return step.figures


def _refresh(
    connection: Connection, affected: Table, run_id: int, record_events: bool, step: StepCount
) -> None:
    """Stage the parsed documents and their sessions, and merge both; ``step`` counts the documents."""
    documents_table = table_of(OusStatusDocument)
    sessions_table = table_of(OusStatusSession)
    document_stage = create_stage(
        connection, documents_table, ("ous_uid", "state", "problem", "session_count"), ("ous_uid",),
        "ous_status_document",
    )
    session_columns = ("mous_uid", "position", "part_id", "sb_status_uid", "start_time", "end_time",
                       "eb_uids")
    session_stage = create_stage(
        connection, sessions_table, session_columns, ("mous_uid", "position"), "ous_status_session"
    )
    parsed = list(_parse_affected(connection, affected))
    step.read = len(parsed)
    copy_rows(
        connection, document_stage, document_stage.c.keys(),
        ((uid, doc.state, doc.problem, len(doc.sessions)) for uid, doc in parsed),
    )
    copy_rows(
        connection, session_stage, session_columns,
        (
            (uid, s.position, s.part_id, s.sb_status_uid, s.start_time, s.end_time, list(s.eb_uids))
            for uid, doc in parsed
            for s in doc.sessions
        ),
    )
    analyze(connection, document_stage)
    analyze(connection, session_stage)
    step.changes = merge(
        connection,
        MergeTarget(documents_table, ("ous_uid",), tuple(document_stage.c.keys()),
                    recorded=("state",), scope=affected, scope_column="ous_uid"),
        document_stage, run_id, record_events,
    )
    merge(
        connection,
        MergeTarget(sessions_table, ("mous_uid", "position"), session_columns, scope=affected),
        session_stage, run_id, record_events=False,
    )


def _parse_affected(connection: Connection, affected: Table) -> Iterator[tuple[str, StatusDocument]]:
    ous = table_of(Ous)
    members = member_ous()
    # Per statement: Connection.execution_options() would make every later statement a cursor too.
    rows = connection.execute(
        select(ous.c.ous_uid, ous.c.status_xml)
        .join(members, members.c.mous_uid == ous.c.ous_uid)
        .join(affected, affected.c.mous_uid == ous.c.ous_uid),
        execution_options={"yield_per": 2000},
    )
    for ous_uid, xml in rows:
        yield ous_uid, parse_status_document(xml)

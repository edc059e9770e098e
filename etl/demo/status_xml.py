"""OBS_UNIT_SET_STATUS.XML: the OUSStatus documents, in the layout CONTRACT.md describes.

Built as text so the documents are byte-identical for a seed and cheap at 50,000 MOUSes. Every value
is a UID, a partId, a state or a timestamp; they are escaped all the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from xml.sax.saxutils import escape, quoteattr

from etl.demo.model import Mous, Session, XmlForm, ordered_sessions

NAMESPACE: Final = "Alma/Scheduling/OUSStatus"
END_TIME_UNKNOWN: Final = "End time not known yet."


def timestamp(value: datetime) -> str:
    """``2017-11-10T03:12:00.000``: ALMA's millisecond timestamps."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def _header(
    status_uid: str, project_uid: str, part_id: str, project_status_uid: str, parent_uid: str | None
) -> list[str]:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<OUSStatus xmlns={quoteattr(NAMESPACE)}>",
        f'  <OUSStatusEntity entityId={quoteattr(status_uid)} entityTypeName="OUSStatus"/>',
        f"  <ObsUnitSetRef entityId={quoteattr(project_uid)} partId={quoteattr(part_id)} "
        'entityTypeName="ObsProject"/>',
        f'  <ProjectStatusRef entityId={quoteattr(project_status_uid)} entityTypeName="ProjectStatus"/>',
    ]
    if parent_uid is not None:
        lines.append(
            f'  <ContainingObsUnitSetRef entityId={quoteattr(parent_uid)} entityTypeName="OUSStatus"/>'
        )
    return lines


def _session(index: int, session: Session) -> list[str]:
    sb_status_uid = session.ebs[0].sb.status_uid
    end = timestamp(session.end) if session.end is not None else END_TIME_UNKNOWN
    lines = [
        f'  <Session entityPartId="X{index:08x}">',
        f'    <SBStatusRef entityId={quoteattr(sb_status_uid)} entityTypeName="SBStatus"/>',
        f"    <StartTime>{timestamp(session.ordering_start)}</StartTime>",
        f"    <EndTime>{escape(end)}</EndTime>",
    ]
    lines.extend(
        f"    <ExecBlockRef execBlockId={quoteattr(eb.uid)}/>"
        for eb in sorted(session.ebs, key=lambda eb: eb.start)
    )
    lines.append("  </Session>")
    return lines


def group_document(
    status_uid: str,
    project_uid: str,
    part_id: str,
    project_status_uid: str,
    parent_uid: str | None,
    state: str,
    form: XmlForm,
) -> str | None:
    """The minimal document of a project root, science goal or group OUS (no sessions)."""
    lines = _header(status_uid, project_uid, part_id, project_status_uid, parent_uid)
    lines += [f"  <Status state={quoteattr(state)}/>", "</OUSStatus>", ""]
    return _apply_form("\n".join(lines), form)


def member_document(
    mous: Mous, project_uid: str, project_status_uid: str, parent_uid: str
) -> str | None:
    """A member OUS's document: its sessions in session-rule order, each with all of its EBs."""
    lines = _header(mous.uid, project_uid, mous.part_id, project_status_uid, parent_uid)
    lines.append(f"  <Status state={quoteattr(mous.state)}/>")
    sessions = ordered_sessions(mous)
    if mous.xml_form is XmlForm.STALE:
        sessions = sessions[:-1]
    for index, session in enumerate(sessions):
        lines.extend(_session(index, session))
    lines += ["</OUSStatus>", ""]
    return _apply_form("\n".join(lines), mous.xml_form)


def _apply_form(document: str, form: XmlForm) -> str | None:
    if form is XmlForm.NULL:
        return None
    if form is XmlForm.MALFORMED:
        # A truncated CLOB: cut inside an element, as an interrupted write leaves it.
        return document[: max(len(document) * 3 // 5, 60)]
    return document

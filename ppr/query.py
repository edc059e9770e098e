"""Reading restore requests out of the mirror: its schema only, never the source or the loader.

Every read is set-based: one query per table family for any number of MOUSes, so a bulk run over
every restorable MOUS costs the same handful of queries as a single PPR.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from etl.mirror import (
    CalibrationRecord,
    CalibrationRecordProduct,
    CalibrationRecordSession,
    MousStatus,
    Ous,
    OusQa2,
    ProductFile,
    Project,
    Proposal,
    SchedulingBlock,
    SessionAssignment,
    table_of,
)
from ppr.model import ArchivedRecord, RestoreRequest, Session
from ppr.model import ProductFile as RestoreProduct

# The product kinds a restore fetches into products/ (auxcaltables are never used by a restore).
RESTORE_PRODUCT_KINDS = ("caltables", "calapply", "flagversions", "manifest")
OUS_LEVELS = ("project root", "science goal (SOUS)", "group (GOUS)")


@dataclass(frozen=True)
class MousVerdict:
    """What the mirror concluded about a member OUS: may a PPR be written, and if not, why."""

    mous_uid: str
    restorable: bool
    reason_code: str | None
    reason: str | None
    release_date: datetime | None
    calibration_record: str = "absent"


def verdicts(connection: Connection, mous_uids: Sequence[str] | None = None) -> dict[str, MousVerdict]:
    """The status of the given member OUSes (all restorable ones when ``mous_uids`` is None)."""
    status = table_of(MousStatus)
    query = select(
        status.c.mous_uid, status.c.restorable, status.c.reason_code, status.c.reason, status.c.release_date,
        status.c.calibration_record,
    )
    query = query.where(status.c.restorable) if mous_uids is None else query.where(
        status.c.mous_uid.in_(mous_uids)
    )
    return {
        row.mous_uid: MousVerdict(
            row.mous_uid, row.restorable, row.reason_code, row.reason, row.release_date,
            row.calibration_record,
        )
        for row in connection.execute(query.order_by(status.c.mous_uid))
    }


def ous_level(connection: Connection, ous_uid: str) -> str | None:
    """For an OUS that is not a member: 'project root', 'science goal (SOUS)' or 'group (GOUS)'.

    None when the mirror has no such OUS. Walks up the parents, which are at most three.
    """
    ous = table_of(Ous)
    depth, current = 0, ous_uid
    parent = connection.execute(select(ous.c.parent_ous_uid).where(ous.c.ous_uid == current)).first()
    if parent is None:
        return None
    while parent is not None and parent.parent_ous_uid is not None and depth < len(OUS_LEVELS):
        depth += 1
        current = parent.parent_ous_uid
        parent = connection.execute(select(ous.c.parent_ous_uid).where(ous.c.ous_uid == current)).first()
    return OUS_LEVELS[depth] if depth < len(OUS_LEVELS) else "member (not yet derived by a sync)"


def restore_requests(connection: Connection, mous_uids: Sequence[str]) -> dict[str, RestoreRequest]:
    """The restore request of each given member OUS the mirror has a status for."""
    if not mous_uids:
        return {}
    identities = _identities(connection, mous_uids)
    sessions = _sessions(connection, mous_uids)
    found = archived_records(connection, mous_uids)
    products = _products(connection, mous_uids, found)
    return {
        uid: _request(identity, sessions.get(uid, ()), products.get(uid, ()), found.get(uid))
        for uid, identity in identities.items()
    }


def archived_records(connection: Connection, mous_uids: Sequence[str]) -> dict[str, ArchivedRecord]:
    """The archive's record of each given MOUS's calibration, where the sync has one."""
    records = table_of(CalibrationRecord)
    rows = connection.execute(
        select(
            records.c.mous_uid, records.c.state, records.c.restore_task, records.c.ocorr_mode,
            records.c.hm_rasterscan, records.c.casa_version, records.c.pipeline_version,
            records.c.mpi_servers, records.c.manifest_file, records.c.restore_script_file,
            records.c.request_file,
        ).where(records.c.mous_uid.in_(mous_uids))
    )
    found = {}
    for row in rows:
        values = dict(row._mapping)
        mous_uid = values.pop("mous_uid")
        found[mous_uid] = ArchivedRecord(**values)
    return found


def archived_sessions(connection: Connection, mous_uid: str) -> dict[str, dict[int, tuple[str, ...]]]:
    """Per record document (manifest, restore_script, request): session number → the EBs it names."""
    sessions = table_of(CalibrationRecordSession)
    found: dict[str, dict[int, tuple[str, ...]]] = defaultdict(dict)
    for document, number, eb_uids in connection.execute(
        select(sessions.c.document, sessions.c.session_number, sessions.c.eb_uids)
        .where(sessions.c.mous_uid == mous_uid)
        .order_by(sessions.c.document, sessions.c.session_number)
    ):
        found[document][number] = tuple(eb_uids)
    return dict(found)


def _identities(connection: Connection, mous_uids: Sequence[str]) -> dict[str, Any]:
    """One row per MOUS: where it sits in the project, and its scheduling block."""
    status = table_of(MousStatus)
    ous = table_of(Ous)
    qa2 = table_of(OusQa2)
    project = table_of(Project)
    blocks = table_of(SchedulingBlock)
    proposal = table_of(Proposal)
    # A project may have several proposal rows; the lowest UID gives a stable PI name.
    pi_name = (
        select(proposal.c.pi_name)
        .where(proposal.c.project_uid == ous.c.project_uid, proposal.c.pi_name.is_not(None))
        .order_by(proposal.c.proposal_uid)
        .limit(1)
        .scalar_subquery()
    )
    query = (
        select(
            status.c.mous_uid,
            status.c.sous_uid,
            status.c.gous_uid,
            status.c.array_family,
            status.c.release_date,
            func.coalesce(qa2.c.project_uid, ous.c.project_uid).label("obs_project_uid"),
            func.coalesce(qa2.c.part_id, ous.c.part_id).label("part_id"),
            ous.c.project_status_uid,
            project.c.code,
            project.c.title,
            pi_name.label("pi_name"),
            blocks.c.sb_uid,
            blocks.c.sb_status_uid,
            blocks.c.name.label("sb_title"),
        )
        .join(ous, ous.c.ous_uid == status.c.mous_uid)
        .outerjoin(qa2, qa2.c.mous_uid == status.c.mous_uid)
        .outerjoin(project, project.c.project_uid == ous.c.project_uid)
        .outerjoin(blocks, blocks.c.sb_uid == status.c.sb_uid)
        .where(status.c.mous_uid.in_(mous_uids))
    )
    return {row.mous_uid: row for row in connection.execute(query)}


def _sessions(connection: Connection, mous_uids: Sequence[str]) -> dict[str, tuple[Session, ...]]:
    """SESSION_1..K per MOUS: every number up to the highest, each with its Pass EBs in order."""
    assignment = table_of(SessionAssignment)
    rows = connection.execute(
        select(assignment.c.mous_uid, assignment.c.session_number, assignment.c.eb_uid,
               assignment.c.qa0_status)
        .where(assignment.c.mous_uid.in_(mous_uids))
        .order_by(assignment.c.mous_uid, assignment.c.session_number, assignment.c.position)
    )
    numbers: dict[str, int] = defaultdict(int)
    passed: dict[tuple[str, int], list[str]] = defaultdict(list)
    for row in rows:
        numbers[row.mous_uid] = max(numbers[row.mous_uid], row.session_number)
        if row.qa0_status == "Pass":
            passed[(row.mous_uid, row.session_number)].append(row.eb_uid)
    return {
        uid: tuple(Session(n, tuple(passed[(uid, n)])) for n in range(1, count + 1))
        for uid, count in numbers.items()
    }


def _products(
    connection: Connection, mous_uids: Sequence[str], records: Mapping[str, ArchivedRecord]
) -> dict[str, tuple[RestoreProduct, ...]]:
    """The products a restore fetches, with the names the record's manifest gives them.

    A MOUS calibrated twice has two manifests: only the record's goes into products/ (the restore
    reads every ``*pipeline_manifest.xml`` there).
    """
    files = table_of(ProductFile)
    names = table_of(CalibrationRecordProduct)
    rows = connection.execute(
        select(files.c.mous_uid, files.c.file_name, files.c.kind, files.c.session_number,
               files.c.size_bytes, names.c.restore_name)
        .outerjoin(names, (names.c.mous_uid == files.c.mous_uid) & (names.c.file_name == files.c.file_name))
        .where(files.c.mous_uid.in_(mous_uids), files.c.kind.in_(RESTORE_PRODUCT_KINDS))
        .order_by(files.c.mous_uid, files.c.kind, files.c.session_number, files.c.file_name)
    )
    products: dict[str, list[RestoreProduct]] = defaultdict(list)
    for row in rows:
        record = records.get(row.mous_uid)
        manifest = record.manifest_file if record is not None else None
        if row.kind == "manifest" and manifest is not None and row.file_name != manifest:
            continue
        products[row.mous_uid].append(
            RestoreProduct(row.file_name, row.kind, row.session_number, row.size_bytes, row.restore_name)
        )
    return {uid: tuple(found) for uid, found in products.items()}


def _request(
    identity: Any,
    sessions: Iterable[Session],
    products: Iterable[RestoreProduct],
    record: ArchivedRecord | None,
) -> RestoreRequest:
    return RestoreRequest(
        mous_uid=identity.mous_uid,
        project_code=identity.code or "",
        project_title=identity.title,
        pi_name=identity.pi_name,
        obs_project_uid=identity.obs_project_uid or "",
        ous_part_id=identity.part_id or "",
        project_status_uid=identity.project_status_uid or "",
        sous_uid=identity.sous_uid or "",
        gous_uid=identity.gous_uid or "",
        sb_uid=identity.sb_uid or "",
        sb_status_uid=identity.sb_status_uid or "",
        sb_title=identity.sb_title,
        array=identity.array_family,
        sessions=tuple(sessions),
        products=tuple(products),
        release_date=identity.release_date,
        record=record,
    )

"""A spool of request directories built night after night: what is already there, what is new.

A request is recognised by its ``fetch-manifest.json``: the MOUS it is for and the digest of its
session map (session numbers and the EBs of each, empty sessions included). A MOUS whose session map
has a request in the spool is not built again; one whose map changed gets a new request beside the
old one. Manifests written before the digest existed are recognised by reading their PPR instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, func, select

from etl.mirror import MousStatus, SyncRun, table_of
from etl.restore.spool import SpooledRequest, spooled_requests, unreadable
from ppr.errors import ArchivedPprUnreadable
from ppr.layout import session_map_digest
from ppr.model import Session


def built_requests(base_dir: Path) -> dict[tuple[str, str], Path]:
    """(MOUS UID, session-map digest) → request directory, for every request under ``base_dir``."""
    found: dict[tuple[str, str], Path] = {}
    for request in spooled_requests(base_dir):
        digest = _session_map_digest(request)
        if digest is not None:
            found.setdefault((request.mous_uid, digest), request.directory)
    return found


def _session_map_digest(request: SpooledRequest) -> str | None:
    """The digest the manifest records, else the one of its PPR's sessions; None when neither reads."""
    try:
        digest = request.manifest.get("session_map_sha256") or _digest_from_ppr(
            request.directory, request.manifest
        )
    except (OSError, ValueError, KeyError, TypeError, ArchivedPprUnreadable) as exc:
        unreadable(request.directory, exc)
        return None
    return str(digest)


def _digest_from_ppr(directory: Path, manifest: Mapping[str, object]) -> str:
    from ppr.check import read_archived_sessions

    sessions = read_archived_sessions(directory / str(manifest["ppr"]))
    return session_map_digest(Session(number, uids) for number, uids in sessions.items())


def restorable_since(connection: Connection, since: datetime | None, newly: bool) -> set[str]:
    """The MOUSes restorable (by any restore kind) since ``since`` and, with ``newly``, those that
    became so in the latest successful sync."""
    status = table_of(MousStatus)
    # restorable_since is set exactly while the restore kind is not none (mous_status's check).
    query = select(status.c.mous_uid).where(status.c.restorable_since.is_not(None))
    if since is not None:
        query = query.where(status.c.restorable_since >= since)
    if newly:
        runs = table_of(SyncRun)
        latest = select(func.max(runs.c.run_id)).where(runs.c.status == "succeeded").scalar_subquery()
        query = query.where(status.c.restorable_since_run_id == latest)
    return set(connection.execute(query).scalars())

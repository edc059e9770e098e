"""A spool of request directories built night after night: what is already there, what is new.

A request is recognised by its ``fetch-manifest.json``: the MOUS it is for and the digest of its
session map (session numbers and the EBs of each, empty sessions included). A MOUS whose session map
has a request in the spool is not built again; one whose map changed gets a new request beside the
old one. Manifests written before the digest existed are recognised by reading their PPR instead.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, func, select

from etl.logs import fields
from etl.mirror import MousStatus, SyncRun, table_of
from ppr.errors import ArchivedPprUnreadable
from ppr.layout import MANIFEST_FILE, session_map_digest
from ppr.model import Session

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class BuiltRequest:
    mous_uid: str
    session_map_sha256: str
    directory: Path


def built_requests(base_dir: Path) -> dict[tuple[str, str], Path]:
    """(MOUS UID, session-map digest) → request directory, for every request under ``base_dir``."""
    found: dict[tuple[str, str], Path] = {}
    for request in _scan(base_dir):
        found.setdefault((request.mous_uid, request.session_map_sha256), request.directory)
    return found


def _scan(base_dir: Path) -> Iterator[BuiltRequest]:
    if not base_dir.is_dir():
        return
    for directory, subdirectories, files in os.walk(base_dir):
        if MANIFEST_FILE in files:
            subdirectories.clear()  # a request directory: never walk into its rawdata or products
            request = _read_request(Path(directory))
            if request is not None:
                yield request
            continue
        # Hidden directories are requests being written or replaced (.name.partial-…), not requests.
        subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))


def _read_request(directory: Path) -> BuiltRequest | None:
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
        mous_uid = manifest["mous_uid"]
        digest = manifest.get("session_map_sha256") or _digest_from_ppr(directory, manifest)
    except (OSError, ValueError, KeyError, TypeError, ArchivedPprUnreadable) as exc:
        log.warning("ppr.spool_unreadable %s", fields(directory=directory, error=exc))
        return None
    return BuiltRequest(str(mous_uid), str(digest), directory)


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

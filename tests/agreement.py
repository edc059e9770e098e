"""Do ``report restorable`` and ``ppr`` agree on every MOUS of a mirror? (Shared by the test modules of
the demo archive and of the hand-built report archive.)

For each MOUS the report lists: restorable ⇔ ``ppr`` writes its PPR and request directory (with
--allow-proprietary), a refusal's code is the report's ``reason_code``, and the PPR's PIName is the
report's ``pi`` (``Unknown`` where it is NULL), and each SESSION_n value of the PPR is
``mous_sessions.session_value`` (joined in SQL there, in Python by ppr) unless the MOUS's archived record
is the calibration's key (``follows_archive``: the PPR then lists the archived PPR's sessions, which the
view does not show). ``--all-restorable`` writes every restorable MOUS and refuses none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import Connection, Row, func, select
from sqlalchemy.engine import URL

from etl.mirror import CalibrationDocument, table_of
from etl.mirror.states import RecordState
from etl.mirror.views import mous_restore, mous_sessions, restorable_mous
from etl.settings import PprSettings
from ppr.errors import NotRestorable
from ppr.layout import build_request_directory
from ppr.service import build_all_restorable, generate_ppr
from tests.conftest import open_engine

UNKNOWN_PI = "Unknown"


def disagreements(mirror: URL, site: PprSettings, base_dir: Path) -> list[str]:
    """One line per MOUS on which the report and the PPR generator disagree; [] when they agree."""
    found: list[str] = []
    engine = open_engine(mirror)
    try:
        with engine.connect() as connection:
            view = restorable_mous
            report = connection.execute(
                select(view.c.mous_uid, view.c.restorable, view.c.reason_code, view.c.pi)
                .order_by(view.c.mous_uid)
            ).all()
            assert report, "the mirror lists no MOUS"
            for row in report:
                found += _one(connection, row, site, base_dir / "one")
            summary = build_all_restorable(connection, base_dir / "all", site, allow_proprietary=True)
            # A MOUS restored by its archived restore script gets a request directory too, when the
            # mirror holds the script (a hand-built status row may name one no sync fetched).
            documents = table_of(CalibrationDocument)
            scripted = connection.execute(
                select(func.count())
                .select_from(mous_restore)
                .join(documents, documents.c.file_id == mous_restore.c.restore_script_file)
                .where(mous_restore.c.restore_kind == "pipeline_script", documents.c.state == "fetched")
            ).scalar_one()
            unscripted = {
                uid for uid, refusal in summary.refused.items()
                if "its archived restore script is not in the mirror" in refusal
            }
            for uid in unscripted:
                del summary.refused[uid]
            # And a MOUS restored by its scriptForPI.py gets a delivery tree.
            delivered = connection.execute(
                select(func.count()).select_from(mous_restore)
                .where(mous_restore.c.restore_kind == "scriptforpi")
            ).scalar_one()
            restorable = sum(1 for row in report if row.restorable) + scripted + delivered
            if summary.refused or len(summary.written) != restorable:
                found.append(
                    f"--all-restorable wrote {len(summary.written)} of {restorable} restorable MOUSes, "
                    f"refused {summary.refused}"
                )
    finally:
        engine.dispose()
    return found


def _one(connection: Connection, row: Row[Any], site: PprSettings, base_dir: Path) -> list[str]:
    mous_uid, restorable, reason_code, pi = row
    try:
        generated = generate_ppr(connection, mous_uid, site, allow_proprietary=True)
        directory = build_request_directory(
            base_dir, generated.relative_path, generated.document, generated.request
        )
    except NotRestorable as refusal:
        if restorable or refusal.reason != reason_code:
            return [f"{mous_uid}: report says {reason_code or 'restorable'}, ppr refused ({refusal.reason})"]
        return []
    except Exception as failure:  # every other failure is a disagreement, reported with the others
        return [f"{mous_uid}: report says {reason_code or 'restorable'}, ppr failed: {failure}"]
    if not restorable:
        return [f"{mous_uid}: report says {reason_code}, ppr wrote a PPR"]
    pi_name = etree.fromstring(generated.document).findtext("ProjectSummary/PIName")
    expected = UNKNOWN_PI if pi is None else pi
    found = [] if pi_name == expected else [f"{mous_uid}: report pi {pi!r}, PPR PIName {pi_name!r}"]
    return found + _session_problems(connection, mous_uid, generated.document) + _manifest_problems(
        mous_uid, directory
    )


def _session_problems(connection: Connection, mous_uid: str, document: bytes) -> list[str]:
    """The PPR's SESSION_n intents hold the view's session values ('' for an empty session)."""
    record = connection.execute(
        select(restorable_mous.c.calibration_record).where(restorable_mous.c.mous_uid == mous_uid)
    ).scalar_one()
    if record == RecordState.FOLLOWS_ARCHIVE:
        return []  # sessions as the archived PPR lists them (ppr/query.py _archive_key_sessions)
    intents = etree.fromstring(document).iterfind(".//ProcessingIntents/Intents")
    written = {
        keyword: intent.findtext("Value") or ""
        for intent in intents
        if (keyword := intent.findtext("Keyword") or "").startswith("SESSION_")
    }
    view = mous_sessions
    listed = {
        f"SESSION_{number}": value
        for number, value in connection.execute(
            select(view.c.session_number, view.c.session_value).where(view.c.mous_uid == mous_uid)
        )
    }
    if written and written == listed:
        return []
    return [f"{mous_uid}: the PPR's sessions {written}, mous_sessions' {listed}"]


def _manifest_problems(mous_uid: str, directory: Path) -> list[str]:
    """A restorable MOUS's request carries a pipeline manifest: the archive's (to fetch) or written.

    Not asked of a status row built by hand (no ``manifest_source``: "archive", but no manifest).
    A sync's verdict says "archive" only for a manifest that parsed, which is then fetched.
    """
    plan = json.loads((directory / "fetch-manifest.json").read_text("utf-8"))
    choice = plan.get("pipeline_manifest") or {}
    fetched = [p["target"] for p in plan["products"] if p["kind"] == "manifest"]
    if choice.get("source") == "archive" and choice.get("file") is None and not fetched:
        return []
    if choice.get("source") == "almamirror":
        written = directory / "products" / str(choice.get("file"))
        return [] if written.is_file() else [f"{mous_uid}: its written manifest {written} is missing"]
    if choice.get("source") == "archive" and fetched == [f"products/{choice.get('file')}"]:
        return []
    return [f"{mous_uid}: the request carries no pipeline manifest ({choice}, fetched {fetched})"]

"""The mirror's schema revision checked in one query, without loading Alembic.

Every report, ``explain`` and ``ppr`` checks that the mirror is at this code's head revision before it
reads. Alembic's ScriptDirectory imports Alembic and every migration to answer that, which costs more
than the report itself; reading the ``revision`` and ``down_revision`` lines of the migration files is
enough to know the heads. Anything this reading does not settle goes to Alembic (etl.migrations).
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.exc import ProgrammingError

from etl.resources import ROOT

VERSIONS = ROOT / "alembic" / "versions"
# `revision: str = "0008"` and `down_revision: str | None = "0007"` (or a tuple, or None).
_ASSIGNMENT = re.compile(
    r"^(?P<name>revision|down_revision)\s*(?::[^=]+)?=\s*(?P<value>.+?)\s*$", re.MULTILINE
)


def fast_heads(versions: Path = VERSIONS) -> frozenset[str] | None:
    """The head revisions named by the migration files; None when a file does not read plainly."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        found = {match["name"]: match["value"] for match in _ASSIGNMENT.finditer(script.read_text("utf-8"))}
        try:
            revision = ast.literal_eval(found["revision"])
            down = ast.literal_eval(found.get("down_revision", "None"))
        except (KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        parents.update((down,) if isinstance(down, str) else down or ())
    return frozenset(revisions - parents) or None


def at_head(connection: Connection) -> bool:
    """True when the mirror's recorded revision is a head of the migration files.

    False means "not known to be": the caller asks Alembic, which says what is wrong. Give it a
    connection of its own: a mirror never migrated leaves its transaction failed.
    """
    heads = _installed_heads()
    if heads is None:
        return False
    try:
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except ProgrammingError:  # not migrated: no version table
        return False
    return len(rows) == 1 and rows[0] in heads


@cache
def _installed_heads() -> frozenset[str] | None:
    return fast_heads()

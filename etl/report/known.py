"""A project code or MOUS UID the mirror does not know is said, with the nearest it does know.

An unknown filter would otherwise give an empty answer and exit 0, which reads as "nothing there"
when the code was mistyped (``2017.1.00886`` for ``2017.1.00886.L``).
"""

from __future__ import annotations

import difflib

from sqlalchemy import Connection, exists, func, or_, select

from etl.errors import UsageError
from etl.report.views import restorable_mous

NEAREST = 3


def require_project(connection: Connection, code: str | None, option: str = "--project") -> None:
    """UsageError when no MOUS of project ``code`` is in the mirror and it looks like a mistyped code
    (the mirror knows codes that extend it or are spelled nearly so): those are named. A code nothing
    resembles is a project the mirror does not hold yet: an empty report, exit 0, as for any filter."""
    if code is None:
        return
    view = restorable_mous
    if connection.execute(select(exists().where(view.c.project_code == code))).scalar_one():
        return
    # Codes that extend what was typed (a missing suffix), then the closest by spelling.
    codes = list(connection.execute(select(view.c.project_code).distinct().where(
        view.c.project_code.is_not(None))).scalars())
    started = sorted(c for c in codes if c.startswith(code))[:NEAREST]
    nearest = started or difflib.get_close_matches(code, codes, n=NEAREST, cutoff=0.8)
    if not nearest:
        return
    raise UsageError(f"{option} '{code}': no such project in the mirror{_did_you_mean(nearest)}")


def require_mous(connection: Connection, mous_uid: str | None, option: str = "--mous") -> None:
    """UsageError when the mirror has never known ``mous_uid`` (no status, no change recorded)."""
    if mous_uid is None:
        return
    # Here, not at the top: report restorable imports this module too and needs no ORM models.
    from etl.mirror.base import table_of
    from etl.mirror.bookkeeping import ChangeEvent

    view = restorable_mous
    events = table_of(ChangeEvent)
    known = select(or_(
        exists().where(view.c.mous_uid == mous_uid), exists().where(events.c.mous_uid == mous_uid)
    ))
    if connection.execute(known).scalar_one():
        return
    nearest = nearest_mous(connection, mous_uid)
    raise UsageError(f"{option} {mous_uid}: no such member OUS in the mirror{_did_you_mean(nearest)}")


def nearest_mous(connection: Connection, mous_uid: str) -> list[str]:
    """The MOUS UIDs closest to ``mous_uid``: among those of its archive block (uid://A001/X1284/…)
    when it has any, else among all."""
    view = restorable_mous
    block = mous_uid.rsplit("/", 1)[0] + "/"
    query = select(view.c.mous_uid)
    in_block = list(connection.execute(query.where(func.starts_with(view.c.mous_uid, block))).scalars())
    candidates = in_block or list(connection.execute(query).scalars())
    return difflib.get_close_matches(mous_uid, candidates, n=NEAREST, cutoff=0.5)


def _did_you_mean(nearest: list[str]) -> str:
    return f"; did you mean {' or '.join(nearest)}?" if nearest else ""

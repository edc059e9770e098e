"""The sessions a restore PPR carries where they are not the session rule's: a MOUS whose archived
calibration record is the calibration's key (``follows_archive``) is restored with the sessions of
its archived PPR. The PPR generator writes them and ``almamirror explain`` shows them, from here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from sqlalchemy import ColumnElement, Connection, select

from etl.archive_names import disk_name
from etl.mirror import CalibrationRecordSession, table_of
from etl.mirror.states import RecordState

# calibration_record.state of a record that is the calibration's key: the PPR follows it.
FOLLOWS_ARCHIVE: Final = RecordState.FOLLOWS_ARCHIVE
# calibration_record_session.document of the archived PPR.
ARCHIVED_PPR: Final = "request"

SessionMap = list[tuple[int, tuple[str, ...]]]


def archive_key_sessions(
    connection: Connection,
    chosen: Callable[[ColumnElement[str]], ColumnElement[bool]],
    mirror_ebs: Mapping[str, Iterable[str]],
) -> dict[str, SessionMap]:
    """SESSION_1..K per chosen MOUS as its archived PPR lists them (empty sessions kept), in order.

    ``chosen`` picks the MOUSes (a condition on the mous_uid column); each EB is spelled as
    ``mirror_ebs`` (the mirror's EB UIDs per MOUS) spells it: the record holds the same Pass EBs.
    """
    table = table_of(CalibrationRecordSession)
    rows = connection.execute(
        select(table.c.mous_uid, table.c.session_number, table.c.eb_uids)
        .where(chosen(table.c.mous_uid), table.c.document == ARCHIVED_PPR)
        .order_by(table.c.mous_uid, table.c.session_number)
    )
    spellings: dict[str, dict[str, str]] = {}
    found: dict[str, SessionMap] = defaultdict(list)
    for mous_uid, number, eb_uids in rows.all():
        if mous_uid not in spellings:
            spellings[mous_uid] = {disk_name(uid): uid for uid in mirror_ebs.get(mous_uid, ())}
        spelled = spellings[mous_uid]
        found[mous_uid].append((number, tuple(spelled.get(disk_name(uid), uid) for uid in eb_uids)))
    return dict(found)

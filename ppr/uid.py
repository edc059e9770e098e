"""ALMA UIDs in their two spellings: archive ``uid://A001/X129e/Xb6`` and disk ``uid___A001_X129e_Xb6``."""

from __future__ import annotations

import re

from ppr.errors import InvalidMousUid

# Archive id (A001, A002, …) then two lower-case hex serials. ALMA never writes upper-case hex, so an
# upper-case UID would never match the mirror: refusing it here gives the clearer message.
CANONICAL_UID = re.compile(r"uid://(A[0-9]{3})/(X[0-9a-f]+)/(X[0-9a-f]+)")
DISK_NAME = re.compile(r"uid___(A[0-9]{3})_(X[0-9a-f]+)_(X[0-9a-f]+)")
# Product files of Cycle 5 and later carry this prefix; people copy UIDs from those file names.
MEMBER_PREFIX = "member."


def parse_mous_uid(text: str) -> str:
    """The canonical ``uid://…`` form of a MOUS UID typed in any accepted form, else ``InvalidMousUid``."""
    uid = canonical_uid(text.strip())
    if uid is None:
        raise InvalidMousUid(text)
    return uid


def canonical_uid(text: str) -> str | None:
    """``uid://A…/X…/X…`` for a UID in archive or disk form (optionally ``member.``-prefixed), else None."""
    bare = text.removeprefix(MEMBER_PREFIX)
    match = CANONICAL_UID.fullmatch(bare) or DISK_NAME.fullmatch(bare)
    if match is None:
        return None
    archive, first, second = match.groups()
    return f"uid://{archive}/{first}/{second}"


def is_canonical_uid(text: str) -> bool:
    """Whether ``text`` is exactly a UID in the archive form ``uid://A001/X129e/Xb6``."""
    return CANONICAL_UID.fullmatch(text) is not None


def disk_name(uid: str) -> str:
    """The file-system form of a UID, exactly as the pipeline derives it: ':' and '/' become '_'."""
    return uid.replace(":", "_").replace("/", "_")

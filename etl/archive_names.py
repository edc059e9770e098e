"""How the ALMA archive names things, for the mirror and the PPR generator alike.

A UID has two spellings: the archive's ``uid://A001/X129e/Xb6`` and the disk's ``uid___A001_X129e_Xb6``
(file and directory names, the pipeline's ASDM names). Archived product files of Cycle 5 on carry a
``member.`` prefix, and files archived before Cycle 4 end in ``.tar.gz``; a restore (the pipeline's
manifest, its products/ directory) names them without the prefix and with ``.tgz``. The mirror's
verdict applies the same rule in SQL (``etl.derive.restorability.restore_name``); a property test
keeps the two equal.

The PPR generator and the reports both parse the UIDs people type (``parse_mous_uid``): standard library
and ``etl.errors`` only, so that the PPR core and every report can import this module.
"""

from __future__ import annotations

import re
from typing import Final

from etl.errors import InvalidMousUid

# Archive id (A001, A002, …) then two lower-case hex serials. ALMA never writes upper-case hex, so an
# upper-case UID would never match the mirror: refusing it gives the clearer message.
_ARCHIVE_ID = "A[0-9]{3}"
_SERIAL = "X[0-9a-f]+"
CANONICAL_UID: Final = re.compile(rf"uid://({_ARCHIVE_ID})/({_SERIAL})/({_SERIAL})")
DISK_NAME: Final = re.compile(rf"uid___({_ARCHIVE_ID})_({_SERIAL})_({_SERIAL})")
# The archive form as a PostgreSQL regular expression, for the verdict (anchored: ``~`` searches).
# SciPipeRequest.xsd's Uid is the same pattern (a test keeps them equal).
ARCHIVE_UID_PATTERN: Final = rf"^uid://{_ARCHIVE_ID}/{_SERIAL}/{_SERIAL}$"
# Product files of Cycle 5 and later carry this prefix; the restore looks for the names without it, and
# people copy UIDs from those file names.
MEMBER_PREFIX: Final = "member."
# The compressed-tar ending of products archived before Cycle 4, and the one a restore looks for.
OLD_TAR_SUFFIX: Final = ".tar.gz"
TAR_SUFFIX: Final = ".tgz"


def restore_name(archived_name: str) -> str:
    """The name a restore gives an archived product: no ``member.`` prefix, ``.tgz`` for ``.tar.gz``."""
    name = archived_name.removeprefix(MEMBER_PREFIX)
    if name.endswith(OLD_TAR_SUFFIX):
        return name.removesuffix(OLD_TAR_SUFFIX) + TAR_SUFFIX
    return name


def canonical_uid(text: str) -> str | None:
    """``uid://A…/X…/X…`` for a UID in archive or disk form (optionally ``member.``-prefixed), else None."""
    bare = text.removeprefix(MEMBER_PREFIX)
    match = CANONICAL_UID.fullmatch(bare) or DISK_NAME.fullmatch(bare)
    if match is None:
        return None
    archive, first, second = match.groups()
    return f"uid://{archive}/{first}/{second}"


def parse_mous_uid(text: str) -> str:
    """The canonical ``uid://…`` form of a MOUS UID typed in any accepted form, else ``InvalidMousUid``."""
    uid = canonical_uid(text.strip())
    if uid is None:
        raise InvalidMousUid(text)
    return uid


def is_canonical_uid(text: str) -> bool:
    """Whether ``text`` is exactly a UID in the archive form ``uid://A001/X129e/Xb6``."""
    return CANONICAL_UID.fullmatch(text) is not None


def disk_name(uid: str) -> str:
    """The file-system form of a UID, exactly as the pipeline derives it (and matches ASDMs by it):
    ':' and '/' become '_', ``uid://A002/Xc77d4f/X522`` → ``uid___A002_Xc77d4f_X522``."""
    return uid.replace(":", "_").replace("/", "_")

"""A MOUS UID as a person types it; the UID rules themselves are ``etl.archive_names``'."""

from __future__ import annotations

from etl.archive_names import canonical_uid
from ppr.errors import InvalidMousUid


def parse_mous_uid(text: str) -> str:
    """The canonical ``uid://…`` form of a MOUS UID typed in any accepted form, else ``InvalidMousUid``."""
    uid = canonical_uid(text.strip())
    if uid is None:
        raise InvalidMousUid(text)
    return uid

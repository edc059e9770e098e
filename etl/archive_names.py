"""How the ALMA archive names things, for the mirror and the PPR generator alike.

Archived product files of Cycle 5 on carry a ``member.`` prefix, and files archived before Cycle 4
end in ``.tar.gz``; a restore (the pipeline's manifest, its products/ directory) names them without
the prefix and with ``.tgz``. The mirror's verdict applies the same rule in SQL
(``etl.derive.restorability.restore_name``); a property test keeps the two equal.

Standard library only: the PPR core imports this module.
"""

from __future__ import annotations

from typing import Final

# Product files of Cycle 5 and later carry this prefix; the restore looks for the names without it.
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

"""The request directories in a spool, and the MOUS each is for.

A request directory is recognised by its fetch manifest (``fetch-manifest.json``), which names the MOUS.
The request writer (``ppr.spool``) lists them to skip what is built already; ``report
no-longer-restorable`` lists them to name the request a MOUS that lost restorability has. Standard
library and ``etl.logs`` only: the reports must not import the request writer.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from etl.logs import fields

MANIFEST_FILE: Final = "fetch-manifest.json"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpooledRequest:
    """A request directory and its fetch manifest as read."""

    directory: Path
    mous_uid: str
    manifest: Mapping[str, Any]


def spooled_requests(spool: Path) -> Iterator[SpooledRequest]:
    """Every request under ``spool`` whose manifest names its MOUS, in the order of their paths.

    A manifest that cannot be read is logged (``ppr.spool_unreadable``) and its directory passed over.
    """
    for directory in request_directories(spool):
        try:
            manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
            mous_uid = manifest["mous_uid"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            unreadable(directory, exc)
            continue
        yield SpooledRequest(directory, str(mous_uid), manifest)


def request_directories(spool: Path) -> Iterator[Path]:
    """The directories under ``spool`` that hold a fetch manifest, in the order of their paths."""
    if not spool.is_dir():
        return
    for directory, subdirectories, files in os.walk(spool):
        if MANIFEST_FILE in files:
            subdirectories.clear()  # a request directory: never walk into its rawdata or products
            yield Path(directory)
            continue
        # Hidden directories are requests being written or replaced (.name.partial-…), not requests.
        subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))


def unreadable(directory: Path, error: Exception) -> None:
    """Say that the request in ``directory`` cannot be read, and go on with the others."""
    log.warning("ppr.spool_unreadable %s", fields(directory=directory, error=error))

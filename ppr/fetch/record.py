"""``fetch-record.json``: what a fetch verified, so a re-run recognises complete files without a download.

A product is recorded with its NGAS file id, size and checksum, and the size and modification time its
file had when it was verified: while those are unchanged the file is taken as verified. An ASDM is
recorded as ``exporting`` before its export starts and ``exported`` (with its file count and bytes)
when the export succeeded, so a directory left by an interrupted export is known for what it is. The
record is rewritten atomically (written, fsynced, renamed over the old one) after every ASDM state, and
for products at most every ``SAVE_SECONDS`` and at the end of the run (``save``): a fetch of many small
files would otherwise spend as long on the record's fsyncs as on the files. Each product entry names a
file already fsynced under its name, so an entry not saved before a crash costs the next run a STATUS
and a checksum of that file (``product_verified`` is False for it), never a wrong "verified".
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from etl.safe_files import open_file

RECORD_FILE: Final = "fetch-record.json"
RECORD_VERSION: Final = 1
EXPORTING: Final = "exporting"
EXPORTED: Final = "exported"
# The longest a verified product may wait in memory before the record is rewritten with it.
SAVE_SECONDS: Final = 2.0


@dataclass(frozen=True)
class TreeSize:
    """What an exported ASDM directory held: its files and their bytes."""

    files: int
    bytes: int


def tree_size(directory: Path) -> TreeSize:
    files = [path for path in directory.rglob("*") if path.is_file()]
    return TreeSize(len(files), sum(path.stat().st_size for path in files))


class FetchRecord:
    """The record of one request directory; thread-safe (workers record as they finish)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / RECORD_FILE
        self._lock = threading.Lock()
        self._unsaved = False  # changed since the record was last written
        self._saved_at = time.monotonic()
        self._data: dict[str, Any] = {"record_version": RECORD_VERSION, "products": {}, "asdms": {}}
        try:
            loaded = json.loads(self.path.read_text("utf-8"))
        except (FileNotFoundError, ValueError, OSError):
            return  # no record (or an unreadable one): every file is checked against the archive
        if isinstance(loaded, dict) and loaded.get("record_version") == RECORD_VERSION:
            self._data["products"] = dict(loaded.get("products") or {})
            self._data["asdms"] = dict(loaded.get("asdms") or {})

    def product_verified(self, target: str, path: Path, ngas_file_id: str, size: int | None) -> bool:
        """Whether ``path`` is the file recorded as verified: same file id, size and modification time."""
        entry = self._data["products"].get(target)
        if not isinstance(entry, dict) or entry.get("ngas_file_id") != ngas_file_id:
            return False
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        expected = entry.get("size")
        return (
            stat.st_size == expected
            and (size is None or size == expected)
            and stat.st_mtime_ns == entry.get("mtime_ns")
        )

    def record_product(
        self, target: str, path: Path, ngas_file_id: str, checksum: str | None, plugin: str | None,
        verified: tuple[int, int] | None = None,
    ) -> None:
        """Record a verified product; written now if the last write is ``SAVE_SECONDS`` old, else later.

        ``verified``: the file's size and modification time as it was put in place (else read now).
        """
        size, mtime_ns = verified if verified is not None else _size_and_mtime(path)
        self._update("products", target, {
            "ngas_file_id": ngas_file_id, "size": size, "mtime_ns": mtime_ns,
            "checksum": checksum, "checksum_plugin": plugin,
        }, at_once=False)

    def asdm_state(self, disk_name: str) -> tuple[str | None, TreeSize | None]:
        entry = self._data["asdms"].get(disk_name)
        if not isinstance(entry, dict):
            return None, None
        size = TreeSize(entry["files"], entry["bytes"]) if entry.get("state") == EXPORTED else None
        return entry.get("state"), size

    def asdm_exporting(self, disk_name: str, eb_uid: str) -> None:
        self._update("asdms", disk_name, {"eb_uid": eb_uid, "state": EXPORTING})

    def asdm_exported(self, disk_name: str, eb_uid: str, size: TreeSize) -> None:
        self._update("asdms", disk_name,
                     {"eb_uid": eb_uid, "state": EXPORTED, "files": size.files, "bytes": size.bytes})

    def save(self) -> None:
        """Write what is not written yet: the end of a run."""
        with self._lock:
            if self._unsaved:
                self._write()

    def _update(self, section: str, key: str, value: dict[str, Any], at_once: bool = True) -> None:
        with self._lock:
            self._data[section][key] = value
            self._unsaved = True
            if at_once or time.monotonic() - self._saved_at >= SAVE_SECONDS:
                self._write()

    def _write(self) -> None:
        """The record rewritten whole: a new file fsynced and renamed over the old (the caller locks)."""
        text = json.dumps(self._data, indent=2, sort_keys=True) + "\n"
        partial = self.path.with_name(f".{self.path.name}.partial")
        # A leftover of a crash is overwritten; a symbolic link planted there is refused.
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        with os.fdopen(open_file(partial, flags), "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(self.path)
        self._unsaved = False
        self._saved_at = time.monotonic()


def _size_and_mtime(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns

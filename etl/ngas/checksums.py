"""The checksums NGAS keeps for a file, computed while the bytes stream to disk.

NGAS names the algorithm by its checksum plug-in: ``ngamsGenCrc32``, ``crc32`` and ``StreamCrc32`` are
CRC-32 as ``zlib.crc32`` computes it, but files archived by older (Python 2) servers carry the value
**signed**; ``crc32z`` is the same CRC-32 always unsigned; ``crc32c`` is CRC-32C (Castagnoli).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import crc32c as _crc32c

CRC32: Final = "crc32"
CRC32C: Final = "crc32c"
# Plug-in name (as NGAS stores it) -> the algorithm.
PLUGINS: Final[dict[str, str]] = {
    "ngamsGenCrc32": CRC32,
    "crc32": CRC32,
    "StreamCrc32": CRC32,
    "crc32z": CRC32,
    "crc32c": CRC32C,
}
_UPDATE: Final[dict[str, Callable[[bytes | memoryview, int], int]]] = {
    CRC32: zlib.crc32,
    CRC32C: _crc32c.crc32c,
}
READ_CHUNK: Final = 1 << 20


class UnknownChecksum(ValueError):
    """A checksum plug-in or value this client cannot verify."""


@dataclass(frozen=True)
class ExpectedChecksum:
    """What NGAS says a file's checksum is: the algorithm and the value as an unsigned 32-bit number."""

    algorithm: str
    value: int
    plugin: str
    stored: str  # as NGAS gave it, e.g. "-1187012539" for a signed CRC-32

    def matches(self, computed: int) -> bool:
        return computed & 0xFFFFFFFF == self.value


def expected_checksum(plugin: str, stored: str) -> ExpectedChecksum:
    """Parse NGAS's ``ChecksumPlugIn`` and ``Checksum``; signed CRC-32 values are taken modulo 2**32."""
    algorithm = PLUGINS.get(plugin.strip())
    if algorithm is None:
        raise UnknownChecksum(f"checksum plug-in {plugin!r} is not one of {', '.join(sorted(PLUGINS))}")
    try:
        number = int(stored.strip())
    except ValueError:
        raise UnknownChecksum(f"checksum {stored!r} of plug-in {plugin} is not a number") from None
    if not -(1 << 31) <= number < (1 << 32):
        raise UnknownChecksum(f"checksum {stored} of plug-in {plugin} is not a 32-bit value")
    return ExpectedChecksum(algorithm, number & 0xFFFFFFFF, plugin.strip(), stored.strip())


class RunningChecksum:
    """A checksum updated chunk by chunk, as the bytes arrive."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._update = _UPDATE[algorithm]
        self.value = 0

    def update(self, chunk: bytes | memoryview) -> None:
        self.value = self._update(chunk, self.value)

    def reset(self) -> None:
        self.value = 0


def checksum_of_file(path: Path, algorithm: str, limit: int | None = None) -> int:
    """The checksum of a file's first ``limit`` bytes (all of it when None)."""
    running = RunningChecksum(algorithm)
    remaining = limit
    with path.open("rb") as handle:
        while remaining is None or remaining > 0:
            chunk = handle.read(READ_CHUNK if remaining is None else min(READ_CHUNK, remaining))
            if not chunk:
                break
            running.update(chunk)
            if remaining is not None:
                remaining -= len(chunk)
    return running.value


def stored_form(plugin: str, value: int) -> str:
    """How NGAS stores ``value`` for ``plugin``: ``ngamsGenCrc32`` signed (as Python 2 servers did)."""
    unsigned = value & 0xFFFFFFFF
    if plugin == "ngamsGenCrc32" and unsigned >= 1 << 31:
        return str(unsigned - (1 << 32))
    return str(unsigned)

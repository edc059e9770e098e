"""The bytes of the stand-in's large files: generated from the file id, never stored.

A body is made of 1 MiB blocks; each block starts with 64 bytes hashed from the file id and the block's
number and goes on with a fixed pseudo-random pool. So any byte range can be generated on its own (a
resumed download asks for the rest of a file), two files never share a block, and a body shifted by any
offset no longer matches its checksum.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from typing import Final

BLOCK_BYTES: Final = 1 << 20
_HEAD_BYTES: Final = 64
_POOL_TAIL: Final = random.Random("almamirror-ngas-stand-in").randbytes(BLOCK_BYTES)[_HEAD_BYTES:]


def block(file_id: str, index: int) -> bytes:
    """Block ``index`` (1 MiB) of the body of ``file_id``."""
    head = hashlib.blake2b(f"{file_id}\0{index}".encode(), digest_size=_HEAD_BYTES).digest()
    return head + _POOL_TAIL


def body_chunks(file_id: str, size: int, start: int = 0) -> Iterator[bytes]:
    """The body's bytes ``start..size-1``, in pieces of at most one block."""
    position = start
    while position < size:
        index, within = divmod(position, BLOCK_BYTES)
        piece = block(file_id, index)[within:min(BLOCK_BYTES, size - index * BLOCK_BYTES)]
        yield piece
        position += len(piece)


def body(file_id: str, size: int) -> bytes:
    """The whole body, for small files and tests."""
    return b"".join(body_chunks(file_id, size))

"""Per-table spools: generated rows wait in temporary files, not in memory, until their COPY.

Rows go to disk in pickled chunks, so the ``alma`` scale (≈2 million rows) needs a few chunks of memory,
not the whole archive.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

Row = tuple[Any, ...]
CHUNK_ROWS = 5_000


class TableSpool:
    """The rows of one table, appended in order and read back once, in the same order."""

    def __init__(self) -> None:
        # Closed by close(): the spool lives across the whole generation, not one block.
        self.file: IO[bytes] = tempfile.TemporaryFile(prefix="almamirror-demo-")  # noqa: SIM115
        self.pending: list[Row] = []
        self.count = 0

    def add(self, row: Row) -> None:
        self.pending.append(row)
        self.count += 1
        if len(self.pending) >= CHUNK_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            pickle.dump(self.pending, self.file, protocol=pickle.HIGHEST_PROTOCOL)
            self.pending = []

    def rows(self) -> Iterator[Row]:
        self._flush()
        self.file.seek(0)
        while True:
            try:
                # Our own temporary file, written by this process moments ago: nothing untrusted.
                chunk: list[Row] = pickle.load(self.file)  # noqa: S301
            except EOFError:
                return
            yield from chunk

    def close(self) -> None:
        self.file.close()


class Spools:
    """One spool per contract table; the ``RowSink`` the row writer fills."""

    def __init__(self, tables: Iterable[str]) -> None:
        self.tables = {name: TableSpool() for name in tables}

    def add(self, table: str, row: Row) -> None:
        self.tables[table].add(row)

    def counts(self) -> dict[str, int]:
        return {name: spool.count for name, spool in self.tables.items()}

    def close(self) -> None:
        for spool in self.tables.values():
            spool.close()

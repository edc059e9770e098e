"""One PPR written to a file (``almamirror ppr -o FILE``)."""

from __future__ import annotations

from pathlib import Path

from etl.safe_files import replace_file


def write_ppr_file(path: Path, document: bytes) -> None:
    """Put the PPR at ``path`` atomically, its directory made first: a crash never leaves a half-written
    PPR where the pipeline could pick it up, nor a stray part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path.parent, path, document)

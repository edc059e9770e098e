"""Output paths checked before any work: a file where a directory belongs, or a place that cannot be
written, is a usage error (exit 2) before a sync runs or a database is opened, and nothing is left.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from etl.errors import StopAndFix, UsageError

STDOUT = Path("-")


class OutputFileExists(StopAndFix):
    """``-o FILE`` names a file that exists; replacing it needs ``--force``."""

    def __init__(self, option: str, path: Path) -> None:
        self.path = path
        super().__init__(f"{option} {path}: the file already exists; pass --force to replace it")


def check_output_directory(path: Path, option: str) -> None:
    """``path`` is, or can be created as, a directory this process can write in."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path}: is a file, not a directory")
    _check_writable_ancestor(path, option)


def check_output_file(path: Path, option: str, force: bool) -> None:
    """``path`` can be written as a file: not a directory, not an existing file unless ``force``."""
    if path == STDOUT:
        return
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a directory; give a file name")
    if (path.exists() or path.is_symlink()) and not force:
        raise OutputFileExists(option, path)
    _check_writable_ancestor(path.parent, option, of=path)


def _check_writable_ancestor(path: Path, option: str, of: Path | None = None) -> None:
    """The nearest existing directory on the way to ``path`` exists, is a directory and takes files."""
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    shown = of or path
    if not ancestor.is_dir():
        raise UsageError(f"{option} {shown}: {ancestor} is a file, not a directory")
    # Trying is the only sure test: permissions, read-only file systems and /proc all say no here.
    try:
        probe = tempfile.mkdtemp(prefix=".almamirror-probe-", dir=ancestor)
    except OSError as exc:
        raise UsageError(f"{option} {shown}: cannot write in {ancestor} ({exc.strerror or exc})") from None
    Path(probe).rmdir()

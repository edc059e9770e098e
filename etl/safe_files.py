"""Writes that never follow a symbolic link they did not create: the one way request directories are written.

A link planted where almamirror writes (``products/`` pointing elsewhere, a ``.part`` or a temporary
file pointing at someone's file) would carry the write outside the directory. Every file is opened
with ``O_NOFOLLOW`` (a link in its place is refused, not followed), every directory below the root is
checked with ``lstat`` before a file in it is opened and again before a rename puts the file in place,
and a refused link is one ``SymbolicLinkRefused`` line.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

from etl.errors import SymbolicLinkRefused

_NO_FOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def check_no_links(root: Path, path: Path) -> None:
    """``SymbolicLinkRefused`` if ``path`` or a directory between ``root`` and it is a symbolic link.

    ``root`` itself is the caller's choice and may be reached through links; what is below it is not.
    A component that does not exist ends the check (nothing can be followed through it).
    """
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        try:
            mode = current.lstat().st_mode
        except FileNotFoundError:
            return
        if stat.S_ISLNK(mode):
            raise SymbolicLinkRefused(current)


def open_file(path: Path, flags: int, mode: int = 0o666) -> int:
    """``os.open`` that refuses a symbolic link at ``path`` and anything but a regular file there."""
    try:
        descriptor = os.open(path, flags | _NO_FOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SymbolicLinkRefused(path) from None
        if exc.errno == errno.EEXIST and path.is_symlink():
            raise SymbolicLinkRefused(path) from None
        raise
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise SymbolicLinkRefused(path, "not a regular file")
    return descriptor


def write_new(path: Path, content: bytes) -> None:
    """Create ``path`` (it must not exist, not even as a link) with ``content``, flushed to disk."""
    with os.fdopen(open_file(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def replace_file(root: Path, path: Path, content: bytes) -> None:
    """Put ``content`` at ``path`` atomically: written beside it under a fresh name, renamed over it.

    A link at ``path`` itself is replaced, not followed (a rename never follows); a link among the
    directories below ``root`` is refused before the write and again before the rename.
    """
    check_no_links(root, path.parent)
    partial = path.with_name(f".{path.name}.partial-{secrets.token_hex(4)}")
    try:
        write_new(partial, content)
        check_no_links(root, path.parent)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def make_directory(path: Path) -> None:
    """``path`` as a directory: created, or already one — a symbolic link there is refused."""
    try:
        path.mkdir()
    except FileExistsError:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            raise SymbolicLinkRefused(path) from None
        if not stat.S_ISDIR(mode):
            raise SymbolicLinkRefused(path, "not a directory") from None


def same_file(handle: BinaryIO | int, path: Path) -> bool:
    """Whether ``path`` (not followed) is still the file ``handle`` (a file object or a descriptor) has
    open: nothing replaced it."""
    try:
        there = path.lstat()
    except FileNotFoundError:
        return False
    held = os.fstat(handle if isinstance(handle, int) else handle.fileno())
    return (there.st_dev, there.st_ino) == (held.st_dev, held.st_ino)

"""What the restore reads inside the products: caltables and flagversions archives, calapply files.

The restore opens each archive with ``tarfile.open(…, 'r:gz')``; from a session's caltables it extracts
the members whose names start with one of the session's MS names or the session's name; from an EB's
flagversions it needs ``<ms>.flagversions/flags.Pipeline_Final``; an EB's calapply file is CASA
``applycal(...)`` lines whose ``gaintable`` tables it expects among what it extracted.
"""

from __future__ import annotations

import ast
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Final

FINAL_FLAGS: Final = "flags.Pipeline_Final"
APPLYCAL: Final = "applycal("


def _members(path: Path) -> list[str] | str:
    """The member names of a gzip tar archive, or why it cannot be opened as the restore opens it."""
    try:
        with tarfile.open(path, "r:gz") as archive:
            return [member.name for member in archive.getmembers()]
    except (tarfile.TarError, OSError, EOFError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return f"not a gzip tar archive the restore can open ({reason})"


def caltables_problems(path: Path, session: str, ms_names: Iterable[str]) -> tuple[list[str], frozenset[str]]:
    """Problems of a session's caltables archive, and the top-level entries the restore extracts."""
    members = _members(path)
    if isinstance(members, str):
        return [members], frozenset()
    names = list(ms_names)
    extracted = [member for member in members if member.startswith((*names, session))]
    problems = [
        f"holds no member starting with {ms} or {session}: the restore extracts no calibration table for it"
        for ms in names
        if not any(member.startswith((ms, session)) for member in members)
    ]
    return problems, frozenset(PurePosixPath(member).parts[0] for member in extracted if member)


def flagversions_problems(path: Path, ms: str) -> list[str]:
    """Problems of an EB's flagversions archive: it must hold ``<ms>.flagversions/flags.Pipeline_Final``."""
    members = _members(path)
    if isinstance(members, str):
        return [members]
    final = f"{ms}.flagversions/{FINAL_FLAGS}"
    if any(member == final or member.startswith(final + "/") for member in members):
        return []
    return [f"holds no {final}: the restore cannot restore the final flags of {ms}"]


def calapply_problems(path: Path, ms: str, gaintables: frozenset[str] | None) -> list[str]:
    """Problems of an EB's calapply file: ``applycal`` lines for ``ms`` whose tables the restore has.

    ``gaintables`` None: the session's caltables could not be read, so the tables are not compared.
    """
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [f"cannot be read as text ({exc})"]
    calls = [line.strip() for line in text.splitlines() if line.strip().startswith(APPLYCAL)]
    if not calls:
        return [f"holds no applycal(...) line: the restore applies no calibration to {ms}"]
    problems: list[str] = []
    for number, call in enumerate(calls, start=1):
        arguments = _arguments(call)
        if arguments is None:
            problems.append(f"applycal line {number} is not a call CASA can read: {call[:80]}")
            continue
        vis = arguments.get("vis")
        if not isinstance(vis, str) or PurePosixPath(vis).name != ms:
            problems.append(f"applycal line {number} is for vis={vis!r}, not {ms}")
        if gaintables is not None:
            problems.extend(
                f"applycal line {number} applies {table}, which the session's caltables do not hold"
                for table in _tables(arguments.get("gaintable"))
                if table not in gaintables
            )
    return problems


def _arguments(call: str) -> dict[str, object] | None:
    """The keyword arguments of one ``applycal(...)`` line as Python literals; None when it is not one."""
    try:
        expression = ast.parse(call, mode="eval").body
        if not isinstance(expression, ast.Call):
            return None
        return {
            keyword.arg: ast.literal_eval(keyword.value) for keyword in expression.keywords if keyword.arg
        }
    except (SyntaxError, ValueError):
        return None


def _tables(value: object) -> list[str]:
    tables = [value] if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else []
    return [PurePosixPath(table).name for table in tables if isinstance(table, str) and table]

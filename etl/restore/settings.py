"""``[restore]``: the CASA releases installed at the site, which restores may run.

``[restore.casa]`` maps a CASA version (``6.5.4-9`` and ``6.5.4.9`` are one) to its installation:
``path`` (whose ``bin/casa`` is run), ``pipeline`` (it carries the ALMA pipeline) and ``mpi`` (its
``bin/mpicasa`` runs MPI CASA).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

VERSION: Final = re.compile(r"[0-9]+([.-][0-9]+)*")
ENTRY_KEYS: Final = ("path", "pipeline", "mpi")


@dataclass(frozen=True)
class CasaInstallation:
    """One CASA release installed at the site: ``<path>/bin/casa`` runs it."""

    version: str
    path: Path
    pipeline: bool = False  # carries the ALMA pipeline
    mpi: bool = False  # has bin/mpicasa

    @property
    def casa(self) -> Path:
        return self.path / "bin" / "casa"

    @property
    def mpicasa(self) -> Path:
        return self.path / "bin" / "mpicasa"


@dataclass(frozen=True)
class RestoreSettings:
    casa: tuple[CasaInstallation, ...] = field(default=())


def read_restore(section: Any, problems: list[str]) -> RestoreSettings:
    """``[restore]`` as configured; each problem is appended to ``problems``, one line each."""
    table = section.get("casa", {}) if isinstance(section, Mapping) else None
    if not isinstance(table, Mapping):
        problems.append(f"restore.casa: expected a table of CASA versions, got {table!r}")
        return RestoreSettings()
    installations = [
        installation for version, entry in table.items()
        if (installation := _installation(str(version), entry, problems)) is not None
    ]
    return RestoreSettings(tuple(installations))


def _installation(version: str, entry: Any, problems: list[str]) -> CasaInstallation | None:
    where = f"restore.casa.{version!r}"
    if not VERSION.fullmatch(version):
        problems.append(f"{where}: not a CASA version; expected e.g. \"6.5.4-9\" or \"4.7.0\"")
        return None
    if not isinstance(entry, Mapping):
        problems.append(f"{where}: expected {{ path = \"/opt/casa-{version}\", pipeline = true }}")
        return None
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(ENTRY_KEYS)})")
    path = entry.get("path")
    if not isinstance(path, str) or not path.strip():
        problems.append(f"{where}: path: expected the installation's directory, got {path!r}")
        return None
    flags = {key: entry.get(key, False) for key in ("pipeline", "mpi")}
    for key, value in flags.items():
        if not isinstance(value, bool):
            problems.append(f"{where}: {key}: expected true or false, got {value!r}")
    return CasaInstallation(
        version, Path(path.strip()).expanduser(), flags["pipeline"] is True, flags["mpi"] is True
    )

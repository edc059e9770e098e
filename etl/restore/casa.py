"""Which CASA a restore needs, and which of the site's installations ([restore.casa]) runs it.

Hand-run calibration scripts stop under any CASA but the one they were written for: a ``scriptforpi``
restore needs exactly that version (with the pipeline when the calibration began with it). A pipeline
restore needs a pipeline release that has the restore task and the features the record uses, no older
than the calibration's own: the calibration's release when the site has it, else the oldest one that
qualifies. It runs MPI CASA (``mpicasa``) when the calibration did and the installation has it; a
restore yields a plain MS either way (``restoredata`` imports with ``createmms='false'``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from etl.restore.kinds import PIPELINE_KINDS, SCRIPTFORPI
from etl.restore.settings import CasaInstallation

# The oldest CASA whose pipeline has hifa_restoredata / hsd_restoredata (pipeline of late 2016).
RESTORE_TASK_CASA: Final = "4.7.0"
# The oldest CASA whose pipeline knows hsd_restoredata's hm_rasterscan (pipeline 2022.2).
RASTERSCAN_CASA: Final = "6.4.1"


@dataclass(frozen=True)
class RestoreFacts:
    """What the mirror knows of a MOUS's calibration that the choice depends on (``mous_restore``)."""

    restore_kind: str
    calibration_kind: str | None
    casa_version: str | None  # the calibration's, from its pipeline manifest
    mpi_servers: int | None
    hm_rasterscan: str | None
    script_casa_versions: tuple[str, ...] = ()  # what the hand-run scripts demand

    @classmethod
    def from_row(cls, row: Any) -> RestoreFacts:
        return cls(
            row["restore_kind"], row["calibration_kind"], row["casa_version"], row["mpi_servers"],
            row["hm_rasterscan"], tuple(row["script_casa_versions"] or ()),
        )


@dataclass(frozen=True)
class CasaChoice:
    """The CASA a restore needs, and the installation chosen for it (None: the site lacks one)."""

    needed: str | None  # one line: "exactly 4.7.0 with the pipeline", "6.5.4.9 or newer, with the pipeline"
    chosen: CasaInstallation | None = None
    how: str | None = None  # exact, newer (a qualifying newer release), or None
    mpi: bool = False
    to_install: str | None = None  # the version to install when none qualifies
    problem: str | None = None  # why nothing can be chosen (no version known, scripts disagree)

    @property
    def installed(self) -> bool:
        return self.chosen is not None

    def summary(self) -> str:
        """One line for a report: what is needed and what the site runs it with."""
        if self.needed is None:
            return ""
        if self.chosen is not None:
            mode = " (MPI)" if self.mpi else ""
            return f"CASA {self.chosen.version}{mode} ({self.how})"
        if self.to_install is not None:
            return f"missing: install CASA {self.to_install}"
        return f"missing: {self.problem}"

    def to_json(self) -> dict[str, Any]:
        return {
            "needed": self.needed,
            "chosen": None if self.chosen is None else {
                "version": self.chosen.version, "path": str(self.chosen.path),
                "pipeline": self.chosen.pipeline, "mpi": self.mpi, "how": self.how,
            },
            "installed": self.installed,
            "to_install": self.to_install,
            "problem": self.problem,
        }


def version_key(version: str) -> tuple[int, ...]:
    """``6.5.4-9`` and ``6.5.4.9`` → (6, 5, 4, 9)."""
    # Imported here: etl.report's package imports the restorable report, which imports this module.
    from etl.report.provenance import same_casa_form

    return tuple(int(part) for part in re.findall(r"[0-9]+", same_casa_form(version)))


def same_release(installed: str, wanted: str) -> bool:
    """Whether ``installed`` is ``wanted``, or a build of it (``4.7.0`` is matched by ``4.7.0-1``)."""
    have, want = version_key(installed), version_key(wanted)
    return bool(want) and have[: len(want)] == want


def choose_casa(facts: RestoreFacts, site: Sequence[CasaInstallation]) -> CasaChoice:
    """The CASA ``facts``' restore needs and the site's installation for it, by the module's policy."""
    if facts.restore_kind == SCRIPTFORPI:
        return _exact_for_scripts(facts, site)
    if facts.restore_kind in PIPELINE_KINDS:
        return _pipeline(facts, site)
    return CasaChoice(needed=None)


def _exact_for_scripts(facts: RestoreFacts, site: Sequence[CasaInstallation]) -> CasaChoice:
    with_pipeline = facts.calibration_kind == "pipeline_then_manual"
    versions = facts.script_casa_versions or ((facts.casa_version,) if facts.casa_version else ())
    suffix = " with the pipeline" if with_pipeline else ""
    if not versions:
        return CasaChoice(
            needed="the calibration scripts' CASA", problem="no CASA version is known (the calibration "
            "scripts are not fetched yet, or name none): read it from the scripts' sys.exit line",
        )
    if len(versions) > 1:
        return CasaChoice(
            needed=f"one of {', '.join(versions)}{suffix}",
            problem=f"the calibration scripts demand different CASA versions ({', '.join(versions)})",
        )
    wanted = versions[0]
    candidates = [
        casa for casa in site
        if same_release(casa.version, wanted) and (casa.pipeline or not with_pipeline)
    ]
    needed = f"exactly {wanted}{suffix}"
    if not candidates:
        return CasaChoice(needed=needed, to_install=wanted + suffix)
    chosen = _prefer_mode(candidates, facts)
    return CasaChoice(needed, chosen, "exact", _runs_mpi(chosen, facts))


def _pipeline(facts: RestoreFacts, site: Sequence[CasaInstallation]) -> CasaChoice:
    floor = [RESTORE_TASK_CASA]
    if facts.hm_rasterscan:
        floor.append(RASTERSCAN_CASA)
    if facts.casa_version:
        floor.append(facts.casa_version)
    minimum = max(floor, key=version_key)
    needed = f"{minimum} or newer, with the pipeline"
    pipelines = [casa for casa in site if casa.pipeline and version_key(casa.version) >= version_key(minimum)]
    own = [casa for casa in pipelines if facts.casa_version and _same(casa.version, facts.casa_version)]
    if own:
        chosen = _prefer_mode(own, facts)
        return CasaChoice(needed, chosen, "exact", _runs_mpi(chosen, facts))
    newer = sorted(pipelines, key=lambda casa: version_key(casa.version))
    if not newer:
        return CasaChoice(needed=needed, to_install=f"{minimum} with the pipeline")
    oldest = [casa for casa in newer if version_key(casa.version) == version_key(newer[0].version)]
    chosen = _prefer_mode(oldest, facts)
    return CasaChoice(needed, chosen, "newer", _runs_mpi(chosen, facts))


def _same(installed: str, wanted: str) -> bool:
    return version_key(installed) == version_key(wanted)


def _prefer_mode(candidates: Sequence[CasaInstallation], facts: RestoreFacts) -> CasaInstallation:
    """Among installations of one release: MPI when the calibration ran MPI, serial otherwise."""
    wants_mpi = (facts.mpi_servers or 0) > 0
    matching = [casa for casa in candidates if casa.mpi == wants_mpi]
    return (matching or list(candidates))[0]


def _runs_mpi(chosen: CasaInstallation, facts: RestoreFacts) -> bool:
    return chosen.mpi and (facts.mpi_servers or 0) > 0

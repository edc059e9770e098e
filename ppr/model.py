"""What a restore request is made of, as read from the mirror: plain immutable values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

ArrayFamily = Literal["12m", "7m", "TP"]


@dataclass(frozen=True)
class Session:
    """One SESSION_n of the restore mapping: its QA0 Pass EBs in observation order; () when empty."""

    number: int
    eb_uids: tuple[str, ...]


@dataclass(frozen=True)
class ProductFile:
    """An archived product file of the MOUS that a restore needs in ``products/``."""

    archived_name: str
    kind: str  # caltables, calapply, flagversions, manifest (the kinds a restore fetches)
    session_number: int | None
    size_bytes: int | None
    # The name the calibration's pipeline manifest gives it: what the restore opens in products/.
    restore_name: str | None = None


@dataclass(frozen=True)
class ArchivedRecord:
    """The archive's record of the MOUS's calibration, as the sync read it (``calibration_record``)."""

    state: str  # agrees, disagrees, unavailable, malformed
    restore_task: str | None  # as the restore script calls it (hif_restoredata in older scripts)
    ocorr_mode: str | None
    hm_rasterscan: str | None
    casa_version: str | None
    pipeline_version: str | None
    mpi_servers: int | None
    manifest_file: str | None
    restore_script_file: str | None
    request_file: str | None
    manifest_state: str | None = None  # parsed, malformed, unavailable; None: none archived


@dataclass(frozen=True)
class Delivery:
    """What a scriptforpi restore's delivery tree needs beyond the PPR's facts (``mous_restore``)."""

    scriptforpi_file: str  # the archived scriptForPI.py, run in script/
    calibration_kind: str  # manual, or pipeline_then_manual (CASA then starts with the pipeline)
    casa_version: str | None  # the pipeline calibration's, from its manifest
    pipeline_version: str | None
    script_casa_versions: tuple[str, ...]  # what the hand-run scripts demand
    # Every archived file of the MOUS: the delivery tree takes its scripts and calibration products.
    files: tuple[ProductFile, ...] = ()


@dataclass(frozen=True)
class RestoreRequest:
    """Everything a restore PPR and its directory need for one member OUS."""

    mous_uid: str
    project_code: str
    project_title: str | None
    pi_name: str | None
    obs_project_uid: str
    ous_part_id: str
    project_status_uid: str
    sous_uid: str
    gous_uid: str
    sb_uid: str
    sb_status_uid: str
    sb_title: str | None
    array: ArrayFamily
    sessions: tuple[Session, ...]
    products: tuple[ProductFile, ...]
    release_date: datetime | None = None
    record: ArchivedRecord | None = None
    # Whose pipeline manifest goes into products/: the archive's, or one written from the mirror
    # (``almamirror``, ppr/pipeline_manifest.py) when the archive has no usable one.
    manifest_source: str | None = None
    # Restore kind pipeline_script: the archived restore script (name in working/, text), run instead
    # of the PPR because it has steps a PPR cannot carry.
    restore_script: tuple[str, str] | None = None
    # Restore kind scriptforpi: the delivery tree its scriptForPI.py runs in (ppr/delivery.py).
    delivery: Delivery | None = None

    @property
    def pass_eb_uids(self) -> tuple[str, ...]:
        """Every EB the restore processes, session by session, in observation order."""
        return tuple(uid for session in self.sessions for uid in session.eb_uids)

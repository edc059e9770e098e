"""The real calibration's files as ``etl/demo/real_restore/`` keeps them (etl/demo/real_mous.py says
what they are): where they are, the real MOUS's and EBs' UIDs, and the ASDMs' unpacking.

Apart from the MOUS's plan so that the demo's ASDM exporter, one process per EB, loads none of the
archive generator.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path
from typing import Final

from etl.archive_names import disk_name

REAL_RESTORE: Final = Path(__file__).with_name("real_restore")
REAL_PRODUCTS: Final = REAL_RESTORE / "products"
REAL_ASDMS: Final = REAL_RESTORE / "asdm"
REAL_MOUS: Final = "uid://A001/Xfe00/X10"
REAL_PROJECT_CODE: Final = "2099.1.00001.S"
REAL_EBS: Final = ("uid://A002/Xfe0001/X1", "uid://A002/Xfe0002/X2")


def real_asdm_archive(eb_uid: str) -> Path | None:
    """The packaged ASDM of a real EB (``<disk name>.tgz``), or None for every other EB."""
    path = REAL_ASDMS / f"{disk_name(eb_uid.strip())}.tgz"
    return path if eb_uid.strip() in REAL_EBS and path.is_file() else None


def unpack_real_asdm(archive: Path, disk_name: str, into: Path) -> Path:
    """Unpack a real ASDM archive into ``into/<disk_name>`` (it holds that one directory)."""
    with tarfile.open(archive, "r:gz") as packed:
        if any(Path(name).parts[0] != disk_name for name in packed.getnames()):
            raise ValueError(f"{archive.name} holds more than {disk_name}/")
        packed.extractall(into, filter="data")
    target = into / disk_name
    if not target.is_dir():  # pragma: no cover - the archive holds it, checked above
        shutil.rmtree(into, ignore_errors=True)
        raise ValueError(f"{archive.name} did not unpack into {disk_name}/")
    return target

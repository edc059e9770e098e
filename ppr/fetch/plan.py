"""What a request directory's ``fetch-manifest.json`` asks to be fetched, checked before anything runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from etl.restore.spool import MANIFEST_FILE
from ppr.delivery import ASDM_SUFFIX, CALIBRATION, RAW, SCRIPT
from ppr.delivery import DIRECTORIES as DELIVERY_DIRECTORIES
from ppr.delivery import LAYOUT as DELIVERY
from ppr.errors import NotARequestDirectory
from ppr.layout import PRODUCTS, RAWDATA, WORKING

# Version 1 named products by archived name and ASDMs by EB UID only; both still read.
MANIFEST_VERSIONS = (1, 2)
PIPELINE = "pipeline"
# Per layout: where products go, where ASDMs go and the suffix of their names, every directory it has.
# "pipeline" is the PPR's request directory, "delivery" an ALMA delivery tree for scriptForPI.py.
LAYOUTS: dict[str, tuple[tuple[str, ...], str, str, tuple[str, ...]]] = {
    PIPELINE: ((PRODUCTS,), RAWDATA, "", (RAWDATA, WORKING, PRODUCTS)),
    DELIVERY: ((SCRIPT, CALIBRATION), RAW, ASDM_SUFFIX, DELIVERY_DIRECTORIES),
}

@dataclass(frozen=True)
class ProductItem:
    """One product: its NGAS file id, where it goes (relative to the request directory), its size."""

    ngas_file_id: str
    target: str
    size: int | None


@dataclass(frozen=True)
class AsdmItem:
    """One EB's raw data, exported by the ASDM command into ``rawdata/<disk name>``."""

    eb_uid: str
    disk_name: str
    target: str


@dataclass(frozen=True)
class FetchPlan:
    directory: Path
    mous_uid: str
    products: tuple[ProductItem, ...]
    asdms: tuple[AsdmItem, ...]
    layout: str = PIPELINE

    @property
    def directories(self) -> tuple[str, ...]:
        """The directories of the request, which the fetch writes into (never through a link)."""
        return LAYOUTS[self.layout][3]

    @property
    def product_bytes(self) -> int:
        return sum(item.size or 0 for item in self.products)


def read_plan(directory: Path) -> FetchPlan:
    """The manifest of ``directory``; ``NotARequestDirectory`` (exit 2) when there is none or it is wrong."""
    if not directory.is_dir():
        raise NotARequestDirectory(directory, "no such directory")
    path = directory / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise NotARequestDirectory(directory, f"it has no {MANIFEST_FILE}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotARequestDirectory(directory, f"{MANIFEST_FILE} cannot be read ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("manifest_version") not in MANIFEST_VERSIONS:
        raise NotARequestDirectory(
            directory, f"{MANIFEST_FILE} is not a fetch manifest of version "
            f"{' or '.join(map(str, MANIFEST_VERSIONS))}",
        )
    layout = manifest.get("layout", PIPELINE)
    if layout not in LAYOUTS:
        raise NotARequestDirectory(
            directory, f"{MANIFEST_FILE} has the layout {layout!r}, not one of {', '.join(LAYOUTS)}"
        )
    products_in, asdms_in, asdm_suffix, _all = LAYOUTS[layout]
    try:
        products = tuple(_product(entry, products_in) for entry in manifest["products"])
        asdms = tuple(_asdm(entry, asdms_in, asdm_suffix) for entry in manifest["asdms"])
        mous_uid = str(manifest["mous_uid"])
    except (KeyError, TypeError, ValueError) as exc:
        raise NotARequestDirectory(directory, f"{MANIFEST_FILE} is malformed ({exc})") from None
    return FetchPlan(directory, mous_uid, products, asdms, layout)


def _product(entry: dict[str, Any], directories: tuple[str, ...]) -> ProductItem:
    source = entry.get("source")
    file_id = source.get("ngas_file_id") if isinstance(source, dict) else entry["archived_name"]
    size = entry.get("size_bytes")
    target = _inside(entry["target"], directories)
    return ProductItem(str(file_id), target, None if size is None else int(size))


def _asdm(entry: dict[str, Any], directory: str, suffix: str) -> AsdmItem:
    disk_name = str(entry["disk_name"])
    if "/" in disk_name or disk_name in {"", ".", ".."}:
        raise ValueError(f"ASDM disk name {disk_name!r} is not a plain name")
    target = _inside(entry["target"], (directory,))
    if PurePosixPath(target).name != disk_name + suffix:
        raise ValueError(f"ASDM target {target} is not {directory}/{disk_name}{suffix}")
    return AsdmItem(str(entry["eb_uid"]), disk_name, target)


def _inside(target: Any, directories: tuple[str, ...]) -> str:
    """A target path must be a plain file name inside one of ``directories``: nothing is written elsewhere."""
    path = PurePosixPath(str(target))
    if len(path.parts) != 2 or path.parts[0] not in directories or path.name in {"", ".", ".."}:
        inside = " or ".join(f"{directory}/" for directory in directories)
        raise ValueError(f"target {target!r} is not a plain name inside {inside}")
    return str(path)

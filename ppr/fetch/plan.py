"""What a request directory's ``fetch-manifest.json`` asks to be fetched, checked before anything runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ppr.errors import NotARequestDirectory
from ppr.layout import MANIFEST_FILE, PRODUCTS, RAWDATA

# Version 1 named products by archived name and ASDMs by EB UID only; both still read.
MANIFEST_VERSIONS = (1, 2)


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
    try:
        products = tuple(_product(entry) for entry in manifest["products"])
        asdms = tuple(_asdm(entry) for entry in manifest["asdms"])
        mous_uid = str(manifest["mous_uid"])
    except (KeyError, TypeError, ValueError) as exc:
        raise NotARequestDirectory(directory, f"{MANIFEST_FILE} is malformed ({exc})") from None
    return FetchPlan(directory, mous_uid, products, asdms)


def _product(entry: dict[str, Any]) -> ProductItem:
    source = entry.get("source")
    file_id = source.get("ngas_file_id") if isinstance(source, dict) else entry["archived_name"]
    size = entry.get("size_bytes")
    return ProductItem(str(file_id), _inside(entry["target"], PRODUCTS), None if size is None else int(size))


def _asdm(entry: dict[str, Any]) -> AsdmItem:
    disk_name = str(entry["disk_name"])
    target = _inside(entry["target"], RAWDATA)
    if PurePosixPath(target).name != disk_name:
        raise ValueError(f"ASDM target {target} is not {RAWDATA}/{disk_name}")
    return AsdmItem(str(entry["eb_uid"]), disk_name, target)


def _inside(target: Any, directory: str) -> str:
    """A target path must be a plain file name inside ``directory``: nothing is written elsewhere."""
    path = PurePosixPath(str(target))
    if len(path.parts) != 2 or path.parts[0] != directory or path.name in {"", ".", ".."}:
        raise ValueError(f"target {target!r} is not a plain name inside {directory}/")
    return str(path)

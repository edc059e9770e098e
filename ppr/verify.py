"""The preflight of a request directory: will ``hifa_restoredata``/``hsd_restoredata`` find all it opens?

``verify_request`` reads a request directory the way the restore opens it (shared/archive/
CALIBRATION-RECORD.md §6), without CASA and without the mirror: the PPR in ``working/`` as the
pipeline's reader reads it; the pipeline manifest the restore picks in ``products/``; every file that
manifest names for the PPR's sessions and EBs, present with the size and checksum the fetch recorded;
each caltables archive, flagversions archive and calapply file holding what the restore extracts or
reads for its measurement sets (``ppr.verify_content``); each ASDM in ``rawdata/``. Every problem is
one line; none means the pipeline will find everything it opens.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Final

from etl.archive_names import disk_name
from etl.calibration.errors import MalformedDocument
from etl.calibration.manifest import Manifest, parse_manifest
from etl.calibration.request import RequestReading, read_request
from etl.calibration.xml import local_name, parse_xml
from etl.logs import fields
from etl.ngas.checksums import UnknownChecksum, checksum_of_file, expected_checksum
from etl.restore.spool import MANIFEST_FILE
from ppr.delivery import LAYOUT as DELIVERY
from ppr.errors import InvalidPpr, NotARequestDirectory
from ppr.fetch.record import EXPORTED, RECORD_FILE
from ppr.layout import PRODUCTS, RAWDATA, WORKING
from ppr.validate import validated_ppr
from ppr.verify_content import calapply_problems, caltables_problems, flagversions_problems

log = logging.getLogger(__name__)

# The restore copies products/*pipeline_manifest.xml to rawdata/ and reads the first by name; with
# several, the first of those matching the narrower pattern, when that pattern leaves out some.
MANIFEST_PATTERN: Final = "*pipeline_manifest.xml"
CALIBRATION_MANIFEST_PATTERN: Final = "*cal*pipeline_manifest.xml"
MS_SUFFIX: Final = ".ms"
ASDM_DOCUMENT: Final = "ASDM.xml"


@dataclass(frozen=True)
class Problem:
    """One thing the restore would not find or could not open; ``path`` relative to the directory."""

    check: str  # layout, ppr, manifest, product, caltables, flagversions, calapply, asdm
    path: str
    text: str

    def line(self) -> str:
        return f"{self.path}: {self.text}"


@dataclass(frozen=True)
class Verification:
    """What the preflight found in one request directory."""

    directory: Path
    ppr: str | None  # the PPR read, relative to the directory
    manifest: str | None  # the pipeline manifest the restore reads, relative to the directory
    files_checked: int
    asdms_checked: bool
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory), "ok": self.ok, "ppr": self.ppr, "manifest": self.manifest,
            "files_checked": self.files_checked, "asdms_checked": self.asdms_checked,
            "problems": [{"check": p.check, "path": p.path, "text": p.text} for p in self.problems],
        }


@dataclass
class _Found:
    """Problems and counts gathered while the checks run."""

    problems: list[Problem] = field(default_factory=list)
    files_checked: int = 0

    def add(self, check: str, path: str, text: str) -> None:
        self.problems.append(Problem(check, path, text))


def verify_request(directory: Path, asdms: bool = True, just_verified: Collection[str] = ()) -> Verification:
    """Check ``directory`` as the restore opens it; ``NotARequestDirectory`` when it is none at all.

    ``asdms`` False (a ``fetch --products-only``): ``rawdata/`` is not checked. ``just_verified``: the
    products (targets) whose checksum the caller computed over the bytes it wrote, moments ago (the fetch
    that downloaded them): while their size and modification time are the record's, they are not read
    a second time.
    """
    if not directory.is_dir():
        raise NotARequestDirectory(directory, "no such directory")
    plan = _fetch_plan(directory)
    if plan.get("layout") == DELIVERY:
        # Imported here: the delivery's preflight builds on this module's checks.
        from ppr.verify_delivery import verify_delivery

        return verify_delivery(directory, plan, asdms, frozenset(just_verified))
    if not any((directory / name).is_dir() for name in (RAWDATA, WORKING, PRODUCTS)):
        raise NotARequestDirectory(directory, f"it has none of {RAWDATA}/, {WORKING}/, {PRODUCTS}/")
    found = _Found()
    for name in (RAWDATA, WORKING, PRODUCTS):
        if not (directory / name).is_dir():
            found.add("layout", f"{name}/", "missing: the restore runs in working/ and reads rawdata/ "
                      "and products/")
    ppr_path, reading = _read_ppr(directory, plan, found)
    manifest_path, manifest = _read_manifest(directory, found)
    _verify_fetched(directory, plan, found, frozenset(just_verified))
    if reading is not None and manifest is not None and manifest_path is not None:
        _verify_restore_files(directory, reading, (manifest_path, manifest), found)
    if reading is not None and asdms:
        _verify_asdms(directory, reading, found)
    log.info("ppr.verify %s", fields(directory=directory, problems=len(found.problems),
                                      files=found.files_checked, manifest=manifest_path))
    return Verification(
        directory, ppr_path, manifest_path, found.files_checked, asdms, tuple(found.problems)
    )


# --- the PPR ------------------------------------------------------------------------------------


def _fetch_plan(directory: Path) -> dict[str, Any]:
    """``fetch-manifest.json`` as JSON, or {} when there is none (a directory laid out by hand)."""
    try:
        loaded = json.loads((directory / MANIFEST_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _read_ppr(
    directory: Path, plan: Mapping[str, Any], found: _Found
) -> tuple[str | None, RequestReading | None]:
    """The PPR the request names (or the one PPR_*.xml in working/), read as the pipeline reads it."""
    named = plan.get("ppr")
    if isinstance(named, str) and (PurePosixPath(named).is_absolute() or ".." in PurePosixPath(named).parts):
        found.add("ppr", MANIFEST_FILE, f"names the PPR {named!r}, a path outside the request directory")
        return None, None
    if isinstance(named, str):
        candidates = [directory / named]
    else:
        candidates = sorted((directory / WORKING).glob("PPR_*.xml"))
    if len(candidates) != 1 or not candidates[0].is_file():
        where = named if isinstance(named, str) else f"{WORKING}/PPR_*.xml"
        found.add("ppr", where, "missing: the restore has no PPR to run" if len(candidates) < 2
                  else f"{len(candidates)} PPRs; the request directory should hold one")
        return None, None
    path = candidates[0]
    relative = path.relative_to(directory).as_posix()
    content = path.read_bytes()
    try:
        reading = read_request(content)
    except MalformedDocument as exc:
        found.add("ppr", relative, f"the pipeline cannot read it: {exc}")
        return relative, None
    for note in reading.notes:
        found.add("ppr", relative, f"read otherwise than written: {note.text}")
    try:
        document = validated_ppr(content)
    except InvalidPpr as exc:
        for problem in exc.problems:
            found.add("ppr", relative, problem)
        return relative, reading
    relative_path = document.findtext(".//SchedBlockIdentifier/RelativePath")
    _check_relative_path(directory, relative, relative_path, found)
    return relative, reading


def _check_relative_path(directory: Path, ppr: str, relative_path: str | None, found: _Found) -> None:
    # The pipeline runs in $SCIPIPE_ROOTDIR/<RelativePath>/working: this directory must end in it.
    parts = PurePosixPath(relative_path or "").parts
    if not parts or directory.resolve().parts[-len(parts):] != parts:
        found.add("ppr", ppr, f"RelativePath {relative_path!r} is not the end of this directory's path "
                  f"({directory.resolve()}): no $SCIPIPE_ROOTDIR makes the pipeline run here")


# --- the manifest -------------------------------------------------------------------------------


def restore_manifest(products: Path) -> Path | None:
    """The manifest the restore reads among ``products``' files, as ``_do_get_manifest`` chooses it."""
    names = sorted(path.name for path in products.glob(MANIFEST_PATTERN) if path.is_file())
    if len(names) > 1:
        narrower = [name for name in names if fnmatch.fnmatchcase(name, CALIBRATION_MANIFEST_PATTERN)]
        if 0 < len(narrower) < len(names):
            names = narrower
    return products / names[0] if names else None


def _read_manifest(directory: Path, found: _Found) -> tuple[str | None, Manifest | None]:
    path = restore_manifest(directory / PRODUCTS)
    if path is None:
        found.add("manifest", f"{PRODUCTS}/{MANIFEST_PATTERN}", "missing: without a pipeline manifest the "
                  "restore stops at its first step (AttributeError … get_ous)")
        return None, None
    relative = path.relative_to(directory).as_posix()
    content = path.read_bytes()
    try:
        manifest = parse_manifest(content)
        _pipeline_ous_problems(content)
    except MalformedDocument as exc:
        found.add("manifest", relative, f"the restore cannot read it: {exc}")
        return relative, None
    return relative, manifest


def _pipeline_ous_problems(content: bytes) -> None:
    """What ``PipelineManifest`` itself trips over beyond ``parse_manifest``: it takes the root's first
    child as the OUS, and sums ``num_mpi_servers`` over ``execution_environment/node``."""
    root = parse_xml(content, "the manifest")
    elements = [child for child in root if isinstance(child.tag, str)]
    if not elements or local_name(elements[0]) != "ous":
        raise MalformedDocument("its root's first element is not <ous>, which the restore takes as the OUS")
    for environment in elements[0].iterfind("execution_environment"):
        for node in environment.iterfind("node"):
            try:
                int(node.get("num_mpi_servers") or "")
            except ValueError:
                raise MalformedDocument(
                    "an execution_environment node has no whole-number num_mpi_servers, which the restore "
                    "sums (TypeError/ValueError after the calibration is applied)"
                ) from None


# --- the files the manifest names ------------------------------------------------------------------


def _verify_restore_files(
    directory: Path, reading: RequestReading, read: tuple[str, Manifest], found: _Found,
    products_in: str = PRODUCTS,
) -> None:
    where, manifest = read
    products = directory / products_in
    by_number = {session.number: session for session in manifest.sessions}
    asdms = {asdm.eb: (session.number, asdm) for session in manifest.sessions for asdm in session.asdms}
    for number, eb_uids in sorted(reading.sessions.items()):
        ms_names = [disk_name(uid).split(".", 1)[0] + MS_SUFFIX for uid in eb_uids]
        if not ms_names:
            continue  # an empty session: the restore imports nothing for it
        label = f"session_{number}"
        session = by_number.get(number)
        if session is None or session.caltables is None:
            found.add("manifest", where, f"lacks {label}'s caltables, which the PPR's SESSION_{number} "
                      f"needs: the restore fails with KeyError('{label}')")
            gaintables: frozenset[str] | None = None
        else:
            gaintables = _caltables(products, where, session.caltables, (label, ms_names), found)
        for ms in ms_names:
            _verify_eb(products, where, (ms, number), asdms, gaintables, found)


def _caltables(
    products: Path, where: str, name: str, session: tuple[str, list[str]], found: _Found
) -> frozenset[str] | None:
    label, ms_names = session
    path = _product(products, where, name, f"{label}'s caltables", found)
    if path is None:
        return None
    problems, tables = caltables_problems(path, label, ms_names)
    for problem in problems:
        found.add("caltables", _relative(products, path), problem)
    return tables


def _verify_eb(
    products: Path,
    where: str,
    eb: tuple[str, int],
    asdms: Mapping[str, tuple[int, Any]],
    gaintables: frozenset[str] | None,
    found: _Found,
) -> None:
    """One EB of the PPR's SESSION_``number``: its manifest entry, flagversions and calapply."""
    ms, number = eb
    entry = asdms.get(ms.removesuffix(MS_SUFFIX))
    if entry is None:
        found.add("manifest", where, f"the manifest has no <asdm name=\"{ms}\">, which the PPR's "
                  f"SESSION_{number} restores: the restore fails looking up its flags (KeyError)")
        return
    manifest_session, asdm = entry
    if manifest_session != number:
        found.add("manifest", where, f"{ms} is in session_{manifest_session} of the manifest but in "
                  f"SESSION_{number} of the PPR: the restore looks for its tables in session_{number}'s "
                  "caltables")
    for what, name in (("finalflags", asdm.flagversions), ("applycmds", asdm.calapply)):
        if name is None:
            found.add("manifest", where, f"<asdm name=\"{ms}\"> has no {what}: the restore fails (KeyError)")
            continue
        path = _product(products, where, name, f"{ms}'s {what}", found)
        if path is None:
            continue
        if what == "finalflags":
            problems = flagversions_problems(path, ms)
            check = "flagversions"
        else:
            problems = calapply_problems(path, ms, gaintables)
            check = "calapply"
        for problem in problems:
            found.add(check, _relative(products, path), problem)


def _product(products: Path, where: str, name: str, what: str, found: _Found) -> Path | None:
    # products/ in a request directory, calibration/ in a delivery tree (which the restore reads as it).
    if "/" in name or name in {"", ".", ".."}:
        found.add("manifest", where, f"{what} is named {name!r}, not a file name in {products.name}/")
        return None
    path = products / name
    if not path.is_file():
        found.add("product", f"{products.name}/{name}", f"missing: the manifest names it as {what}")
        return None
    found.files_checked += 1
    return path


def _relative(products: Path, path: Path) -> str:
    return f"{products.name}/{path.relative_to(products).as_posix()}"


# --- sizes and checksums of what the fetch brought -------------------------------------------------


def _verify_fetched(
    directory: Path, plan: Mapping[str, Any], found: _Found, just_verified: frozenset[str]
) -> None:
    """Every product is as the fetch verified it: the recorded size and checksum, the archive's size."""
    recorded = _record_products(directory)
    planned = {
        str(entry.get("target")): entry.get("size_bytes")
        for entry in plan.get("products") or () if isinstance(entry, dict)
    }
    for target in sorted(recorded.keys() | planned.keys()):
        path = directory / target
        if not path.is_file():
            found.add("product", target, "missing: the request lists it, run almamirror fetch")
            continue
        entry = recorded.get(target)
        if entry is None:
            found.add("product", target, f"not verified by a fetch (no entry in {RECORD_FILE}): run "
                      "almamirror fetch")
            continue
        for problem in _fetched_problems(path, entry, planned.get(target), target in just_verified):
            found.add("product", target, problem)


def _record_products(directory: Path) -> dict[str, dict[str, Any]]:
    try:
        loaded = json.loads((directory / RECORD_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    products = loaded.get("products") if isinstance(loaded, dict) else None
    if not isinstance(products, dict):
        return {}
    return {str(target): entry for target, entry in products.items() if isinstance(entry, dict)}


def _fetched_problems(
    path: Path, entry: Mapping[str, Any], archived_size: object, just_verified: bool
) -> Iterator[str]:
    stat = path.stat()
    size = stat.st_size
    if entry.get("size") != size:
        yield f"{size:,} bytes, but the fetch verified {entry.get('size')} bytes: changed since"
        return
    if isinstance(archived_size, int) and archived_size != size:
        yield f"{size:,} bytes, but the archive lists {archived_size:,} bytes"
    stored, plugin = entry.get("checksum"), entry.get("checksum_plugin")
    if stored is None or plugin is None or (just_verified and stat.st_mtime_ns == entry.get("mtime_ns")):
        return
    try:
        expected = expected_checksum(str(plugin), str(stored))
    except UnknownChecksum as exc:
        yield f"its recorded checksum cannot be checked: {exc}"
        return
    if not expected.matches(checksum_of_file(path, expected.algorithm)):
        yield (f"its checksum is not the {expected.stored} ({expected.plugin}) the fetch verified: "
               "changed since")


# --- the ASDMs ------------------------------------------------------------------------------------


def _verify_asdms(directory: Path, reading: RequestReading, found: _Found) -> None:
    exports = _record_asdms(directory)
    for uid in (uid for uids in reading.sessions.values() for uid in uids):
        disk = disk_name(uid).split(".", 1)[0]
        target = f"{RAWDATA}/{disk}"
        path = directory / target
        if not path.is_dir():
            found.add("asdm", target, f"missing: the restore imports EB {uid} from it (run almamirror fetch)")
        elif disk in exports and exports[disk] != EXPORTED:
            found.add("asdm", target, f"its export did not finish ({exports[disk]}): run almamirror fetch")
        elif not (path / ASDM_DOCUMENT).is_file():
            found.add("asdm", target, f"holds no {ASDM_DOCUMENT}: not an ASDM importasdm can read")


def _record_asdms(directory: Path) -> dict[str, str]:
    try:
        loaded = json.loads((directory / RECORD_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    asdms = loaded.get("asdms") if isinstance(loaded, dict) else None
    if not isinstance(asdms, dict):
        return {}
    return {str(name): str(entry.get("state")) for name, entry in asdms.items() if isinstance(entry, dict)}

"""The restore request directory the pipeline runs in, and the manifest of what to fetch into it.

``<base>/<relative path>/{rawdata,working,products}`` is what the pipeline expects under
``$SCIPIPE_ROOTDIR``; the PPR goes into ``working/`` (where the run starts) and ``fetch-manifest.json``
beside the three directories says which ASDMs and product files to fetch where.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from etl.archive_names import disk_name, restore_name
from etl.calibration.xml import safe_parser
from etl.restore.spool import MANIFEST_FILE
from etl.safe_files import make_directory, replace_file
from ppr.errors import (
    FetchAlreadyRunning,
    InvalidPpr,
    InvalidRelativePath,
    OutputExists,
    OutputNotADirectory,
    RequestBeingFetched,
)
from ppr.json_text import indented_json
from ppr.model import ProductFile, RestoreRequest, Session
from ppr.pipeline_manifest import WRITTEN as WRITTEN_MANIFEST
from ppr.pipeline_manifest import ManifestChoice, manifest_choice
from ppr.request_lock import request_lock
from ppr.restore_run import RESTORE_JSON, RUN_SCRIPT, pipeline_ppr_run, restore_json_bytes, run_script

if TYPE_CHECKING:
    from etl.restore.settings import CasaInstallation

RAWDATA = "rawdata"
WORKING = "working"
PRODUCTS = "products"
README_FILE = "README.txt"
MANIFEST_VERSION = 2
# Files a person or a batch system runs.
EXECUTABLES = frozenset({RUN_SCRIPT})
EXECUTABLE_MODE = 0o755
# How each entry is fetched (almamirror fetch): a product by its NGAS file id (ASA_PRODUCT_FILES'
# NGAS_FILE_ID), an ASDM by its EB UID through the site's export tool ([archive] asdm_command).
ASDM_VIA = "asdm_command"
PRODUCT_VIA = "ngas"
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# fdatasync where there is one (Linux): a new file's data and size, without its timestamps' own flush.
_flush = getattr(os, "fdatasync", os.fsync)


@dataclass(frozen=True)
class RequestFiles:
    """A request directory's checked content, ready to be written under ``target``."""

    target: Path
    ppr_name: str | None  # in working/; None for a delivery tree, which holds no PPR of almamirror's
    ppr_bytes: bytes
    manifest_bytes: bytes
    # Further files written with the PPR (relative path, bytes): README.txt, and products/'s pipeline
    # manifest when almamirror writes it.
    extra: tuple[tuple[str, bytes], ...] = ()
    # The directories the request holds: the pipeline's (rawdata, working, products) or a delivery's.
    directories: tuple[str, ...] = (RAWDATA, WORKING, PRODUCTS)


def build_request_directory(
    base_dir: Path,
    relative_path: str,
    ppr_bytes: bytes,
    request: RestoreRequest,
    force: bool = False,
    casa: Sequence[CasaInstallation] = (),
) -> Path:
    """Create ``base_dir/relative_path`` with the PPR and fetch manifest; return that directory.

    A non-empty existing directory is ``OutputExists`` unless ``force``, which replaces the PPR and the
    manifest only: fetched ASDMs in ``rawdata/``, fetched products and a restore's outputs in
    ``working/`` are never deleted. A new directory is filled under a temporary name and renamed into
    place, a replaced file is written beside its old self and renamed over it, so a crash never leaves
    a half-written PPR.
    """
    files = request_files(base_dir, relative_path, ppr_bytes, request, casa=casa)
    return write_request_directory(files, force)


def request_files(
    base_dir: Path,
    relative_path: str,
    ppr_bytes: bytes,
    request: RestoreRequest,
    parsed: etree._ElementTree | None = None,
    casa: Sequence[CasaInstallation] = (),
) -> RequestFiles:
    """The PPR and manifest of ``request``'s directory, once the PPR is checked to describe it, with
    restore.json and run-restore.sh running the CASA chosen among ``casa`` (the site's releases).

    ``parsed`` is ``ppr_bytes`` already parsed (as validation parses it), to spare a second parse.
    """
    target = base_dir.joinpath(*_relative_parts(relative_path))
    root = parsed.getroot() if parsed is not None else _parse(ppr_bytes)
    created = _checked_ppr(root, request, relative_path)
    choice = manifest_choice(request, product_names(request))
    manifest = fetch_manifest(request, relative_path, created)
    manifest["pipeline_manifest"] = choice.to_json()
    extra = [(README_FILE, readme(request, relative_path, created, choice))]
    if choice.content is not None and choice.file_name is not None:
        extra.append((f"{PRODUCTS}/{choice.file_name}", choice.content))
    if request.restore_script is not None:
        extra.append((f"{WORKING}/{_plain_name(request.restore_script[0], request)}",
                      request.restore_script[1].encode("utf-8")))
    run = pipeline_ppr_run(
        request, base_dir.absolute(), target.absolute(), WORKING, ppr_file_name(request.mous_uid), casa,
        created, manifest,
    )
    extra += [(RESTORE_JSON, restore_json_bytes(run)), (RUN_SCRIPT, run_script(run))]
    return RequestFiles(
        target, ppr_file_name(request.mous_uid), ppr_bytes, _manifest_bytes(manifest), tuple(extra)
    )


def readme(request: RestoreRequest, relative_path: str, created: str, choice: ManifestChoice) -> bytes:
    """README.txt: what the directory holds, and whose pipeline manifest it carries and why."""
    ppr = f"{WORKING}/{ppr_file_name(request.mous_uid)}"
    if choice.source == WRITTEN_MANIFEST:
        manifest = (f"{PRODUCTS}/{choice.file_name}: written by almamirror from the mirror, because "
                    f"{choice.why}.")
    else:
        manifest = f"{PRODUCTS}/{choice.file_name} (fetched): the archive's own, because {choice.why}."
    lines = [
        f"Restore request for MOUS {request.mous_uid} (project {request.project_code}), "
        f"written by almamirror at {created} UTC.",
        "",
        f"{ppr:<40} the restore PPR; the pipeline runs in {WORKING}/",
        f"{RAWDATA + '/':<40} each EB's ASDM, by almamirror fetch",
        f"{PRODUCTS + '/':<40} the calibration products, by almamirror fetch",
        f"{MANIFEST_FILE:<40} what almamirror fetch fetches where ({relative_path})",
        f"{RUN_SCRIPT:<40} runs the restore (by hand, sbatch or condor_submit); {RESTORE_JSON} says how",
        "",
        f"Pipeline manifest: {manifest}",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_request_directory(files: RequestFiles, force: bool = False) -> Path:
    """Write ``files`` as ``build_request_directory`` does; only file-system work, safe in a thread."""
    staged = stage_request_directory(files, force)
    return staged if isinstance(staged, Path) else staged.put_in_place()


@dataclass(frozen=True)
class StagedDirectory:
    """A request directory written under a hidden name beside its target, not yet renamed into place."""

    staging: Path
    target: Path
    replaces_empty_directory: bool
    flushed: bool  # every file on disk already; else the file system is flushed before the rename

    def put_in_place(self) -> Path:
        try:
            _move_into_place(self.staging, self.target, self.replaces_empty_directory)
        except BaseException:
            self.discard()
            raise
        return self.target

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def stage_request_directory(
    files: RequestFiles, force: bool = False, flush: bool = True
) -> StagedDirectory | Path:
    """Write ``files`` under a hidden name beside the target, each file flushed unless ``flush`` is False
    (the caller then flushes the file system before ``put_in_place``); safe in a thread.

    With ``force``, a target that holds something is refreshed in place and its path returned.
    """
    target = files.target
    state = _state(target)
    if state is _TargetState.NOT_A_DIRECTORY:
        raise OutputNotADirectory(target)
    if state is _TargetState.HOLDS_SOMETHING:
        if not force:
            raise OutputExists(target)
        _refresh(target, files)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _fresh_sibling(target, "partial")
    staging.mkdir()
    try:
        _fill(staging, files, flush)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return StagedDirectory(staging, target, state is _TargetState.EMPTY_DIRECTORY, flush)


class _TargetState(Enum):
    ABSENT = "absent"
    EMPTY_DIRECTORY = "empty directory"
    HOLDS_SOMETHING = "holds something"
    NOT_A_DIRECTORY = "not a directory"


def _state(target: Path) -> _TargetState:
    # One lstat for the common case, a directory not yet written; a symbolic link is never followed.
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return _TargetState.ABSENT
    if not stat.S_ISDIR(mode):
        return _TargetState.NOT_A_DIRECTORY
    with os.scandir(target) as entries:
        return _TargetState.HOLDS_SOMETHING if any(True for _ in entries) else _TargetState.EMPTY_DIRECTORY


def session_map_digest(sessions: Iterable[Session]) -> str:
    """SHA-256 of the session map in a canonical form: numbers ascending, EBs sorted within each.

    EB order inside a session does not matter to the pipeline, so it does not change the digest.
    """
    canonical = [
        [session.number, sorted(session.eb_uids)]
        for session in sorted(sessions, key=lambda session: session.number)
    ]
    text = json.dumps(canonical, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def ppr_file_name(mous_uid: str) -> str:
    """The PPR's file name in ``working/``: ``PPR_<mous disk name>.xml``."""
    return f"PPR_{disk_name(mous_uid)}.xml"


def fetch_manifest(request: RestoreRequest, relative_path: str, created: str) -> dict[str, Any]:
    """What to fetch where, relative to the request directory, as a JSON-ready mapping."""
    asdms = [
        {
            "eb_uid": eb_uid,
            "disk_name": disk_name(eb_uid),
            "session": session.number,
            "target": f"{RAWDATA}/{disk_name(eb_uid)}",
            "source": {"via": ASDM_VIA, "eb_uid": eb_uid},
        }
        for session in sorted(request.sessions, key=lambda s: s.number)
        for eb_uid in session.eb_uids
    ]
    products = _product_entries(request)
    known_sizes = [p.size_bytes for p in request.products if p.size_bytes is not None]
    return {
        "manifest_version": MANIFEST_VERSION,
        "mous_uid": request.mous_uid,
        "mous_disk_name": disk_name(request.mous_uid),
        "project_code": request.project_code,
        "relative_path": relative_path,
        "created_utc": created,
        "ppr": f"{WORKING}/{ppr_file_name(request.mous_uid)}",
        "session_map_sha256": session_map_digest(request.sessions),
        "asdms": asdms,
        "products": products,
        "totals": {
            "asdms": len(asdms),
            "products": len(products),
            "product_bytes": sum(known_sizes),
            "products_of_unknown_size": len(request.products) - len(known_sizes),
        },
    }


def product_names(request: RestoreRequest) -> dict[str, str]:
    """Each archived product's name in ``products/`` (checked: plain and unique)."""
    return {product.archived_name: name for name, product in _product_targets(request).items()}


def _product_entries(request: RestoreRequest) -> list[dict[str, Any]]:
    targets = _product_targets(request)
    return [
        {
            "archived_name": product.archived_name,
            "target": f"{PRODUCTS}/{name}",
            "size_bytes": product.size_bytes,
            "kind": product.kind,
            "session": product.session_number,
            "source": {"via": PRODUCT_VIA, "ngas_file_id": product.archived_name},
        }
        for name, product in sorted(targets.items())
    ]


def _product_targets(request: RestoreRequest) -> dict[str, ProductFile]:
    # The verdict refuses both cases (unsafe_product_name, product_name_clash): reaching one is a defect.
    targets: dict[str, ProductFile] = {}
    for product in request.products:
        # With a manifest, the restore opens exactly the names it lists, whatever the archive renamed.
        name = product.restore_name or restore_name(product.archived_name)
        if not is_plain_name(name):
            raise InvalidPpr(
                [f"archived product name {product.archived_name!r} is not a plain file name"],
                request.mous_uid,
            )
        if name in targets:
            # Two archived copies (e.g. member. and bare) would overwrite each other in products/.
            raise InvalidPpr(
                [f"{targets[name].archived_name} and {product.archived_name} both restore as {name}"],
                request.mous_uid,
            )
        targets[name] = product
    return targets


def is_plain_name(name: str) -> bool:
    """Whether ``name`` names a file in its directory, not a path or the directory itself."""
    return "/" not in name and name not in {"", ".", ".."}


def _plain_name(name: str, request: RestoreRequest) -> str:
    if not is_plain_name(name):
        problem = f"archived restore script name {name!r} is not a plain file name"
        raise InvalidPpr([problem], request.mous_uid)
    return name


def relative_path_problem(relative_path: str) -> str | None:
    """Why ``relative_path`` cannot be a PPR's RelativePath and the request directory, in plain words;
    None when it can. The directory may be replaced with --force, so it must never resolve to the base
    or above it; the pipeline cannot use a path with white space."""
    if not relative_path or relative_path.startswith("/"):
        return ("give a relative path, not an empty or absolute one "
                "(e.g. 2017.1.00895.S_restore/MOUS_uid___A001_X129e_Xb6)")
    if relative_path.split() != [relative_path]:  # split() breaks at exactly what isspace() calls space
        return "a path for the pipeline may not contain spaces, tabs or line breaks"
    if any(part in {"", ".", ".."} for part in relative_path.split("/")):
        return "no part of it may be empty, '.' or '..' (no '//' and no trailing '/')"
    return None


def _relative_parts(relative_path: str) -> tuple[str, ...]:
    problem = relative_path_problem(relative_path)
    if problem is not None:
        raise InvalidRelativePath(relative_path, problem)
    return tuple(relative_path.split("/"))


def _parse(ppr_bytes: bytes) -> etree._Element:
    return etree.fromstring(ppr_bytes, safe_parser())


def _checked_ppr(root: etree._Element, request: RestoreRequest, relative_path: str) -> str:
    """Check the PPR describes this request and directory; return its CreationTime.

    The PPR itself was validated once, where it was made (``ppr.service.render``).
    """
    in_ppr = {
        "MOUS": _reference(root, "OUSStatusRef"),
        "RelativePath": root.findtext(".//SchedBlockIdentifier/RelativePath"),
        "ASDMs": sorted(e.text or "" for e in root.iterfind(".//AsdmIdentifier/AsdmRef/ExecBlockId")),
    }
    expected = {
        "MOUS": request.mous_uid,
        "RelativePath": relative_path,
        "ASDMs": sorted(request.pass_eb_uids),
    }
    mismatches = [
        f"{key} is {in_ppr[key]} in the PPR but {value} for this request"
        for key, value in expected.items()
        if in_ppr[key] != value
    ]
    if mismatches:
        raise InvalidPpr(mismatches, request.mous_uid)
    return root.findtext("ProjectSummary/CreationTime") or ""


def _reference(root: etree._Element, tag: str) -> str | None:
    element = root.find(f"ProjectStructure/{tag}")
    return None if element is None else element.get("entityId")


def _fresh_sibling(target: Path, purpose: str) -> Path:
    # Hidden, unique and on the same file system as the target, so the final rename is atomic.
    return target.with_name(f".{target.name}.{purpose}-{secrets.token_hex(4)}")


def _fill(directory: Path, files: RequestFiles, flush: bool) -> None:
    # Everything is created relative to one descriptor of the fresh staging directory (openat, mkdirat):
    # no path is resolved again per file, and a bulk run spends its system time on the writes.
    staging = os.open(directory, _DIRECTORY_FLAGS)
    try:
        for name in files.directories:
            os.mkdir(name, dir_fd=staging)
        if files.ppr_name is not None:
            _write_at(staging, f"{WORKING}/{files.ppr_name}", files.ppr_bytes, flush)
        _write_at(staging, MANIFEST_FILE, files.manifest_bytes, flush)
        for relative, content in files.extra:
            _write_at(staging, relative, content, flush, executable=relative in EXECUTABLES)
    finally:
        os.close(staging)


def _write_at(directory: int, relative: str, content: bytes, flush: bool, executable: bool = False) -> None:
    """Create ``relative`` under the staging directory ``directory`` with ``content``, on disk before return
    when ``flush``.

    ``O_EXCL`` with ``O_NOFOLLOW`` creates a new regular file or fails (a link or anything else planted
    there is never written through); the staging directory is fresh and hidden, made by this process.
    """
    descriptor = os.open(relative, _NEW_FILE_FLAGS, 0o666, dir_fd=directory)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(descriptor, view):]
        if executable:
            # Readable and runnable by all, as a batch system's user may differ from the writer.
            os.fchmod(descriptor, EXECUTABLE_MODE)
        # The data (and the size that reads it back) on disk before the directory is renamed into place.
        if flush:
            _flush(descriptor)
    finally:
        os.close(descriptor)


def _refresh(directory: Path, files: RequestFiles) -> None:
    """--force on an existing directory: a new PPR and manifest, everything else left as it is; never
    while a fetch works in it (``RequestBeingFetched``), which read the manifest being replaced."""
    try:
        with request_lock(directory):
            _replace_request_files(directory, files)
    except FetchAlreadyRunning as running:
        raise RequestBeingFetched(directory, running.holder) from None


def _replace_request_files(directory: Path, files: RequestFiles) -> None:
    for name in files.directories:
        make_directory(directory / name)  # a symbolic link planted there is refused, not written through
    if files.ppr_name is not None:
        _replace(directory / WORKING / files.ppr_name, files.ppr_bytes)
    _replace(directory / MANIFEST_FILE, files.manifest_bytes)
    for relative, content in files.extra:
        _replace(directory / relative, content, executable=relative in EXECUTABLES)


def _manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    return indented_json(manifest)


def _replace(path: Path, content: bytes, executable: bool = False) -> None:
    # Files lie in the request directory or one level below: its directory, and the one above, are
    # checked for planted symbolic links before the write and again before the rename.
    replace_file(path.parent.parent, path, content)
    if executable:
        path.chmod(EXECUTABLE_MODE)


def _move_into_place(staging: Path, target: Path, replaces_empty_directory: bool) -> None:
    if not replaces_empty_directory:
        staging.rename(target)
        return
    # An empty directory: set it aside first so the new one appears in one rename. It was empty, so
    # it is removed with rmdir: nothing here ever deletes recursively what it did not write.
    retired = _fresh_sibling(target, "replaced")
    target.rename(retired)
    staging.rename(target)
    retired.rmdir()

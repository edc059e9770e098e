"""Readiness of ALMA's archive: each NGAS URL answers STATUS for a file the mirror knows (before the
first sync: one the source lists), as NGAS, with the size the mirror has and a checksum the client
verifies; and the ASDM export tool runs.

STATUS is read-only on NGAS, and any node of a cluster answers it for every file of the cluster
(shared/archive/NGAS.md). Each URL is first asked its own STATUS (no file): an OFFLINE node (maintenance)
still answers STATUS, saying ``State="OFFLINE"``, and answers its own files as missing, so only this
tells it apart. Answers are read as NGAS writes them: ``NGAMS_ER_IMPROPER_STATE`` is a node that is not
ONLINE, another ``NGAMS_ER_…`` an NGAS that does not have the file, and anything without an NgamsStatus
message (NGAS's 404 for a wrong path included) a URL that is not an NGAS server's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

from sqlalchemy import Connection, select

from etl.check.items import ARCHIVE, Item
from etl.errors import AlmaMirrorError, ArchiveUnavailable, StopAndFix
from etl.logs import mask_url
from etl.ngas.checksums import UnknownChecksum, expected_checksum
from etl.ngas.status import FileStatus
from etl.settings import ArchiveSettings

# How long the export tool may take to print its help.
TOOL_SECONDS: Final = 60.0
NGAS_URLS_FIX: Final = "set [archive] ngas_urls (or ALMAMIRROR_NGAS_URL) to the archive's NGAS nodes"
NOT_ONLINE_FIX: Final = ("bring the node ONLINE again (NGAS's ONLINE command) or wait for its maintenance to "
                         "end, or list another node of the archive in [archive] ngas_urls")


@dataclass(frozen=True)
class KnownFile:
    """A file to ask STATUS for, and what the mirror knows of it (a checksum only for documents it holds)."""

    file_id: str
    size: int | None
    checksum: str | None = None
    checksum_plugin: str | None = None


def known_file(mirror: Connection) -> KnownFile | None:
    """A calibration document the mirror fetched and verified, else a product file it lists."""
    from etl.mirror.archive import ProductFile
    from etl.mirror.calibration import CalibrationDocument

    document = mirror.execute(
        select(CalibrationDocument.file_id, CalibrationDocument.size_bytes, CalibrationDocument.checksum,
               CalibrationDocument.checksum_plugin)
        # Checked against NGAS's checksum: one fetched by size alone has none yet (etl/load/documents.py).
        .where(CalibrationDocument.state == "fetched", CalibrationDocument.checksum.is_not(None))
        .order_by(CalibrationDocument.file_id).limit(1)
    ).first()
    if document is not None:
        return KnownFile(*document)
    product = mirror.execute(
        select(ProductFile.file_name, ProductFile.size_bytes).order_by(ProductFile.file_name).limit(1)
    ).first()
    return KnownFile(product[0], product[1]) if product is not None else None


def listed_file(source: Connection, column_names: Mapping[str, str]) -> KnownFile | None:
    """A product file ASA_PRODUCT_FILES lists, for a mirror that lists none yet (before the first sync):
    the first by key, which an index on the key finds without reading the table."""
    from etl.source.contract import build_contract, contract_table

    products = contract_table(build_contract(column_names), "asa_product_files")
    row = source.execute(
        select(products.c.ngas_file_id, products.c.stored_size)
        .where(products.c.ngas_file_id.is_not(None))
        .order_by(products.c.asa_ous_id, products.c.ngas_file_id).limit(1)
    ).first()
    return KnownFile(str(row[0]), None if row[1] is None else int(row[1])) if row is not None else None


def check_archive(settings: ArchiveSettings, probe: KnownFile | None) -> list[Item]:
    """One item per NGAS URL, then the export tool's."""
    items: list[Item] = []
    if not settings.ngas_urls:
        items.append(Item(ARCHIVE, "NGAS", False, "no NGAS server is configured", NGAS_URLS_FIX))
    elif probe is None:
        items.append(Item(
            ARCHIVE, "NGAS", False,
            "neither the mirror nor the source lists a product file to ask NGAS about",
            "check the source's ASA_PRODUCT_FILES, or run a sync and check again",
        ))
    else:
        agreed: list[FileStatus] = []
        items.extend(check_ngas_url(settings, url, probe, agreed) for url in settings.ngas_urls)
    items.append(check_asdm_tool(settings))
    return items


def check_ngas_url(settings: ArchiveSettings, url: str, probe: KnownFile, seen: list[FileStatus]) -> Item:
    """The node's State, then STATUS of ``probe`` from this URL alone, each asked once (no retries: a
    readiness check, not a fetch).

    ``seen`` holds what earlier URLs answered; an answer that disagrees with them fails."""
    from etl.ngas.client import OFFLINE, NgasClient

    name = f"NGAS {mask_url(url)}"
    alone = replace(settings, ngas_urls=(url,), retries=0, workers=1)
    try:
        with NgasClient(alone, backoff_seconds=0.0) as client:
            # A node that does not say its State (or does not answer) is judged by the file's STATUS.
            if client.node_state(client.servers[0]) == OFFLINE:
                return Item(ARCHIVE, name, False, 'the node is OFFLINE (its STATUS says State="OFFLINE"): '
                            "it serves no file, and answers its own as missing", NOT_ONLINE_FIX)
            status = client.status(probe.file_id)
    except AlmaMirrorError as exc:
        return _refusal(name, probe, exc)
    problem = _disagreement(status, probe, seen)
    if problem is not None:
        return Item(ARCHIVE, name, False, problem, "ask the archive's operators: the file is not the one "
                    "ALMA's metadata describes")
    seen.append(status)
    size = int(getattr(status, "plain_size", status.file_size))
    return Item(ARCHIVE, name, True, f"answers STATUS as NGAS: {probe.file_id} is {size:,} bytes "
                f"as the mirror says, {status.checksum_plugin} checksum, which the client verifies")


def _refusal(name: str, probe: KnownFile, error: AlmaMirrorError) -> Item:
    """What the URL's answer (or silence) says, from NGAS's own Message when it sent one."""
    message = str(getattr(error, "ngas_message", error))
    if "NGAMS_ER_IMPROPER_STATE" in message:
        return Item(ARCHIVE, name, False, f"the node is not ONLINE (OFFLINE for maintenance?): {message}",
                    NOT_ONLINE_FIX)
    if isinstance(error, StopAndFix):  # the client's verdict on a URL that answers, but not as NGAS
        return _not_ngas(name, message)
    if isinstance(error, ArchiveUnavailable):
        return Item(ARCHIVE, name, False, f"did not answer STATUS: {error.detail}",
                    "check that NGAS runs at this URL and that this machine may reach it")
    if "NGAMS_ER_" in message:
        return Item(ARCHIVE, name, False, f"answers as NGAS but does not have {probe.file_id}: {message}",
                    "check that this URL is a node of ALMA's archive (not of another NGAS)")
    return _not_ngas(name, message)


def _not_ngas(name: str, message: str) -> Item:
    # The client may have said so itself, naming the URL the line already names.
    marker = "does not look like an NGAS server: "
    reason = message.split(marker, 1)[1] if marker in message else message
    return Item(ARCHIVE, name, False, marker + reason,
                "NGAS answers at http://host:port with no path (e.g. http://ngas.example.org:7777): "
                + NGAS_URLS_FIX)


def _disagreement(status: FileStatus, probe: KnownFile, seen: list[FileStatus]) -> str | None:
    """What is wrong with STATUS's size or checksum, or None."""
    # A file NGAS stores compressed is described by its compressed bytes; the mirror knows the product's.
    size = int(getattr(status, "plain_size", status.file_size))
    if probe.size is not None and size != probe.size:
        return f"STATUS says {probe.file_id} is {size:,} bytes, the mirror {probe.size:,}"
    try:
        answered = expected_checksum(status.checksum_plugin or "", status.checksum or "")
    except UnknownChecksum as exc:
        return f"STATUS gives {probe.file_id} a checksum the client cannot verify: {exc}"
    known: list[tuple[str | None, str | None]] = (
        [(probe.checksum_plugin, probe.checksum)] if probe.checksum and probe.checksum_plugin else []
    )
    known += [(other.checksum_plugin, other.checksum) for other in seen]
    for plugin, value in known:
        try:
            expected = expected_checksum(plugin or "", value or "")
        except UnknownChecksum:
            continue
        if (expected.algorithm, expected.value) != (answered.algorithm, answered.value):
            return (f"STATUS gives {probe.file_id} the checksum {answered.stored} ({answered.plugin}); "
                    f"it was {expected.stored} ({expected.plugin}) before")
    return None


def check_asdm_tool(settings: ArchiveSettings) -> Item:
    """``[archive] asdm_command`` with ``--help`` for the EB, run in an empty directory: it starts and
    exits 0. Nothing is exported."""
    from ppr.fetch.asdms import asdm_command

    name = "ASDM export tool"
    command = asdm_command(settings.asdm_command, "--help")
    fix = ("install ALMA's asdmExportLight where this user's PATH finds it, or set [archive] asdm_command "
           "to the tool's full path ({eb_uid} where the EB UID goes)")
    if shutil.which(command[0]) is None:
        return Item(ARCHIVE, name, False, f"{command[0]} is not found (not on PATH, or not executable)", fix)
    environment = dict(os.environ, ALMAMIRROR_NGAS_URL=",".join(settings.ngas_urls))
    with tempfile.TemporaryDirectory(prefix="almamirror-check-") as empty:
        try:
            done = subprocess.run(
                command, cwd=empty, env=environment, stdin=subprocess.DEVNULL, capture_output=True,
                timeout=TOOL_SECONDS, check=False,
            )
        except subprocess.TimeoutExpired:
            return Item(ARCHIVE, name, False,
                        f"{' '.join(command)} did not finish within {TOOL_SECONDS:.0f} s", fix)
        except OSError as exc:
            return Item(ARCHIVE, name, False, f"cannot run {command[0]}: {exc.strerror}", fix)
    if done.returncode != 0:
        output = (done.stderr + done.stdout).decode(errors="replace")
        said = [line for line in output.splitlines() if line.strip()]
        return Item(ARCHIVE, name, False, f"{' '.join(command)} exited with status {done.returncode}: "
                    f"{said[-1].strip() if said else '(no output)'}", fix)
    return Item(ARCHIVE, name, True, f"{' '.join(command)} runs (exit 0)")

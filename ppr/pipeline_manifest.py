"""The pipeline manifest a request directory carries when the archive has no usable one.

Every pipeline since 2021 opens ``products/*pipeline_manifest.xml`` first and goes by its names:
without one the restore stops at once (``get_ous``), with a truncated one at its ``ParseError``.
Older deliveries have none, and some archived ones do not parse. For those, the request directory
gets a manifest written from the mirror's knowledge, in the pipeline's own format
(``pipeline/h/tasks/common/manifest.py``): ``piperesults``/``ous`` with one ``session`` per session
holding Pass EBs, its ``caltables`` file, and per EB an ``asdm name="<eb>.ms"`` with its
``finalflags`` and ``applycmds``: the names of the files placed in ``products/``. Such a
names-only manifest made a real restore succeed with data identical to the calibration's
(``shared/archive/CALIBRATION-RECORD.md`` §6).

The verdict refuses a MOUS whose products such a manifest would need but the archive lacks
(``manifest_file_missing``; each session's caltables by ``session_mismatch``): reaching a missing
file here is a defect (``InvalidPpr``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from lxml import etree

from etl.archive_names import disk_name
from ppr.errors import InvalidPpr
from ppr.model import RestoreRequest

ARCHIVE: Final = "archive"
WRITTEN: Final = "almamirror"
# Any name ending so is read by the restore; this one says who wrote it.
WRITTEN_NAME: Final = "{mous}.almamirror.pipeline_manifest.xml"
# Why a request carries a written manifest, by the record's manifest_state (None: none archived).
WHY_WRITTEN: Final[Mapping[str | None, str]] = {
    None: "no pipeline manifest is archived with this calibration",
    "malformed": "the archived pipeline manifest {file} does not parse (a restore would stop on it); "
                 "it is not placed in products/",
    "unavailable": "the archived pipeline manifest {file} could not be fetched from NGAS when the mirror "
                   "last tried; it is not placed in products/",
}


@dataclass(frozen=True)
class ManifestChoice:
    """Whose manifest the request carries, why, and (when written here) its name and bytes."""

    source: str  # archive or almamirror
    why: str
    file_name: str | None  # in products/
    content: bytes | None = None  # only for a written manifest

    def to_json(self) -> dict[str, str | None]:
        return {"source": self.source, "why": self.why, "file": self.file_name}


def manifest_choice(request: RestoreRequest, product_names: Mapping[str, str]) -> ManifestChoice:
    """The request's manifest; ``product_names`` maps each archived product to its name in products/."""
    record = request.record
    if request.manifest_source != WRITTEN:
        archived = next(
            (product_names[p.archived_name] for p in request.products if p.kind == "manifest"), None
        )
        return ManifestChoice(
            ARCHIVE, "the calibration's own pipeline manifest is archived and parses", archived
        )
    state = record.manifest_state if record is not None else None
    file = record.manifest_file if record is not None else None
    why = WHY_WRITTEN.get(state, WHY_WRITTEN[None]).format(file=file)
    name = WRITTEN_NAME.format(mous=disk_name(request.mous_uid))
    return ManifestChoice(WRITTEN, why, name, written_manifest(request, product_names))


def written_manifest(request: RestoreRequest, product_names: Mapping[str, str]) -> bytes:
    """The names-only pipeline manifest of ``request``, as the pipeline's own exporter lays it out."""
    caltables = {
        p.session_number: product_names[p.archived_name] for p in request.products if p.kind == "caltables"
    }
    present = set(product_names.values())
    name = disk_name(request.mous_uid)
    root = etree.Element("piperesults", name=name)
    ous = etree.SubElement(root, "ous", name=name)
    missing: list[str] = []
    for session in sorted(request.sessions, key=lambda s: s.number):
        if not session.eb_uids:
            continue  # the pipeline lists only sessions holding measurement sets
        label = f"session_{session.number}"
        element = etree.SubElement(ous, "session", name=label)
        tables = caltables.get(session.number)
        if tables is None:
            missing.append(f"the caltables of {label}")
        else:
            etree.SubElement(element, "caltables", name=tables, session=label)
        for eb_uid in session.eb_uids:
            ms = f"{disk_name(eb_uid)}.ms"
            asdm = etree.SubElement(element, "asdm", name=ms)
            for tag, file in (("finalflags", f"{ms}.flagversions.tgz"), ("applycmds", f"{ms}.calapply.txt")):
                if file not in present:
                    missing.append(file)
                etree.SubElement(asdm, tag, name=file, asdm=ms)
    if missing:
        raise InvalidPpr(
            [f"the manifest written from the mirror needs {', '.join(missing)}, not archived"],
            request.mous_uid,
        )
    etree.indent(root, space="  ")
    comment = etree.Comment(" written by almamirror from the mirror: the archive has no usable manifest ")
    return (
        b'<?xml version="1.0" ?>\n' + etree.tostring(comment) + b"\n"
        + etree.tostring(root, encoding="UTF-8") + b"\n"
    )

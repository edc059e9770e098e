"""Which archived product files are calibration documents, and which calibration each belongs to.

A calibration archives ``<ous>.<recipe>.pipeline_manifest.xml``, ``<ous>.<recipe>.casa_piperestorescript.py``
and ``<ous>.<recipe>.pprequest.xml`` (older deliveries: ``PPR_<ous>.xml``), with or without the
archive's ``member.`` prefix. A MOUS calibrated twice has two ``<recipe>`` stems.
"""

from __future__ import annotations

from typing import Final, Literal

from etl.archive_names import MEMBER_PREFIX

# calibration_script: hand-run calibration scripts (etl/calibration/calibration_script.py), fetched for
# the CASA version they demand; they are not part of the pipeline's record of a calibration.
DocumentKind = Literal["manifest", "restore_script", "request", "calibration_script"]
MANIFEST: Final = "manifest"
RESTORE_SCRIPT: Final = "restore_script"
REQUEST: Final = "request"
LEGACY_REQUEST_PREFIX: Final = "PPR_uid___"
SUFFIXES: Final[dict[DocumentKind, str]] = {
    "manifest": ".pipeline_manifest.xml",
    "restore_script": ".casa_piperestorescript.py",
    "request": ".pprequest.xml",
}
# SQL LIKE patterns of the same names (``_`` escaped), for the queries that pick the documents out.
LIKE_PATTERNS: Final[dict[DocumentKind, tuple[str, ...]]] = {
    "manifest": ("%.pipeline\\_manifest.xml",),
    "restore_script": ("%.casa\\_piperestorescript.py",),
    "request": ("%.pprequest.xml", "PPR\\_uid\\_\\_\\_%.xml"),
}


def document_kind(file_name: str) -> DocumentKind | None:
    """The kind of calibration document ``file_name`` is, or None for any other product file."""
    for kind, suffix in SUFFIXES.items():
        if file_name.endswith(suffix):
            return kind
    if file_name.startswith(LEGACY_REQUEST_PREFIX) and file_name.endswith(".xml"):
        return REQUEST
    return None


def calibration_stem(file_name: str) -> str:
    """``uid___A001_X1_X2.hifa_calimage`` for any document of that calibration; '' for ``PPR_<ous>.xml``.

    The legacy request name carries no recipe: it belongs to whichever calibration the MOUS has.
    """
    kind = document_kind(file_name)
    if kind is None:
        raise ValueError(f"{file_name} is not a calibration document")
    if file_name.startswith(LEGACY_REQUEST_PREFIX) and not file_name.endswith(SUFFIXES["request"]):
        return ""
    return file_name.removeprefix(MEMBER_PREFIX).removesuffix(SUFFIXES[kind])

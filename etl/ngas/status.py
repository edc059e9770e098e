"""NGAS's ``NgamsStatus`` XML: the reply to STATUS, and the body of every NGAS error.

``<NgamsStatus><Status Status="FAILURE" Message="NGAMS_ER_UNAVAIL_FILE: …"/>
<DiskStatus …><FileStatus FileId=… FileVersion=… FileSize=… Checksum=… ChecksumPlugIn=…/></DiskStatus>
</NgamsStatus>``. Parsed with entities, DTDs and the network off: NGAS documents name a DTD on the
server itself, which must never be fetched.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from etl.calibration.xml import safe_parser

# NGAS's own documents are small; anything far larger is not an NgamsStatus.
MAX_STATUS_BYTES = 1 << 20


class NotNgamsStatus(ValueError):
    """The bytes are not an NgamsStatus document."""


@dataclass(frozen=True)
class FileStatus:
    """One archived file as NGAS describes it."""

    file_id: str
    file_version: int
    file_size: int
    checksum: str | None
    checksum_plugin: str | None
    mime_type: str | None
    ingestion_date: str | None = None  # as NGAS writes it: 2018-01-05T14:00:00.000 (UTC)
    # NGAS may store a file gzip-compressed: then file_size and checksum describe the compressed bytes
    # RETRIEVE sends, and uncompressed_size the original file.
    compression: str | None = None
    uncompressed_size: int | None = None

    @property
    def compressed(self) -> bool:
        return (self.compression or "").strip().upper() not in ("", "NONE")

    @property
    def plain_size(self) -> int:
        """The size of the file as the product is: the uncompressed size of a compressed file."""
        if self.compressed and self.uncompressed_size is not None:
            return self.uncompressed_size
        return self.file_size


@dataclass(frozen=True)
class NgamsStatus:
    status: str  # SUCCESS or FAILURE
    message: str
    files: tuple[FileStatus, ...]
    state: str = ""  # the node's: ONLINE, or OFFLINE for maintenance (NGAS still answers STATUS then)


def parse_status(document: bytes) -> NgamsStatus:
    """The status and files of an NgamsStatus document; ``NotNgamsStatus`` for anything else."""
    if len(document) > MAX_STATUS_BYTES:
        raise NotNgamsStatus(f"{len(document):,} bytes is too large for an NgamsStatus document")
    try:
        root = etree.fromstring(document, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise NotNgamsStatus(f"not XML ({exc})") from None
    if etree.QName(root).localname != "NgamsStatus":
        raise NotNgamsStatus(f"root element is {etree.QName(root).localname}, not NgamsStatus")
    status = root.find("Status")
    files = tuple(_file_status(element) for element in root.iter("FileStatus"))
    return NgamsStatus(
        status=(status.get("Status") or "") if status is not None else "",
        message=(status.get("Message") or "") if status is not None else "",
        files=files,
        state=(status.get("State") or "") if status is not None else "",
    )


def error_message(document: bytes) -> str | None:
    """NGAS's Message of an error reply, or None when the body is not an NgamsStatus."""
    try:
        return parse_status(document).message or None
    except NotNgamsStatus:
        return None


def _file_status(element: etree._Element) -> FileStatus:
    try:
        version = int(element.get("FileVersion") or "1")
        size = int(element.get("FileSize") or "")
        uncompressed = element.get("UncompressedFileSize")
        uncompressed_size = int(uncompressed) if uncompressed else None
    except ValueError:
        raise NotNgamsStatus(
            f"FileStatus of {element.get('FileId')!r} has no numeric FileSize/FileVersion"
        ) from None
    return FileStatus(
        file_id=element.get("FileId") or "",
        file_version=version,
        file_size=size,
        checksum=element.get("Checksum") or None,
        checksum_plugin=element.get("ChecksumPlugIn") or None,
        mime_type=element.get("Format") or None,
        ingestion_date=element.get("IngestionDate") or None,
        compression=element.get("Compression") or None,
        uncompressed_size=uncompressed_size,
    )

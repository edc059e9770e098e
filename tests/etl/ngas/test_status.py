"""NgamsStatus documents: parsed without entities, DTDs or network."""

from __future__ import annotations

import pytest

from etl.ngas.status import NotNgamsStatus, error_message, parse_status

STATUS = b"""<?xml version="1.0" ?>
<!DOCTYPE NgamsStatus SYSTEM "http://127.0.0.1:9/RETRIEVE?internal=ngamsStatus.dtd">
<NgamsStatus><Status Date="2024-01-01T00:00:00.000" HostId="n1" Message="Successfully handled command STATUS"
 Status="SUCCESS"/><DiskStatus DiskId="d1">
<FileStatus FileId="member.uid___A001_X1_X2.session_1.caltables.tgz"
 FileVersion="2" FileSize="1482139" Checksum="-1187012539" ChecksumPlugIn="ngamsGenCrc32"
 Format="application/x-tar"/></DiskStatus></NgamsStatus>"""


def test_a_status_reply_describes_the_file() -> None:
    status = parse_status(STATUS)
    assert (status.status, status.message) == ("SUCCESS", "Successfully handled command STATUS")
    (file_status,) = status.files
    assert file_status.file_id == "member.uid___A001_X1_X2.session_1.caltables.tgz"
    assert (file_status.file_version, file_status.file_size) == (2, 1_482_139)
    assert (file_status.checksum, file_status.checksum_plugin) == ("-1187012539", "ngamsGenCrc32")


def test_an_error_reply_gives_ngas_message() -> None:
    document = (b'<NgamsStatus><Status Status="FAILURE" Message="NGAMS_ER_UNAVAIL_FILE: File with ID: x '
                b'appears not to be available."/></NgamsStatus>')
    assert error_message(document) == "NGAMS_ER_UNAVAIL_FILE: File with ID: x appears not to be available."


def test_entities_are_not_expanded() -> None:
    document = (b'<?xml version="1.0"?><!DOCTYPE NgamsStatus [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
                b'<NgamsStatus><Status Status="FAILURE" Message="x"/>&secret;</NgamsStatus>')
    assert "root:" not in str(parse_status(document))


@pytest.mark.parametrize("document", [b"<html><body>Service unavailable</body></html>", b"not xml at all"])
def test_anything_else_is_not_an_ngams_status(document: bytes) -> None:
    with pytest.raises(NotNgamsStatus):
        parse_status(document)
    assert error_message(document) is None

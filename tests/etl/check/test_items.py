"""The readiness check's pure parts: how an item reads, and which source types the mirror takes."""

from __future__ import annotations

import pytest
from sqlalchemy import BigInteger, DateTime, Integer, Numeric, Text
from sqlalchemy.dialects import oracle, postgresql
from sqlalchemy.types import TypeEngine

from etl.check.items import Item
from etl.check.source import reads


def test_a_failed_item_reads_mark_area_name_detail_and_fix() -> None:
    item = Item("source", "AQUA_OUS", False, "the table lacks column(s) qa2status", "check the schema")
    assert item.line() == "✗ source AQUA_OUS: the table lacks column(s) qa2status — fix: check the schema"
    assert Item("mirror", "disk", True, "5 GB free", "unused").line() == "✓ mirror disk: 5 GB free"


def test_what_a_server_said_cannot_break_the_line_or_drive_the_terminal() -> None:
    item = Item("archive", "NGAS http://x", False, "NGAS: \x1b[2J\x1b[31mgone\r\nok\u202e", "retry")
    line = item.line()
    assert "\n" not in line
    assert "\x1b" not in line
    assert "\u202e" not in line
    assert "\\x1b[2J\\x1b[31mgone\\r\\nok\\u202e" in line
    assert item.as_json()["detail"] == "NGAS: \x1b[2J\x1b[31mgone\r\nok\u202e"  # JSON keeps it exact


@pytest.mark.parametrize(("source", "target", "expected"), [
    (oracle.DATE(), DateTime(), True),
    (oracle.TIMESTAMP(), DateTime(), True),
    (postgresql.TIMESTAMP(), DateTime(), True),
    (oracle.VARCHAR2(64), DateTime(), False),
    (oracle.NUMBER(38, 0), BigInteger(), True),
    (oracle.NUMBER(12, 6), Numeric(12, 6), True),
    (oracle.BINARY_DOUBLE(), Integer(), True),
    (oracle.VARCHAR2(64), BigInteger(), False),
    (oracle.VARCHAR2(64), Text(), True),
    (oracle.NVARCHAR2(64), Text(), True),
    (oracle.CLOB(), Text(), True),
    (oracle.NUMBER(), Text(), True),
    (oracle.BLOB(), Text(), False),
    (oracle.DATE(), Text(), False),
])
def test_the_types_the_mirror_takes(
    source: TypeEngine[object], target: TypeEngine[object], expected: bool
) -> None:
    assert reads(source, target) is expected

"""NGAS's checksum plug-ins: CRC-32 signed (old servers) or unsigned, CRC-32C."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from etl.ngas.checksums import (
    CRC32,
    CRC32C,
    RunningChecksum,
    UnknownChecksum,
    checksum_of_file,
    expected_checksum,
    stored_form,
)

CHECK_INPUT = b"123456789"  # the standard check string: CRC-32 0xCBF43926, CRC-32C 0xE3069283


def test_crc32_and_crc32c_give_the_standard_check_values() -> None:
    for algorithm, value in ((CRC32, 0xCBF43926), (CRC32C, 0xE3069283)):
        running = RunningChecksum(algorithm)
        running.update(CHECK_INPUT[:4])
        running.update(CHECK_INPUT[4:])
        assert running.value == value


@pytest.mark.parametrize("plugin", ["ngamsGenCrc32", "crc32", "StreamCrc32", "crc32z"])
def test_a_signed_crc32_matches_its_unsigned_value(plugin: str) -> None:
    signed = str(0xCBF43926 - (1 << 32))
    assert signed.startswith("-")
    assert expected_checksum(plugin, signed).matches(zlib.crc32(CHECK_INPUT))
    assert expected_checksum(plugin, str(0xCBF43926)).matches(zlib.crc32(CHECK_INPUT))
    assert not expected_checksum(plugin, signed).matches(zlib.crc32(b"12345678"))


def test_crc32c_is_not_crc32() -> None:
    expected = expected_checksum("crc32c", str(0xE3069283))
    assert expected.algorithm == CRC32C
    assert not expected.matches(zlib.crc32(CHECK_INPUT))


def test_stored_form_is_signed_for_the_python2_plugin_only() -> None:
    assert stored_form("ngamsGenCrc32", 0xCBF43926) == str(0xCBF43926 - (1 << 32))
    assert stored_form("ngamsGenCrc32", 0x12345678) == str(0x12345678)
    assert stored_form("crc32", 0xCBF43926) == str(0xCBF43926)
    assert stored_form("crc32c", 0xE3069283) == str(0xE3069283)


@pytest.mark.parametrize(("plugin", "value"), [("md5", "1"), ("crc32", "abc"), ("crc32", str(1 << 33))])
def test_unknown_plugins_and_values_are_refused(plugin: str, value: str) -> None:
    with pytest.raises(UnknownChecksum):
        expected_checksum(plugin, value)


def test_checksum_of_a_file_prefix(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(CHECK_INPUT * 1000)
    assert checksum_of_file(path, CRC32) == zlib.crc32(CHECK_INPUT * 1000)
    assert checksum_of_file(path, CRC32, limit=9) == 0xCBF43926

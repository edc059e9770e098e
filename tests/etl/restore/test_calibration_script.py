"""The CASA version a hand-run calibration script demands, read and never executed."""

from __future__ import annotations

import pytest

from etl.calibration.calibration_script import is_calibration_script, parse_calibration_script
from etl.calibration.documents import parse_document
from etl.calibration.errors import MalformedDocument

LINE = "sys.exit('ERROR: PLEASE USE THE SAME VERSION OF CASA THAT YOU USED FOR GENERATING THE SCRIPT: {}')"


def test_a_python3_script_is_read_with_ast() -> None:
    script = f"import sys\nif casa['build']['version'] != '6.5.4':\n    {LINE.format('6.5.4')}\n"
    assert parse_calibration_script(script).casa_version == "6.5.4"


def test_a_python2_script_is_read_by_its_tokens() -> None:
    script = f"import sys\nprint 'hello'\nif casadef.casa_version != '4.7.0':\n {LINE.format('4.7.0')}\n"
    assert parse_calibration_script(script).casa_version == "4.7.0"


def test_nothing_is_executed() -> None:
    script = f"raise SystemExit('ran')\nimport os\nos.remove('/nonexistent')\n{LINE.format('5.4.0')}\n"
    assert parse_calibration_script(script).casa_version == "5.4.0"


def test_a_script_naming_no_version_has_none() -> None:
    assert parse_calibration_script("sys.exit('done')\nprint('x')\n").casa_version is None


def test_two_versions_or_no_python_is_malformed() -> None:
    with pytest.raises(MalformedDocument, match="several CASA versions"):
        parse_calibration_script(f"{LINE.format('4.7.0')}\n{LINE.format('4.7.2')}\n")
    with pytest.raises(MalformedDocument, match="not a Python script"):
        parse_calibration_script("print 'unterminated\n(((\n")
    with pytest.raises(MalformedDocument, match="not UTF-8"):
        parse_document("calibration_script", b"\xff\xfe\x00")


@pytest.mark.parametrize(("name", "expected"), [
    ("member.uid___A002_X1_X2.ms.scriptForCalibration.py", True),
    ("member.uid___A001_X1_X2.scriptForPolCalibration.py", True),
    ("member.uid___A001_X1_X2.scriptForFluxCalibration.py", True),
    ("uid___A001_X1_X2.scriptForSDCalibration.py", True),
    ("member.uid___A001_X1_X2.scriptForPI.py", False),
    ("member.uid___A001_X1_X2.scriptForImaging.py", False),
])
def test_which_files_are_calibration_scripts(name: str, expected: bool) -> None:
    assert is_calibration_script(name) is expected

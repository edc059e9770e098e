"""``ppr --verify``: the preflight on the real calibration's request directory and on broken copies.

Every test lays out the real MOUS's directory (tests/ppr/real_restore.py: almamirror's PPR, the real
products and ASDMs, a fetch record), breaks one thing, and runs the CLI: exit 1 and a line naming the
file and the problem, or exit 0 when nothing is broken.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from etl.cli import main
from etl.settings import PprSettings
from ppr.fetch.record import RECORD_FILE
from ppr.verify import restore_manifest, verify_request
from ppr.verify_content import calapply_problems, caltables_problems, flagversions_problems
from tests.ppr.real_restore import MANIFEST, MOUS_DISK, lay_out_real_request, product_record

EB1, EB2 = "uid___A002_Xfe0001_X1", "uid___A002_Xfe0002_X2"
CALTABLES_3 = f"{MOUS_DISK}.session_3.caltables.tgz"
FLAGS_1 = f"{EB1}.ms.flagversions.tgz"
CALAPPLY_2 = f"{EB2}.ms.calapply.txt"


@pytest.fixture
def real_dir(tmp_path: Path, site: PprSettings) -> Path:
    return lay_out_real_request(tmp_path / "spool", site)


def _verify(directory: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[str]]:
    status = main(["ppr", "--verify", str(directory), *extra])
    return status, capsys.readouterr().out.splitlines()


def _rewrite(directory: Path, name: str, content: bytes) -> None:
    """Replace a product as a fetch would have: the record describes the new bytes (an archive's fault)."""
    path = directory / "products" / name
    path.write_bytes(content)
    record = json.loads((directory / RECORD_FILE).read_text("utf-8"))
    record["products"][f"products/{name}"] = product_record(path, name)
    (directory / RECORD_FILE).write_text(json.dumps(record), "utf-8")
    plan = json.loads((directory / "fetch-manifest.json").read_text("utf-8"))
    for entry in plan["products"]:
        if entry["target"] == f"products/{name}":
            entry["size_bytes"] = len(content)
    (directory / "fetch-manifest.json").write_text(json.dumps(plan), "utf-8")


def _tgz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _problems(lines: list[str], path: str) -> list[str]:
    return [line for line in lines if line.startswith(f"{path}: ")]


def test_the_real_request_directory_passes(real_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = _verify(real_dir, capsys)
    assert status == 0, lines
    assert len(lines) == 1
    assert "the restore will find everything it opens (6 product(s) checked" in lines[0]
    assert f"manifest products/{MANIFEST}" in lines[0]


def test_json_lists_no_problem_and_the_manifest_read(
    real_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = _verify(real_dir, capsys, "--format", "json")
    result: dict[str, Any] = json.loads("\n".join(lines))
    assert status == 0
    assert result["ok"] is True
    assert result["problems"] == []
    assert result["manifest"] == f"products/{MANIFEST}"
    assert result["ppr"] == f"working/PPR_{MOUS_DISK}.xml"
    assert result["files_checked"] == 6


def test_a_missing_caltables_file_is_named(real_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (real_dir / "products" / CALTABLES_3).unlink()
    status, lines = _verify(real_dir, capsys)
    assert status == 1
    named = _problems(lines, f"products/{CALTABLES_3}")
    assert named, lines
    assert any("missing: the manifest names it as session_3's caltables" in line for line in named)
    assert lines[-1].endswith(f"{len(lines) - 1} problem(s)")


def test_a_flagversions_archive_without_the_final_flags_is_named(
    real_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _rewrite(real_dir, FLAGS_1, _tgz({f"{EB1}.ms.flagversions/FLAG_VERSION_LIST": b"Original : flags\n"}))
    status, lines = _verify(real_dir, capsys)
    assert status == 1
    assert _problems(lines, f"products/{FLAGS_1}") == [
        f"products/{FLAGS_1}: holds no {EB1}.ms.flagversions/flags.Pipeline_Final: the restore cannot "
        f"restore the final flags of {EB1}.ms"
    ]
    assert len(lines) == 2  # that problem, then the closing line


def test_a_manifest_lacking_a_session_is_named(real_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = real_dir / "products" / MANIFEST
    root = etree.fromstring(path.read_bytes())
    (session_3,) = root.iterfind("ous/session[@name='session_3']")
    session_3.getparent().remove(session_3)  # type: ignore[union-attr]
    _rewrite(real_dir, MANIFEST, etree.tostring(root, xml_declaration=True))
    status, lines = _verify(real_dir, capsys)
    assert status == 1
    lacking = f"products/{MANIFEST}: lacks session_3's caltables, which the PPR's SESSION_3 needs"
    assert any(line.startswith(lacking) and "KeyError('session_3')" in line for line in lines), lines
    assert any(f'no <asdm name="{EB2}.ms">' in line for line in lines), lines


def test_a_missing_asdm_is_named(real_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(real_dir / "rawdata" / EB2)
    status, lines = _verify(real_dir, capsys)
    assert status == 1
    assert _problems(lines, f"rawdata/{EB2}") == [
        f"rawdata/{EB2}: missing: the restore imports EB uid://A002/Xfe0002/X2 from it (run almamirror fetch)"
    ]


def test_a_calapply_file_without_applycal_lines_is_named(
    real_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _rewrite(real_dir, CALAPPLY_2, b"# Apply file for uid___A002_Xfe0002_X2.ms\n")
    status, lines = _verify(real_dir, capsys)
    assert status == 1
    assert _problems(lines, f"products/{CALAPPLY_2}") == [
        f"products/{CALAPPLY_2}: holds no applycal(...) line: the restore applies no calibration to {EB2}.ms"
    ]


def test_a_product_changed_since_the_fetch_is_named_by_size_and_by_checksum(
    real_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grown = real_dir / "products" / CALTABLES_3
    grown.write_bytes(grown.read_bytes() + b"\0")
    flipped = real_dir / "products" / CALAPPLY_2
    content = bytearray(flipped.read_bytes())
    content[0] ^= 0x01  # the same size, another checksum
    flipped.write_bytes(bytes(content))
    status, lines = _verify(real_dir, capsys)
    assert status == 1
    assert any("bytes, but the fetch verified 14,487" in line or "bytes, but the fetch verified 14487" in line
               for line in _problems(lines, f"products/{CALTABLES_3}")), lines
    assert any("its checksum is not the" in line and "(crc32c) the fetch verified" in line
               for line in _problems(lines, f"products/{CALAPPLY_2}")), lines


def test_a_product_the_fetch_never_verified_is_named(
    real_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = json.loads((real_dir / RECORD_FILE).read_text("utf-8"))
    del record["products"][f"products/{FLAGS_1}"]
    (real_dir / RECORD_FILE).write_text(json.dumps(record), "utf-8")
    status, lines = _verify(real_dir, capsys)
    assert status == 1
    assert _problems(lines, f"products/{FLAGS_1}") == [
        f"products/{FLAGS_1}: not verified by a fetch (no entry in {RECORD_FILE}): run almamirror fetch"
    ]


def test_no_manifest_stops_the_restore_at_once(real_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (real_dir / "products" / MANIFEST).unlink()
    record = json.loads((real_dir / RECORD_FILE).read_text("utf-8"))
    del record["products"][f"products/{MANIFEST}"]
    (real_dir / RECORD_FILE).write_text(json.dumps(record), "utf-8")
    manifest = json.loads((real_dir / "fetch-manifest.json").read_text("utf-8"))
    manifest["products"] = [p for p in manifest["products"] if p["kind"] != "manifest"]
    (real_dir / "fetch-manifest.json").write_text(json.dumps(manifest), "utf-8")
    status, lines = _verify(real_dir, capsys)
    assert status == 1
    assert lines[:-1] == [
        "products/*pipeline_manifest.xml: missing: without a pipeline manifest the restore stops at its "
        "first step (AttributeError … get_ous)"
    ]


def test_a_truncated_manifest_is_named(real_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = (real_dir / "products" / MANIFEST).read_bytes()
    _rewrite(real_dir, MANIFEST, content[: len(content) // 2])
    status, lines = _verify(real_dir, capsys)
    assert status == 1
    assert _problems(lines, f"products/{MANIFEST}")[0].startswith(
        f"products/{MANIFEST}: the restore cannot read it: the manifest is not well-formed XML"
    )


def test_a_ppr_whose_relative_path_is_not_this_directory_is_named(
    real_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = tmp_path / "elsewhere" / "MOUS"
    shutil.copytree(real_dir, moved)
    status, lines = _verify(moved, capsys)
    assert status == 1
    assert any("RelativePath" in line and "is not the end of this directory's path" in line for line in lines)


def test_not_a_request_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ppr", "--verify", str(tmp_path / "nothing")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["ppr", "--verify", str(tmp_path / "empty")]) == 2
    assert "is not a request directory" in capsys.readouterr().err


def test_verify_takes_no_mous_or_build_options(real_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ppr", "uid://A001/Xfe00/X10", "--verify", str(real_dir)]) == 2
    assert "--verify reads a request directory" in capsys.readouterr().err


def test_without_asdms_the_rawdata_is_not_checked(real_dir: Path) -> None:
    shutil.rmtree(real_dir / "rawdata" / EB1)
    assert not verify_request(real_dir).ok
    partial = verify_request(real_dir, asdms=False)
    assert partial.ok
    assert not partial.asdms_checked


def test_caltables_without_members_for_an_ms_are_named(tmp_path: Path) -> None:
    path = tmp_path / "caltables.tgz"
    path.write_bytes(_tgz({f"{EB1}.ms.bcal.tbl/table.dat": b"x", "session_9.hifa_x.tbl/table.dat": b"y"}))
    problems, tables = caltables_problems(path, "session_2", [f"{EB1}.ms", f"{EB2}.ms"])
    assert problems == [f"holds no member starting with {EB2}.ms or session_2: the restore extracts no "
                        "calibration table for it"]
    assert tables == {f"{EB1}.ms.bcal.tbl"}
    path.write_bytes(b"not gzip")
    (problem,), _ = caltables_problems(path, "session_2", [f"{EB1}.ms"])
    assert problem.startswith("not a gzip tar archive the restore can open")
    assert flagversions_problems(path, f"{EB1}.ms")[0].startswith("not a gzip tar archive")


def test_calapply_lines_must_be_for_the_ms_and_apply_tables_the_caltables_hold(tmp_path: Path) -> None:
    path = tmp_path / "calapply.txt"
    path.write_text(
        "applycal(vis='/data/uid___A002_Xfe0001_X1.ms', gaintable=['a.tbl', '/x/b.tbl'])\n"
        "applycal(vis='other.ms', gaintable='a.tbl')\n"
        "applycal(vis='uid___A002_Xfe0001_X1.ms', gaintable=[\n", "utf-8",
    )
    assert calapply_problems(path, f"{EB1}.ms", frozenset({"a.tbl"})) == [
        "applycal line 1 applies b.tbl, which the session's caltables do not hold",
        f"applycal line 2 is for vis='other.ms', not {EB1}.ms",
        "applycal line 3 is not a call CASA can read: applycal(vis='uid___A002_Xfe0001_X1.ms', gaintable=[",
    ]
    without_tables = calapply_problems(path, f"{EB1}.ms", None)
    assert without_tables[0] == f"applycal line 2 is for vis='other.ms', not {EB1}.ms"


def test_the_restore_reads_the_calibration_manifest_among_several(tmp_path: Path) -> None:
    for name in ("b.hifa_calimage.pipeline_manifest.xml", "a.hifa_imgonly.pipeline_manifest.xml"):
        (tmp_path / name).write_text("<piperesults/>")
    # Two match *pipeline_manifest.xml, one *cal*pipeline_manifest.xml: the narrower pattern wins.
    assert restore_manifest(tmp_path) == tmp_path / "b.hifa_calimage.pipeline_manifest.xml"
    (tmp_path / "a.hifa_cal.pipeline_manifest.xml").write_text("<piperesults/>")
    # Both calibrations match: the first by name, the earlier hifa_cal.
    assert restore_manifest(tmp_path) == tmp_path / "a.hifa_cal.pipeline_manifest.xml"


def test_a_ppr_named_outside_the_directory_is_not_read(
    real_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = json.loads((real_dir / "fetch-manifest.json").read_text("utf-8"))
    plan["ppr"] = "../../elsewhere/PPR.xml"
    (real_dir / "fetch-manifest.json").write_text(json.dumps(plan), "utf-8")
    status, lines = _verify(real_dir, capsys)
    assert status == 1
    assert lines[0] == ("fetch-manifest.json: names the PPR '../../elsewhere/PPR.xml', a path outside the "
                        "request directory")

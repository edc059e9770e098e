"""Where ``almamirror ppr`` writes, and ``--check`` explained as the pipeline reads the archived PPR."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy.engine import URL

from etl.cli import main
from etl.demo.fixed_cases import FIXED_CASES
from tests.conftest import cli_environment

SEED = FIXED_CASES["seed_example"]


@pytest.fixture(scope="module")
def mirror(databases: Any, synced_template: str) -> URL:
    return databases.create("ppr_outputs", template=synced_template)


@pytest.fixture
def cli(mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_environment(monkeypatch, None, mirror, test_home)


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert "internal error" not in captured.err
    return captured.err.strip()


def test_output_to_an_existing_file_needs_force(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "PPR.xml"
    target.write_text("an operator's file")
    assert main(["ppr", SEED.mous_uid, "-o", str(target)]) == 1
    assert error_line(capsys) == (
        f"almamirror: -o {target}: the file already exists; pass --force to replace it"
    )
    assert target.read_text() == "an operator's file"
    assert main(["-q", "ppr", SEED.mous_uid, "-o", str(target), "--force"]) == 0
    assert capsys.readouterr() == ("", "")  # -q: nothing on success
    assert target.read_bytes().startswith(b"<?xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["PPR.xml"]


def test_output_dash_is_stdout(cli: None, capsysbinary: pytest.CaptureFixture[bytes], tmp_path: Path) -> None:
    assert main(["-q", "ppr", SEED.mous_uid, "-o", "-"]) == 0
    assert capsysbinary.readouterr().out.startswith(b'<?xml version="1.0"')
    assert not (Path.cwd() / "-").exists()


@pytest.mark.parametrize("option", ["-o", "--build"])
def test_an_output_path_that_cannot_be_used_is_exit_2_and_leaves_nothing(
    cli: None, option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    directory = tmp_path / "a-directory"
    directory.mkdir()
    cases = {
        "-o": [(directory, f"-o {directory}: is a directory; give a file name"),
               (a_file / "PPR.xml", f"-o {a_file / 'PPR.xml'}: {a_file} is a file, not a directory")],
        "--build": [(a_file, f"--build {a_file}: is a file, not a directory"),
                    (a_file / "spool", f"--build {a_file / 'spool'}: {a_file} is a file, not a directory")],
    }[option]
    # Permissions do not stop root; a file system that takes no new files stops everyone.
    cases.append((Path("/sys/almamirror-spool"), f"{option} /sys/almamirror-spool"))
    for path, expected in cases:
        assert main(["ppr", SEED.mous_uid, option, str(path)]) == 2
        assert error_line(capsys).startswith(f"almamirror: {expected}")
    if option == "--build":
        assert main(["ppr", "--all-restorable", "--build", str(a_file)]) == 2
        assert "is a file, not a directory" in error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-directory", "a-file"]
    assert list(directory.iterdir()) == []


@pytest.mark.parametrize(
    ("relative_path", "words"),
    [("a b/c", "may not contain spaces"), ("/abs/path", "not an empty or absolute one"),
     ("a//b", "no part of it may be empty, '.' or '..'"), ("a/../b", "no part of it may be empty"),
     ("", "not an empty or absolute one")],
)
def test_a_bad_relative_path_is_plain_words_and_exit_2(
    cli: None, relative_path: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ppr", SEED.mous_uid, "--relative-path", relative_path, "--build", str(tmp_path)]) == 2
    line = error_line(capsys)
    assert line.startswith(f"almamirror: --relative-path {relative_path!r}: ")
    assert words in line
    assert "pattern" not in line
    assert "xsd" not in line.lower()
    assert list(tmp_path.iterdir()) == []


# --- --check ------------------------------------------------------------------------------------------


def archived(tmp_path: Path, tree: etree._Element, name: str = "archived.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(etree.tostring(tree))
    return path


def intent(tree: etree._Element, keyword: str) -> etree._Element:
    return next(i for i in tree.iter("Intents") if i.findtext("Keyword") == keyword)


def test_check_with_a_ppr_of_another_mous_says_so_first(
    cli: None, seed_xml: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = FIXED_CASES["seed_first"].mous_uid
    path = archived(tmp_path, etree.fromstring(seed_xml))
    assert main(["ppr", other, "--check", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (
        f"almamirror: {path}: this PPR is for {SEED.mous_uid}, not {other} (its OUSStatusRef); give the PPR "
        f"archived with the calibration products of {other}"
    )


def test_check_explains_differences_as_the_pipeline_reads_them(
    cli: None, seed_xml: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = etree.fromstring(seed_xml)
    # SESSION_14 gone: the pipeline reads SESSION_1..13 and pairs the ASDMs of 14 and 15 with session_1.
    fourteen = intent(tree, "SESSION_14")
    fifteen_ebs = (intent(tree, "SESSION_15").findtext("Value") or "").split(" | ")
    fourteen_ebs = (fourteen.findtext("Value") or "").split(" | ")
    fourteen.getparent().remove(fourteen)  # type: ignore[union-attr]
    # SESSION_2 twice: the pipeline keeps the later value.
    second = intent(tree, "SESSION_2")
    repeated = etree.fromstring(etree.tostring(second))
    second.addnext(repeated)
    path = archived(tmp_path, tree)

    assert main(["ppr", SEED.mous_uid, "--check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "note: SESSION_14 is missing, which ends the pipeline's list here: SESSION_15 is never read" in out
    assert "note: SESSION_2 appears more than once; the pipeline keeps the last value" in out
    for eb in (*fourteen_ebs, *fifteen_ebs):
        assert f"note: EB {eb} is in no SESSION_n of the archived PPR, so it is paired with session_1 by " \
               "the pipeline" in out
        assert f"EB {eb} is in SESSION_" in out
    assert "so it is paired with session_1 by the pipeline" in out.splitlines()[-2]

    assert main(["ppr", SEED.mous_uid, "--check", str(path), "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["agree"] is False
    assert document["mous_uid"] == document["archived_mous_uid"] == SEED.mous_uid
    kinds = {note["kind"] for note in document["notes"]}
    assert kinds == {"session-list-ends", "duplicate-keyword", "paired-with-session-1"}
    moved = [d for d in document["differences"] if d["kind"] == "eb-moved"]
    assert {d["eb_uid"] for d in moved} == {*fourteen_ebs, *fifteen_ebs}
    assert all(d["archived_session"] == 1 and d["paired_with_session_1_by_default"] for d in moved)
    assert all(d["text"] for d in document["differences"])
    assert sorted(document["archived_sessions"], key=int) == [str(n) for n in range(1, 14)]


def test_check_json_of_an_agreeing_ppr(
    cli: None, seed_xml: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = archived(tmp_path, etree.fromstring(seed_xml))
    assert main(["ppr", SEED.mous_uid, "--check", str(path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["agree"], document["differences"], document["notes"]) == (True, [], [])

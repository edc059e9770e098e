"""A mistyped command, option or MOUS UID gets a "did you mean"; completion completes paths."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from etl.cli import main
from tests.conftest import cli_environment


def status_of(argv: list[str]) -> int | str | None:
    """main's status, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exited:
        return exited.code


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["reprot", "restorable"], "did you mean 'report'?"),
        (["report", "restorabel"], "did you mean 'restorable'?"),
        (["report", "restorable", "--limt", "3"], "did you mean --limit?"),
        (["ppr", "--all-restorable", "--biuld", "x"], "did you mean --build?"),
        (["db", "serv"], "did you mean 'serve'?"),
    ],
)
def test_a_mistyped_command_or_option_is_named(
    argv: list[str], hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert status_of(argv) == 2
    err = capsys.readouterr().err
    assert hint in err
    assert err.count("\n") == 1


def test_nothing_close_means_no_guess(capsys: pytest.CaptureFixture[str]) -> None:
    assert status_of(["zzzzzz"]) == 2
    assert "did you mean" not in capsys.readouterr().err


def test_a_mistyped_mous_uid_names_the_nearest_the_mirror_knows(
    synced_mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_environment(monkeypatch, None, synced_mirror, test_home)
    for command in (["explain"], ["ppr"]):
        assert main([*command, "uid://A001/X1284/X265e"]) == 1
        err = capsys.readouterr().err
        assert "MOUS uid://A001/X1284/X265e is not in the mirror (did you mean uid://A001/X1284/X265f" in err


def test_bash_completes_paths_where_a_path_goes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "almamirror.bash"
    script.write_text(capsys.readouterr().out)
    (tmp_path / "spool-dir").mkdir()
    (tmp_path / "site-file.toml").write_text("")

    def complete(*words: str) -> list[str]:
        program = (
            f"source {script}; COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}; "
            'COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; _shtab_almamirror; '
            'printf "%s\\n" "${COMPREPLY[@]}"'
        )
        done = subprocess.run(["/bin/bash", "-c", program], capture_output=True, text=True, check=True,
                              cwd=tmp_path)
        return done.stdout.split()

    assert complete("almamirror", "ppr", "--build", "sp") == ["spool-dir"]
    assert complete("almamirror", "fetch", "sp") == ["spool-dir"]
    assert complete("almamirror", "report", "html", "sp") == ["spool-dir"]
    assert complete("almamirror", "--config", "site") == ["site-file.toml"]
    assert "site-file.toml" in complete("almamirror", "ppr", "-o", "si")

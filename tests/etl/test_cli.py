"""The command line as a whole: one clear line for every mistake, quiet success, options anywhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import URL

from etl import migrations
from etl.cli import main
from etl.mirror import SyncRun, table_of
from tests.conftest import cli_environment, open_engine
from tests.helpers import scalar
from tests.terminal import run_in_terminal

PROJECT = Path(__file__).resolve().parents[2]


def environment(
    home: Path, mirror: URL | None = None, source: URL | None = None, **extra: str
) -> dict[str, str]:
    """The environment of a separate almamirror process pointed at test databases."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALMAMIRROR_")}
    env["ALMAMIRROR_HOME"] = str(home)
    if mirror is not None:
        env["ALMAMIRROR_MIRROR_URL"] = mirror.render_as_string(hide_password=False)
    if source is not None:
        env["ALMAMIRROR_SOURCE_URL"] = source.render_as_string(hide_password=False)
    env.update(extra)
    return env


def almamirror(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etl.cli", *args], env=env, capture_output=True, text=True, cwd=PROJECT,
        check=False, timeout=300,
    )


def one_line(error: str) -> str:
    assert error.endswith("\n")
    assert error.count("\n") == 1, error
    assert "internal error" not in error
    return error.strip()


# --- usage errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["ppr", "--bogus"], "almamirror ppr: unrecognized arguments: --bogus (run 'almamirror ppr --help')"),
        (["report", "changes", "--since"],
         "almamirror report changes: argument --since: expected one argument "
         "(run 'almamirror report changes --help')"),
        (["db"], "almamirror db: the following arguments are required: ACTION (run 'almamirror db --help')"),
        ([], "almamirror: the following arguments are required: COMMAND (run 'almamirror --help')"),
        (["db", "upgrade", "head", "extra"],
         "almamirror db upgrade: unrecognized arguments: extra (run 'almamirror db upgrade --help')"),
        (["-v", "report", "runs", "-q"], "-v/--verbose and -q/--quiet cannot be used together"),
    ],
)
def test_an_argparse_error_is_one_line_with_where_to_find_help(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        status = main(args)
    except SystemExit as exited:  # argparse's own errors exit from inside parse_known_args
        status = exited.code  # type: ignore[assignment]
    assert status == 2
    assert expected in one_line(capsys.readouterr().err)


def test_global_options_are_accepted_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-site.toml"
    # The settings file is read before anything else: naming a missing one is the proof it was parsed.
    for args in (["--config", str(missing), "report", "runs"], ["report", "runs", "--config", str(missing)],
                 ["db", "current", "-q", "--config", str(missing)]):
        assert main(args) == 1
        assert f"config file {missing}: not found" in one_line(capsys.readouterr().err)


def test_every_report_subcommand_has_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    for report in ("restorable", "changes", "newly-restorable", "quality", "runs"):
        with pytest.raises(SystemExit):
            main(["report", report, "--help"])
        usage, _, rest = capsys.readouterr().out.partition("\n\n")
        assert usage.startswith(f"usage: almamirror report {report}")
        description = rest.split("\n\n")[0]
        assert not description.startswith(("options:", "positional arguments:")), report
        assert len(description) > 60, description


# --- configuration and environment ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "url", "expected"),
    [
        ("ALMAMIRROR_SOURCE_URL", "mysql://alma:secret@db.example/alma",
         "source.url (ALMAMIRROR_SOURCE_URL): 'mysql://alma:***@db.example/alma' is a mysql URL; the source "
         "is ALMA's Oracle"),
        ("ALMAMIRROR_MIRROR_URL", "sqlite:///mirror.db",
         "mirror.url (ALMAMIRROR_MIRROR_URL): 'sqlite:///mirror.db' is a sqlite URL; the mirror is "
         "PostgreSQL"),
        ("ALMAMIRROR_MIRROR_URL", "postgresql+psycopg2://am:secret@db.example/am",
         "asks for the psycopg2 driver, which almamirror does not use"),
    ],
)
def test_a_database_almamirror_has_no_driver_for_is_a_configuration_line(
    variable: str, url: str, expected: str, test_home: Path, tmp_path: Path
) -> None:
    done = almamirror(environment(test_home, **{variable: url}), "sync")
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert line.startswith("almamirror: configuration: ")
    assert expected in line
    assert "secret" not in line
    assert done.stdout == ""


@pytest.mark.parametrize("kind", ["file", "unwritable"])
def test_an_almamirror_home_that_cannot_hold_the_server_is_one_line(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind == "file":
        home = tmp_path / "home-file"
        home.write_text("not a directory")
        expected = f"embedded.home (ALMAMIRROR_HOME) {home}: is a file, not a directory"
    else:
        # Permissions do not stop root; a file system that takes no new files stops everyone.
        home = Path("/sys/almamirror-home")
        expected = f"embedded.home (ALMAMIRROR_HOME) {home}: cannot write there ("
    monkeypatch.delenv("ALMAMIRROR_MIRROR_URL", raising=False)
    monkeypatch.setenv("ALMAMIRROR_HOME", str(home))
    assert main(["report", "runs"]) == 1
    assert one_line(capsys.readouterr().err).startswith(f"almamirror: configuration: {expected}")
    assert not (tmp_path / "home-file" / "pgdata").exists()


# --- migrations -----------------------------------------------------------------------------------------


def test_an_unknown_revision_is_a_usage_error_before_connecting(
    test_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A mirror that cannot be reached: the revision is refused before any connection is tried.
    cli_environment(monkeypatch, None, URL.create("postgresql+psycopg", host="/nonexistent", database="x"),
                    test_home)
    for direction in ("upgrade", "downgrade"):
        assert main(["db", direction, "nonexistent"]) == 2
        line = one_line(capsys.readouterr().err)
        assert line.startswith("almamirror: revision 'nonexistent': Can't locate revision")
        assert "known revisions: head, base, 0001" in line


def test_downgrade_base_needs_yes_without_a_terminal(
    mirror_db: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_environment(monkeypatch, None, mirror_db, test_home)
    assert main(["db", "downgrade", "base"]) == 2
    assert "drops every table of the mirror" in one_line(capsys.readouterr().err)
    engine = open_engine(mirror_db)
    try:
        assert migrations.current_revision(engine) == migrations.heads()[0]
        assert main(["-q", "db", "downgrade", "base", "--yes"]) == 0
        assert migrations.current_revision(engine) is None
    finally:
        engine.dispose()
    assert capsys.readouterr().out == ""


def test_downgrade_base_asks_on_a_terminal(mirror_db: URL, test_home: Path) -> None:
    env = environment(test_home, mirror_db)
    engine = open_engine(mirror_db)
    try:
        refused = run_in_terminal(
            ["db", "downgrade", "base"], env, stderr_to_terminal=True, answer=("Type 'yes'", "no")
        )
        assert refused.status == 1, refused.terminal
        assert "not confirmed; nothing was changed" in refused.terminal
        assert migrations.current_revision(engine) == migrations.heads()[0]
        confirmed = run_in_terminal(
            ["db", "downgrade", "base"], env, stderr_to_terminal=True, answer=("Type 'yes'", "yes")
        )
        assert confirmed.status == 0, confirmed.terminal
        assert "db downgrade: the mirror is at revision base" in confirmed.terminal
        assert migrations.current_revision(engine) is None
    finally:
        engine.dispose()


# --- psql ------------------------------------------------------------------------------------------------


def psql_executable() -> str:
    import pgserver._commands

    return str(Path(pgserver._commands.POSTGRES_BIN_PATH) / "psql")


def test_db_url_for_psql_has_no_driver_and_no_password_and_psql_takes_it(
    mirror_db: URL, test_home: Path
) -> None:
    with_password = mirror_db.set(password="not-printed")  # the test server trusts its socket
    done = almamirror(environment(test_home, with_password), "db", "url", "--psql")
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith("postgresql://")
    assert "+psycopg" not in url
    assert "not-printed" not in url
    assert "***" not in url
    answered = subprocess.run(
        [psql_executable(), url, "-Atc", "select current_database()"], capture_output=True, text=True,
        check=False, timeout=60,
    )
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.strip() == mirror_db.database


def test_db_psql_read_only_connects_as_the_reporting_role(mirror_db: URL, test_home: Path) -> None:
    env = environment(test_home, mirror_db)
    done = almamirror(env, "db", "psql", "--read-only", "--", "-Atc",
                      "select current_user, current_setting('default_transaction_read_only'), "
                      "(select count(*) from restorable_mous)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "almamirror_reader|on|0"
    refused = almamirror(env, "db", "psql", "--read-only", "--", "-c", "create table x (y int)")
    assert refused.returncode != 0
    assert "read-only transaction" in refused.stderr or "permission denied" in refused.stderr
    engine = open_engine(mirror_db)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("select to_regclass('x')")).scalar() is None
    finally:
        engine.dispose()


# --- output ---------------------------------------------------------------------------------------------


def test_a_reader_that_goes_away_ends_the_command_quietly(mirror_db: URL, test_home: Path) -> None:
    reader, writer = os.pipe()
    os.close(reader)  # like `| head` that has already read what it wanted
    try:
        done = subprocess.run(
            [sys.executable, "-m", "etl.cli", "report", "runs", "--format", "json"],
            env=environment(test_home, mirror_db), stdout=writer, stderr=subprocess.PIPE, text=True,
            check=False, timeout=120,
        )
    finally:
        os.close(writer)
    assert done.returncode == 141
    assert done.stderr == ""


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts_are_generated_from_the_parser(
    shell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for word in ("--all-restorable", "newly-restorable", "--newly-restorable", "downgrade", "--read-only"):
        assert word in script
    if shell == "zsh":
        assert script.startswith("#compdef almamirror")


def test_bash_completes_commands_and_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "almamirror.bash"
    script.write_text(capsys.readouterr().out)

    def complete(*words: str) -> list[str]:
        program = (
            f"source {script}; COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}; "
            'COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; _shtab_almamirror; '
            'printf "%s\\n" "${COMPREPLY[@]}"'
        )
        done = subprocess.run(["/bin/bash", "-c", program], capture_output=True, text=True, check=True)
        return done.stdout.split()

    assert complete("almamirror", "rep") == ["report"]
    assert complete("almamirror", "report", "newly") == ["newly-restorable"]
    assert "--newly-restorable" in complete("almamirror", "ppr", "--new")


def test_the_sync_writes_nothing_under_quiet(
    source_copy: URL, synced_mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    runs_before = scalar(synced_mirror, select(func.count()).select_from(table_of(SyncRun)))
    # A process of its own, as cron runs it: nothing from the whole interpreter, its start and exit too.
    done = almamirror(environment(test_home, synced_mirror, source_copy), "-q", "sync")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    # -q in its other places, in process: what the command writes on stdout and stderr.
    cli_environment(monkeypatch, source_copy, synced_mirror, test_home)
    for args in (["sync", "-q"], ["schedule", "--once", "-q"]):
        assert main(args) == 0, args
        assert capfd.readouterr() == ("", ""), args
    assert scalar(synced_mirror, select(func.count()).select_from(table_of(SyncRun))) == runs_before + 3
    # Without -q the summary is there, and --format json is printed under -q too: it was asked for.
    assert main(["sync"]) == 0
    assert re.search(r"sync run \d+: 0 row change\(s\)", capfd.readouterr().out)
    assert main(["-q", "sync", "--format", "json"]) == 0
    machine = capfd.readouterr()
    assert machine.out.startswith("{")
    assert machine.err == ""


def test_exit_codes_are_documented() -> None:
    readme = (PROJECT / "README.md").read_text()
    operations = (PROJECT / "docs" / "operations.md").read_text()
    for code in ("130", "141"):
        assert f"{code} " in readme or f"`{code}`" in readme
        assert code in operations



def test_quiet_is_quiet_on_a_terminal_too(source_copy: URL, synced_mirror: URL, test_home: Path) -> None:
    env = environment(test_home, synced_mirror, source_copy)
    quiet = run_in_terminal(["sync", "-q", "--full"], env, stderr_to_terminal=True)
    assert (quiet.status, quiet.terminal) == (0, "")
    talkative = run_in_terminal(["sync", "--full"], env, stderr_to_terminal=True)
    assert talkative.status == 0
    assert "mous_status" in talkative.terminal  # the progress lines and the summary table

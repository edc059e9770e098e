"""Secrets never printed, a read-only session that cannot be talked into writing, odd arguments refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from etl.cli import main
from tests.conftest import cli_environment, open_engine
from tests.etl.test_cli import almamirror, environment, one_line

HUGE = "99999999999999999999"


def test_db_url_for_psql_prints_no_secret_query_parameter(mirror_db: URL, test_home: Path) -> None:
    secret = mirror_db.update_query_dict({"password": "pw-in-query", "sslpassword": "key-secret"})
    done = almamirror(environment(test_home, secret), "db", "url", "--psql")
    assert done.returncode == 0, done.stderr
    assert "pw-in-query" not in done.stdout
    assert "key-secret" not in done.stdout
    assert done.stdout.startswith("postgresql://")


# Each -c is its own transaction, so the settings taken back hold for the write that follows.
UNDO = ("-c", "SET ROLE NONE", "-c", "SET default_transaction_read_only = off")
WRITES = (
    "INSERT INTO sync_lock DEFAULT VALUES",
    "DELETE FROM sync_run",
    "BEGIN READ WRITE; UPDATE sync_lock SET lock_id = lock_id; COMMIT",
)


@pytest.mark.parametrize("statement", WRITES)
def test_a_read_only_session_cannot_write_even_after_resetting_role_and_read_only(
    statement: str, mirror_db: URL, test_home: Path
) -> None:
    env = environment(test_home, mirror_db)
    done = almamirror(env, "db", "psql", "--read-only", "--", "-v", "ON_ERROR_STOP=1", *UNDO, "-c", statement)
    assert done.returncode != 0
    assert "permission denied" in done.stderr, done.stderr
    engine = open_engine(mirror_db)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("select count(*) from sync_lock")).scalar() == 1
    finally:
        engine.dispose()
    who = almamirror(env, "db", "psql", "--read-only", "--", *UNDO, "-Atc", "SELECT current_user")
    assert who.stdout.strip().splitlines()[-1] == "almamirror_reader", who.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["report", "changes", "--limit", HUGE], f"--limit {HUGE} is too large"),
        (["report", "runs", "--last", HUGE], f"--last {HUGE} is too large"),
        (["report", "changes", "--run", HUGE], f"--run {HUGE} is too large"),
    ],
)
def test_a_number_beyond_any_row_count_is_a_usage_line(
    args: list[str], expected: str, mirror_db: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # In process: what is checked is the argument's refusal, not anything of a process of its own.
    cli_environment(monkeypatch, None, mirror_db, test_home)
    status: int | str | None
    try:
        status = main(args)
    except SystemExit as exited:  # argparse's own exit, as the process would have made it
        status = exited.code
    assert status == 2
    assert expected in one_line(capsys.readouterr().err)


def test_a_config_file_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, test_home: Path) -> None:
    fifo = tmp_path / "settings.toml"
    os.mkfifo(fifo)
    for config in ("/dev/zero", str(fifo), str(tmp_path)):
        done = almamirror(environment(test_home), "--config", config, "report", "runs")
        assert done.returncode == 2, (config, done.stderr)
        assert f"config file {config} is not a regular file" in one_line(done.stderr)


def test_a_config_file_of_more_than_a_megabyte_is_refused(tmp_path: Path, test_home: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_text("# padding\n" * 200_000, "utf-8")
    done = almamirror(environment(test_home, ALMAMIRROR_CONFIG=str(big)), "report", "runs")
    assert done.returncode == 2
    assert "is larger than 1,048,576 bytes" in one_line(done.stderr)

"""The shrink guard: a source table that reads empty, or far smaller, stops the sync before any merge."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import URL

from etl.cli import main
from etl.demo.fixed_cases import FIXED_CASES
from etl.mirror import MousStatus, ProductFile, SyncRun, table_of
from etl.source.admin import init_source
from etl.source.contract import CONTRACT, contract_table
from tests.conftest import DatabaseFactory, cli_environment, open_engine
from tests.etl.sync.faults import cli_env, finish, locked, start, wait_for_lock_wait
from tests.helpers import connect, mirror_fingerprints, rows, scalar

runs = table_of(SyncRun)
products = contract_table(CONTRACT, "asa_product_files")
product_files = table_of(ProductFile)
status = table_of(MousStatus)


def last_run(mirror: URL) -> dict[str, object]:
    return dict(rows(mirror, select(runs).order_by(runs.c.run_id.desc()).limit(1))[0])


def source_count(source: URL) -> int:
    return int(scalar(source, select(func.count()).select_from(products)))


def sync_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], source: URL, mirror: URL,
    home: Path, *args: str,
) -> tuple[int, str]:
    cli_environment(monkeypatch, source, mirror, home)
    status_code = main(["-q", "sync", *args])
    return status_code, capsys.readouterr().err


def test_a_truncated_source_table_stops_the_sync_and_leaves_the_mirror_as_it_was(
    source_copy: URL, synced_mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before_count = source_count(source_copy)
    with connect(source_copy) as source:
        source.execute(text("TRUNCATE alma.asa_product_files"))
    before = mirror_fingerprints(synced_mirror)

    code, err = sync_cli(monkeypatch, capsys, source_copy, synced_mirror, test_home)

    assert code == 1
    message = err.splitlines()[-1]  # the line before it is the log's sync.failed
    assert message.startswith("almamirror: the shrink guard stopped the sync, nothing was merged: ")
    assert "source table asa_product_files" in message
    assert f"had {before_count:,} rows at the last successful sync (run 1) and reads 0 now" in err
    assert "--allow-shrink" in err
    assert mirror_fingerprints(synced_mirror) == before
    failed = last_run(synced_mirror)
    assert failed["status"] == "failed"
    assert "asa_product_files" in str(failed["error"])


def test_a_whole_empty_source_stops_the_sync(
    databases: DatabaseFactory, synced_mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``source init`` only: every table exists and none has a row."""
    empty = databases.create("empty_source")
    engine = open_engine(empty)
    try:
        init_source(engine, CONTRACT, "alma")
    finally:
        engine.dispose()
    before = mirror_fingerprints(synced_mirror)

    code, err = sync_cli(monkeypatch, capsys, empty, synced_mirror, test_home)

    assert code == 1
    for table in ("obs_unit_set_status", "aqua_execblock", "asa_product_files", "asa_delivery_status"):
        assert f"source table {table} had" in err
    assert mirror_fingerprints(synced_mirror) == before
    assert scalar(synced_mirror, select(func.count()).where(status.c.restorable)) > 0


def test_allow_shrink_accepts_a_real_mass_deletion(
    source_copy: URL, synced_mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with connect(source_copy) as source:
        source.execute(text("TRUNCATE alma.asa_product_files"))

    code, err = sync_cli(monkeypatch, capsys, source_copy, synced_mirror, test_home, "--allow-shrink")

    assert code == 0, err
    assert "sync.shrink_allowed" in err
    assert "asa_product_files" in err
    assert scalar(synced_mirror, select(func.count()).select_from(product_files)) == 0
    assert last_run(synced_mirror)["status"] == "succeeded"
    # The accepted figures are the new baseline: the next night is not stopped by them.
    assert sync_cli(monkeypatch, capsys, source_copy, synced_mirror, test_home)[0] == 0


def test_the_baseline_sync_is_exempt(
    source_copy: URL, mirror_db: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with connect(source_copy) as source:
        source.execute(text("TRUNCATE alma.asa_product_files"))
    code, err = sync_cli(monkeypatch, capsys, source_copy, mirror_db, test_home)
    assert code == 0, err
    assert last_run(mirror_db)["baseline"]


def _delete_products(source: URL, count: int) -> None:
    with connect(source) as connection:
        doomed = select(products.c.ngas_file_id).order_by(products.c.ngas_file_id).limit(count)
        connection.execute(delete(products).where(products.c.ngas_file_id.in_(doomed)))


def test_a_fall_by_more_than_half_and_more_than_1000_rows_stops_the_sync(
    source_copy: URL, synced_mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    total = source_count(source_copy)
    assert total > 1_100  # the small demo archive: the fall below is > 1,000 rows and > 50 %
    _delete_products(source_copy, 1_100)
    before = mirror_fingerprints(synced_mirror)
    code, err = sync_cli(monkeypatch, capsys, source_copy, synced_mirror, test_home)
    assert code == 1
    assert f"had {total:,} rows at the last successful sync (run 1) and reads {total - 1_100:,} now" in err
    assert mirror_fingerprints(synced_mirror) == before


def test_a_fall_of_at_most_1000_rows_is_a_busy_night_not_a_broken_source(
    source_copy: URL, synced_mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    total = source_count(source_copy)
    _delete_products(source_copy, 900)  # more than half of the table, but not more than 1,000 rows
    assert total / 2 < 900
    code, err = sync_cli(monkeypatch, capsys, source_copy, synced_mirror, test_home)
    assert code == 0, err
    assert scalar(synced_mirror, select(func.count()).select_from(product_files)) == total - 900


def test_source_max_shrink_sets_the_share(
    source_copy: URL, synced_mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    _delete_products(source_copy, 1_100)
    site = tmp_path / "site.toml"
    site.write_text("[source]\nmax_shrink = 0.9\n")
    monkeypatch.setenv("ALMAMIRROR_CONFIG", str(site))
    cli_environment(monkeypatch, source_copy, synced_mirror, test_home)
    monkeypatch.setenv("ALMAMIRROR_CONFIG", str(site))
    assert main(["-q", "sync"]) == 0, capsys.readouterr().err


def test_a_table_truncated_and_reloaded_while_the_sync_waits_for_it_is_caught(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    """TRUNCATE is not MVCC-safe: the sync's older snapshot reads the reloaded table as empty."""
    case = FIXED_CASES["seed_example"]
    before = mirror_fingerprints(synced_mirror)
    total = source_count(source_copy)
    with locked(source_copy, "LOCK alma.asa_product_files IN ACCESS EXCLUSIVE MODE") as holder:
        process = start(["sync", "--full"], cli_env(source_copy, synced_mirror, test_home))
        wait_for_lock_wait(source_copy, "almamirror-source", process)
        holder.execute(text("CREATE TEMPORARY TABLE kept AS SELECT * FROM alma.asa_product_files"))
        holder.execute(text("TRUNCATE alma.asa_product_files"))
        holder.execute(text("INSERT INTO alma.asa_product_files SELECT * FROM kept"))
    code, _out, err = finish(process)

    assert source_count(source_copy) == total  # the source holds every row again
    assert code == 1, err
    assert "source table asa_product_files" in err
    assert "reads 0 now" in err
    assert mirror_fingerprints(synced_mirror) == before
    assert scalar(synced_mirror, select(status.c.restorable).where(status.c.mous_uid == case.mous_uid))

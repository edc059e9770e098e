"""Bad source rows are quarantined: left out, the mirror's version kept, reported; the night lands."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import func, select, text
from sqlalchemy.engine import URL

from etl.cli import main
from etl.database import create_source_engine
from etl.demo.fixed_cases import FIXED_CASES
from etl.mirror import DataQualityIssue, ExecutionBlock, Project, SchedulingBlock, SyncRunTable, table_of
from etl.source.contract import CONTRACT, contract_table
from etl.sync.summary import write_summary
from tests.conftest import DatabaseFactory, cli_environment, settings_for
from tests.helpers import connect, mirror_fingerprints, rows, scalar, sync

execblocks = contract_table(CONTRACT, "aqua_execblock")
ebs = table_of(ExecutionBlock)
blocks = table_of(SchedulingBlock)
projects = table_of(Project)
issues = table_of(DataQualityIssue)
run_tables = table_of(SyncRunTable)

SEED = FIXED_CASES["seed_first"]
EB = SEED.expected_sessions[0][0]
OTHER_EB = SEED.expected_sessions[1][0]


def quarantined(mirror: URL) -> list[dict[str, Any]]:
    return [
        dict(row) for row in rows(
            mirror,
            select(issues).where(issues.c.kind == "quarantined_row", issues.c.resolved_run_id.is_(None)),
        )
    ]


def qa0(mirror: URL, eb_uid: str) -> str | None:
    return scalar(mirror, select(ebs.c.qa0_status).where(ebs.c.eb_uid == eb_uid))  # type: ignore[no-any-return]


def figures(mirror: URL, table: str) -> dict[str, Any]:
    latest = select(func.max(run_tables.c.run_id)).scalar_subquery()
    return dict(rows(mirror, select(run_tables).where(
        run_tables.c.run_id == latest, run_tables.c.table_name == table
    ))[0])


def change_another_eb(source: URL) -> None:
    """A good change in the same night, which must land."""
    with connect(source) as connection:
        connection.execute(
            execblocks.update().where(execblocks.c.execblockuid == OTHER_EB).values(qa0status="SemiPass")
        )


def test_a_repeated_key_is_left_out_with_all_its_rows_and_the_mirror_keeps_its_version(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    assert qa0(synced_mirror, EB) == "Pass"
    change_another_eb(source_copy)
    with connect(source_copy) as source:
        # A view that repeats a row, as a source view with a bad join does.
        source.execute(text("ALTER TABLE alma.aqua_execblock RENAME TO aqua_execblock_rows"))
        source.execute(text("CREATE TABLE alma.repeated (execblockuid text)"))
        source.execute(text("INSERT INTO alma.repeated VALUES (:eb)"), {"eb": EB})
        source.execute(text(
            "CREATE VIEW alma.aqua_execblock AS SELECT * FROM alma.aqua_execblock_rows UNION ALL "
            "SELECT rows.* FROM alma.aqua_execblock_rows AS rows JOIN alma.repeated USING (execblockuid)"
        ))
        source.execute(
            text("UPDATE alma.aqua_execblock_rows SET qa0status = 'Fail' WHERE execblockuid = :eb"),
            {"eb": EB},
        )

    summary = sync(source_copy, synced_mirror, test_home)

    assert qa0(synced_mirror, EB) == "Pass"  # neither of the two rows was taken, nor was it deleted
    assert qa0(synced_mirror, OTHER_EB) == "SemiPass"
    assert next(t for t in summary.tables if t.table == "execution_block").quarantined == 2
    assert figures(synced_mirror, "execution_block")["quarantined"] == 2
    printed = io.StringIO()
    write_summary(summary, "table", printed)
    assert "source rows quarantined (left out, the mirror's previous version kept): 2" in printed.getvalue()
    [issue] = quarantined(synced_mirror)
    assert issue["subject"] == f"aqua_execblock {EB}"
    assert "2 rows share the key" in issue["detail"]
    assert "execblockuid" in issue["detail"]
    assert "the mirror keeps its previous version" in issue["detail"]

    # ALMA fixes the view: the change lands and the finding is resolved.
    with connect(source_copy) as source:
        source.execute(text("DROP VIEW alma.aqua_execblock"))
        source.execute(text("ALTER TABLE alma.aqua_execblock_rows RENAME TO aqua_execblock"))
    sync(source_copy, synced_mirror, test_home)
    assert qa0(synced_mirror, EB) == "Fail"
    assert quarantined(synced_mirror) == []


def test_an_empty_key_is_left_out_and_reported_with_the_row(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    with connect(source_copy) as source:
        source.execute(
            execblocks.insert().values(execblockuid="", qa0status="Pass", obsprojectcode="2099.1.x")
        )
    change_another_eb(source_copy)
    count_before = scalar(synced_mirror, select(func.count()).select_from(ebs))

    sync(source_copy, synced_mirror, test_home)

    assert scalar(synced_mirror, select(func.count()).select_from(ebs)) == count_before
    assert qa0(synced_mirror, OTHER_EB) == "SemiPass"
    [issue] = quarantined(synced_mirror)
    assert issue["subject"].startswith("aqua_execblock without a key #")
    assert "the key (execblockuid) is NULL or empty" in issue["detail"]
    assert "2099.1.x" in issue["detail"]  # the row itself, so a person can find it


# (source table, key column, key, column, type change needed first, new value, shown value, why)
UNSTORABLE = [
    pytest.param("aqua_execblock", "execblockuid", EB, "starttime", None, "infinity", "'infinity'",
                 "is not a time", id="infinity"),
    pytest.param("aqua_execblock", "execblockuid", EB, "endtime", None, "10000-01-01 00:00:00",
                 "'10000-01-01 00:00:00'", "is not a time", id="year-10000"),
    pytest.param("bmmv_schedblock", "archive_uid", None, "execution_count", "text", "12x", "'12x'",
                 "12x", id="text-in-a-number"),
    pytest.param("bmmv_schedblock", "archive_uid", None, "execution_count", "numeric", "1000000000000",
                 "Decimal('1000000000000')", "out of range for the mirror's integer column",
                 id="number-too-large"),
]


@pytest.mark.parametrize(
    ("table", "key_column", "key", "column", "retype", "value", "shown", "why"), UNSTORABLE
)
def test_a_value_the_mirror_cannot_store_quarantines_its_row(
    source_copy: URL, synced_mirror: URL, test_home: Path, table: str, key_column: str, key: str | None,
    column: str, retype: str | None, value: str, shown: str, why: str,
) -> None:
    mirrored = ebs if table == "aqua_execblock" else blocks
    mirror_key = mirrored.c.eb_uid if table == "aqua_execblock" else mirrored.c.sb_uid
    if key is None:
        key = scalar(synced_mirror, select(func.min(mirror_key)))
    before = rows(synced_mirror, select(mirrored).where(mirror_key == key))
    target = sql.Identifier("alma", table)
    with connect(source_copy) as source:
        cursor = source.connection.driver_connection.cursor()  # type: ignore[union-attr]
        if retype is not None:
            cursor.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {}").format(
                target, sql.Identifier(column), sql.SQL(retype)))
        cursor.execute(
            sql.SQL("UPDATE {} SET {} = %s WHERE {} = %s").format(
                target, sql.Identifier(column), sql.Identifier(key_column)),
            (value, key),
        )
        assert cursor.rowcount == 1
    change_another_eb(source_copy)

    sync(source_copy, synced_mirror, test_home)

    assert rows(synced_mirror, select(mirrored).where(mirror_key == key)) == before  # kept, not deleted
    assert qa0(synced_mirror, OTHER_EB) == "SemiPass"
    [issue] = quarantined(synced_mirror)
    assert issue["subject"] == f"{table} {key}"
    assert f"{table}.{column} = {shown}: " in issue["detail"]
    assert why in issue["detail"]


def test_too_many_bad_rows_stop_the_sync_naming_the_table(
    source_copy: URL, synced_mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with connect(source_copy) as source:
        total = source.execute(select(func.count()).select_from(execblocks)).scalar_one()
        bad = source.execute(text(
            "UPDATE alma.aqua_execblock SET starttime = 'infinity' WHERE execblockuid IN "
            "(SELECT execblockuid FROM alma.aqua_execblock ORDER BY execblockuid LIMIT 20)"
        )).rowcount
    assert bad == 20
    assert bad > 0.01 * total
    before = mirror_fingerprints(synced_mirror)
    cli_environment(monkeypatch, source_copy, synced_mirror, test_home)

    assert main(["-q", "sync"]) == 1

    message = capsys.readouterr().err.splitlines()[-1]
    assert message.startswith(f"almamirror: source table aqua_execblock: 20 of its {total:,} rows are bad")
    assert "source.max_bad_rows" in message
    assert "nothing was merged" in message
    assert "aqua_execblock.starttime = 'infinity'" in message
    assert mirror_fingerprints(synced_mirror) == before


def test_source_max_bad_rows_sets_the_limit(
    source_copy: URL, synced_mirror: URL, test_home: Path, tmp_path: Path
) -> None:
    with connect(source_copy) as source:
        source.execute(text(
            "UPDATE alma.aqua_execblock SET starttime = 'infinity' WHERE execblockuid IN "
            "(SELECT execblockuid FROM alma.aqua_execblock ORDER BY execblockuid LIMIT 20)"
        ))
    site = tmp_path / "site.toml"
    site.write_text("[source]\nmax_bad_rows = 0.25\n")
    sync(source_copy, synced_mirror, test_home, ALMAMIRROR_CONFIG=str(site))
    assert len(quarantined(synced_mirror)) == 20


def test_text_that_is_not_utf8_in_a_sql_ascii_source_is_quarantined(
    databases: DatabaseFactory, mirror_db: URL, synced_mirror: URL, test_home: Path
) -> None:
    """A SQL_ASCII database declares no encoding: its UTF-8 text syncs, other bytes are bad values."""
    from etl.demo.fill import fill_demo_archive

    source = _sql_ascii_database(databases, "ascii_source")
    engine = create_source_engine(source, settings_for(source, None, test_home))
    try:
        fill_demo_archive(engine, CONTRACT, "alma", scale="small")
    finally:
        engine.dispose()
    plain = source.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, client_encoding="utf8") as connection:
        project = connection.execute("SELECT min(prj_archive_uid) FROM alma.bmmv_obsproject").fetchone()[0]  # type: ignore[index]
        # 'José' in LATIN1: the byte 0xe9 is no UTF-8.
        connection.execute(
            "UPDATE alma.bmmv_obsproject SET prj_name = convert_from('\\x4a6f73e9'::bytea, 'SQL_ASCII') "
            "WHERE prj_archive_uid = %s", (project,),
        )
        total = connection.execute("SELECT count(*) FROM alma.bmmv_obsproject").fetchone()[0]  # type: ignore[index]

    sync(source, mirror_db, test_home)

    assert scalar(mirror_db, select(func.count()).select_from(projects)) == total - 1
    [issue] = quarantined(mirror_db)
    assert issue["subject"] == f"bmmv_obsproject {project}"
    assert "bmmv_obsproject.prj_name = b'Jos\\xe9': bytes that are not UTF-8 text" in issue["detail"]
    # Its UTF-8 text arrives as written: the same as from the UTF8 demo source (synced_mirror).
    others = select(projects).where(projects.c.project_uid != project).order_by(projects.c.project_uid)
    from_ascii = rows(mirror_db, others)
    assert from_ascii == rows(synced_mirror, others)
    assert any(not str(row["pi_account"]).isascii() or not str(row["title"]).isascii() for row in from_ascii)


def _sql_ascii_database(databases: DatabaseFactory, name: str) -> URL:
    full = databases.prefix + name
    with databases._admin() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(full)))
        admin.execute(sql.SQL(
            "CREATE DATABASE {} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        ).format(sql.Identifier(full)))
    databases.created.append(full)
    return databases.url(name)

"""A value too long for the mirror's indexes is one bad row, and a server error is said as the server said it.

A btree index entry holds at most 2,704 bytes: a longer source value in an indexed mirror column
would fail the merge, and with it every night. It is quarantined instead, with a finding naming
table, key and column; and errors of the mirror's server that are not a lost connection are never
reported as one.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy import Table, select, text, update
from sqlalchemy.engine import URL

from etl.cli import main
from etl.demo.fixed_cases import FIXED_CASES
from etl.load.index_limits import BTREE_TUPLE_BYTES, HEADER_BYTES, text_limits
from etl.load.mapping import mirrored_tables
from etl.mirror import DataQualityIssue, ExecutionBlock, ProductFile, SyncRun, metadata, table_of
from etl.source.contract import CONTRACT, contract_table
from tests.conftest import cli_environment
from tests.helpers import connect, rows, scalar, sync

execblocks = contract_table(CONTRACT, "aqua_execblock")
products = contract_table(CONTRACT, "asa_product_files")
issues = table_of(DataQualityIssue)
runs = table_of(SyncRun)
ebs = table_of(ExecutionBlock)
files = table_of(ProductFile)
MAPPINGS = {mapping.name: mapping for mapping in mirrored_tables(CONTRACT)}


def long_value(size: int = 3000) -> str:
    """``size`` characters that do not compress: PostgreSQL cannot squeeze them into an index entry."""
    return secrets.token_urlsafe(size)[:size]


def widen(source: URL, table: Table, column: str) -> None:
    """The contract says VARCHAR(64) or (512); a site's source may allow longer (ALMA's allow 4000),
    and Oracle indexes hold about 6,400 bytes in an 8 kB block: the stand-in drops its key's index."""
    with connect(source) as connection:
        connection.execute(text(f"ALTER TABLE alma.{table.name} ALTER COLUMN {column} TYPE varchar(4000)"))
        connection.execute(text(f"ALTER TABLE alma.{table.name} DROP CONSTRAINT IF EXISTS {table.name}_pkey"))


def test_every_index_of_a_mirrored_table_fits_its_columns_limits() -> None:
    """The limits are decided from the index definitions: no index tuple can pass 2,704 bytes."""
    for table in metadata.sorted_tables:
        mapping = MAPPINGS.get(table.name)
        limits = text_limits(mapping) if mapping else {}
        for index in [table.primary_key, *table.indexes]:
            limited = [limits[column.name] for column in index.columns if column.name in limits]
            assert sum(limited) + HEADER_BYTES <= BTREE_TUPLE_BYTES, index
    assert set(text_limits(MAPPINGS["product_file"])) == {"mous_uid", "file_name"}
    assert text_limits(MAPPINGS["observing_session"]) == {}  # only an integer key


def test_a_value_too_long_for_an_index_is_quarantined_and_named(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    case = FIXED_CASES["seed_first"]
    eb_uid = case.expected_sessions[0][0]
    widen(source_copy, execblocks, "schedblockuid")
    widen(source_copy, products, "ngas_file_id")
    long_sb, long_file = long_value(), long_value()
    sb_before = scalar(synced_mirror, select(ebs.c.sb_uid).where(ebs.c.eb_uid == eb_uid))
    with connect(source_copy) as source:
        source.execute(
            update(execblocks).where(execblocks.c.execblockuid == eb_uid).values(schedblockuid=long_sb)
        )
        renamed = source.execute(
            update(products)
            .where(products.c.ngas_file_id == select(products.c.ngas_file_id)
                   .where(products.c.asa_ous_id == case.mous_uid)
                   .order_by(products.c.ngas_file_id).limit(1).scalar_subquery())
            .values(ngas_file_id=long_file)
            .returning(products.c.asa_ous_id)
        ).scalar_one()

    summary = sync(source_copy, synced_mirror, test_home)

    quarantined = {figures.table: figures.quarantined for figures in summary.tables if figures.quarantined}
    assert quarantined == {"execution_block": 1, "product_file": 1}
    # The EB keeps its previous version; the long file name is not in the mirror.
    assert scalar(synced_mirror, select(ebs.c.sb_uid).where(ebs.c.eb_uid == eb_uid)) == sb_before
    assert scalar(synced_mirror, select(files.c.file_name).where(files.c.file_name == long_file)) is None
    findings = {
        row["subject"]: row
        for row in rows(synced_mirror, select(issues).where(
            issues.c.kind == "quarantined_row", issues.c.resolved_run_id.is_(None)
        ))
    }
    eb_finding = findings[f"aqua_execblock {eb_uid}"]
    assert eb_finding["detail"].startswith(f"aqua_execblock.schedblockuid = '{long_sb[:60]}'… (3000 bytes): ")
    assert "3000 bytes, longer than the 880 bytes an index of the mirror can hold in execution_block.sb_uid" \
        in eb_finding["detail"]
    [file_subject] = [subject for subject in findings if subject.startswith("asa_product_files ")]
    assert file_subject.startswith(f"asa_product_files {renamed} {long_file[:60]}")
    assert "bytes, md5 " in file_subject
    assert len(file_subject.encode()) < 400
    assert "asa_product_files.ngas_file_id = " in findings[file_subject]["detail"]
    assert findings[file_subject]["mous_uid"] == case.mous_uid
    # The next night says the same, and still succeeds.
    again = sync(source_copy, synced_mirror, test_home)
    assert {f.table: f.quarantined for f in again.tables if f.quarantined} == quarantined


RAISE_FROM_TRIGGER = """
CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{message}' USING ERRCODE = '{code}';
END $$;
CREATE TRIGGER test_refuse BEFORE UPDATE ON execution_block FOR EACH ROW EXECUTE FUNCTION test_refuse();
"""


@pytest.mark.parametrize(
    ("code", "message", "said"),
    [
        ("disk_full", 'could not extend file "base/1/2": No space left on device',
         "the mirror's disk is full (could not extend file \"base/1/2\": No space left on device)"),
        ("program_limit_exceeded", "index row size 3016 exceeds the maximum 2704 for index x",
         "the mirror rejected the sync: index row size 3016 exceeds the maximum 2704 for index x"),
    ],
    ids=["disk_full", "program_limit"],
)
def test_a_server_error_is_not_called_a_lost_connection(
    source_copy: URL, synced_mirror: URL, test_home: Path, code: str, message: str, said: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """The server's own error, raised where the merge writes: the sync says what the server said.

    The sync runs in process: what is checked is its exit status and message, not the process."""
    with connect(synced_mirror) as mirror:
        mirror.execute(text(RAISE_FROM_TRIGGER.format(message=message, code=code)))
    eb_uid = FIXED_CASES["seed_first"].expected_sessions[0][0]
    with connect(source_copy) as source:
        source.execute(update(execblocks).where(execblocks.c.execblockuid == eb_uid).values(qa0status="Fail"))

    cli_environment(monkeypatch, source_copy, synced_mirror, test_home)
    capsys.readouterr()
    status = main(["sync"])
    stderr = capsys.readouterr().err

    assert status == 1
    assert "connection failed" not in stderr
    assert f"almamirror: {said}" in stderr
    last = rows(synced_mirror, select(runs).order_by(runs.c.run_id.desc()).limit(1))[0]
    assert last["status"] == "failed"
    assert said in last["error"]

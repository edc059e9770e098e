"""The COMMIT's answer lost with the connection: the sync says what the mirror recorded, not a guess.

Through a real ``almamirror sync`` whose mirror connection goes through a proxy that cuts the writing
transaction's connection at its COMMIT (tests/etl/sync/commit_proxy.py).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.engine import URL

from etl.demo.fixed_cases import FIXED_CASES
from etl.mirror import ExecutionBlock, SyncRun, table_of
from etl.source.contract import CONTRACT, contract_table
from tests.etl.sync.commit_proxy import CommitDropProxy
from tests.etl.sync.faults import cli_env, run
from tests.helpers import connect, rows, scalar

execblocks = contract_table(CONTRACT, "aqua_execblock")
runs = table_of(SyncRun)
ebs = table_of(ExecutionBlock)
# Only the writing transaction records its per-table figures: its COMMIT is the one to cut.
WRITING_TRANSACTION = b"INSERT INTO sync_run_table"


def fail_one_eb(source: URL) -> str:
    eb_uid = FIXED_CASES["seed_first"].expected_sessions[1][0]
    with connect(source) as connection:
        connection.execute(
            update(execblocks).where(execblocks.c.execblockuid == eb_uid).values(qa0status="Fail")
        )
    return eb_uid


def last_run(mirror: URL) -> dict[str, object]:
    return dict(rows(mirror, select(runs).order_by(runs.c.run_id.desc()).limit(1))[0])


def test_a_commit_whose_answer_is_lost_is_reported_as_the_success_it_was(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    eb_uid = fail_one_eb(source_copy)
    with CommitDropProxy(synced_mirror, WRITING_TRANSACTION, forward_commit=True) as proxy:
        result = run(["sync"], cli_env(source_copy, proxy.url_for(synced_mirror), test_home))
    assert proxy.dropped == 1
    assert result.returncode == 0, result.stderr
    assert "sync.failed" not in result.stderr
    assert "sync.commit_unacknowledged" in result.stderr
    run_record = last_run(synced_mirror)
    assert (run_record["status"], run_record["error"]) == ("succeeded", None)
    assert scalar(synced_mirror, select(ebs.c.qa0_status).where(ebs.c.eb_uid == eb_uid)) == "Fail"


def test_a_connection_lost_before_the_commit_arrives_is_a_failure(
    source_copy: URL, synced_mirror: URL, test_home: Path
) -> None:
    eb_uid = fail_one_eb(source_copy)
    with CommitDropProxy(synced_mirror, WRITING_TRANSACTION, forward_commit=False) as proxy:
        result = run(["sync"], cli_env(source_copy, proxy.url_for(synced_mirror), test_home))
    assert proxy.dropped == 1
    assert result.returncode == 1
    assert "sync.failed" in result.stderr
    assert "the mirror connection failed" in result.stderr
    assert last_run(synced_mirror)["status"] == "failed"
    assert scalar(synced_mirror, select(ebs.c.qa0_status).where(ebs.c.eb_uid == eb_uid)) == "Pass"

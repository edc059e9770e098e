"""``ppr --all-restorable --build DIR`` night after night: what is built stays built, only news is added."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import URL

from etl.cli import main
from etl.demo.fixed_cases import FIXED_CASES
from etl.mirror import MousStatus, SessionAssignment, SyncRun, table_of
from etl.restore.spool import MANIFEST_FILE
from ppr.layout import session_map_digest
from ppr.model import Session
from ppr.spool import built_requests
from tests.conftest import cli_environment
from tests.helpers import connect, rows

status = table_of(MousStatus)
assignment = table_of(SessionAssignment)
SEED = FIXED_CASES["seed_example"]


@pytest.fixture
def mirror(databases: Any, synced_template: str, request: pytest.FixtureRequest) -> URL:
    return databases.create(f"spool_{request.node.name[-20:]}", template=synced_template)


@pytest.fixture
def cli(mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch) -> URL:
    cli_environment(monkeypatch, None, mirror, test_home)
    return mirror


def build(spool: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["-q", "ppr", "--all-restorable", "--build", str(spool), "--format", "json", *extra]) == 0
    summary: dict[str, Any] = json.loads(capsys.readouterr().out)
    return summary


def request_directories(spool: Path) -> list[Path]:
    return sorted(path.parent for path in spool.rglob(MANIFEST_FILE))


def test_a_second_run_builds_nothing_and_says_so(
    cli: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = tmp_path / "spool"
    first = build(spool, capsys)
    assert first["written"]
    assert first["already_built"] == {}
    built = request_directories(spool)
    assert len(built) == len(first["written"])

    capsys.readouterr()
    assert main(["ppr", "--all-restorable", "--build", str(spool)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ppr: 0 new, {len(built):,} already built under {spool}\n")
    assert request_directories(spool) == built  # no duplicate request folders

    again = build(spool, capsys)
    assert again["written"] == []
    assert sorted(again["already_built"].values()) == [str(path) for path in built]


def test_a_request_is_recognised_by_its_mous_and_session_map(
    cli: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = tmp_path / "spool"
    build(spool, capsys)
    seed_name = SEED.mous_uid.split("/")[-1]
    [seed_request] = [path for path in request_directories(spool) if path.name.endswith(f"_{seed_name}")]
    manifest = json.loads((seed_request / MANIFEST_FILE).read_text())
    sessions = [Session(n, tuple(uids)) for n, uids in enumerate(SEED.expected_sessions, start=1)]
    assert manifest["session_map_sha256"] == session_map_digest(sessions)
    # EB order within a session does not matter to the pipeline, nor to the digest.
    assert session_map_digest([Session(s.number, tuple(reversed(s.eb_uids))) for s in sessions]) == \
        manifest["session_map_sha256"]

    # A manifest written before the digest existed is recognised by reading its PPR.
    del manifest["session_map_sha256"]
    (seed_request / MANIFEST_FILE).write_text(json.dumps(manifest))
    assert built_requests(spool)[(SEED.mous_uid, session_map_digest(sessions))] == seed_request

    # A changed session map is news: a new request, the older one kept.
    with connect(cli) as connection:
        connection.execute(
            update(assignment)
            .where(assignment.c.mous_uid == SEED.mous_uid, assignment.c.session_number == 15)
            .values(session_number=14)
        )
    rebuilt = build(spool, capsys)
    assert rebuilt["new_session_map"] == [SEED.mous_uid]
    assert len(rebuilt["written"]) == 1
    assert seed_request.is_dir()


def test_newly_restorable_and_since_build_only_what_became_restorable(
    cli: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    with connect(cli) as connection:
        # A later nightly run made only the seed MOUS restorable; the others date from a month ago.
        connection.execute(insert(table_of(SyncRun)).values(
            run_id=2, started_at=now - timedelta(hours=2), finished_at=now - timedelta(hours=1),
            status="succeeded", full=False, baseline=False, host="test", pid=1, source="test",
        ))
        connection.execute(
            update(status).where(status.c.restorable_since.is_not(None))
            .values(restorable_since=now - timedelta(days=30))
        )
        connection.execute(
            update(status).where(status.c.mous_uid == SEED.mous_uid)
            .values(restorable_since=now - timedelta(hours=2), restorable_since_run_id=2)
        )
    newly = build(tmp_path / "newly", capsys, "--newly-restorable")
    assert len(newly["written"]) == 1
    assert SEED.mous_uid.replace("uid://", "uid___").replace("/", "_") in newly["written"][0]
    recent = build(tmp_path / "recent", capsys, "--since", "24h")
    assert len(recent["written"]) == 1
    month = build(tmp_path / "month", capsys, "--since", "40d")
    restorable = rows(cli, select(status.c.mous_uid).where(status.c.restorable_since.is_not(None)))
    assert len(month["written"]) + len(month["refused"]) == len(restorable)


def test_newly_restorable_is_for_all_restorable_only(
    cli: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ppr", SEED.mous_uid, "--newly-restorable"]) == 2
    assert "use them with --all-restorable" in capsys.readouterr().err
    assert main(["ppr", "--all-restorable", "--build", str(tmp_path), "--since", "2026-11-31"]) == 2
    assert "is not a valid date: day is out of range for month" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []

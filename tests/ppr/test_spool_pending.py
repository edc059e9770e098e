"""``--pending``: the nightly spool gets every restorable, public MOUS exactly once, also one whose
release date passed long after it became restorable; a claw-back is named, not hidden."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import URL

from etl.cli import main
from etl.mirror import MousStatus, table_of
from etl.report.views import restorable_mous
from tests.conftest import cli_environment
from tests.helpers import connect, rows

status = table_of(MousStatus)


@pytest.fixture
def mirror(databases: Any, synced_template: str, request: pytest.FixtureRequest) -> URL:
    url: URL = databases.create(f"pending_{request.node.name[-20:]}", template=synced_template)
    return url


@pytest.fixture
def cli(mirror: URL, test_home: Path, monkeypatch: pytest.MonkeyPatch) -> URL:
    cli_environment(monkeypatch, None, mirror, test_home)
    return mirror


def build(spool: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["ppr", "--all-restorable", "--build", str(spool), "--format", "json", *extra]) == 0
    summary: dict[str, Any] = json.loads(capsys.readouterr().out)
    return summary


def release(mirror: URL, mous_uid: str, when: datetime) -> None:
    """Move a MOUS's release date: as time passing (or an embargo extended) would."""
    with connect(mirror) as connection:
        connection.execute(update(status).where(status.c.mous_uid == mous_uid).values(release_date=when))


def a_public_restorable_mous(mirror: URL) -> str:
    view = restorable_mous
    found = rows(mirror, select(view.c.mous_uid).where(view.c.restorable, view.c.proprietary.is_(False))
                 .order_by(view.c.mous_uid).limit(1))
    return str(found[0]["mous_uid"])


def test_a_mous_released_after_it_became_restorable_is_built_once_on_the_night_it_is_public(
    cli: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = tmp_path / "spool"
    mous_uid = a_public_restorable_mous(cli)
    now = datetime.now(UTC)
    with connect(cli) as connection:  # restorable for a year, proprietary until next month
        connection.execute(update(status).where(status.c.mous_uid == mous_uid)
                           .values(restorable_since=now - timedelta(days=365)))
    release(cli, mous_uid, now + timedelta(days=30))

    first = build(spool, capsys, "--pending")
    assert mous_uid in first["awaiting_release"]
    assert "proprietary" not in first["refused_by_reason"]  # counted, not refused
    assert not any(mous_uid.replace("/", "_").replace(":", "_") in path for path in first["written"])

    release(cli, mous_uid, now - timedelta(hours=1))  # its release date passed since the last run
    # Selecting on restorable_since would never choose it again: it became restorable long ago.
    assert build(spool, capsys, "--since", "7d")["written"] == []
    second = build(spool, capsys, "--pending")
    assert len(second["written"]) == 1
    assert second["written"][0].endswith("MOUS_" + mous_uid.replace(":", "_").replace("/", "_"))
    assert mous_uid not in second["awaiting_release"]
    third = build(spool, capsys, "--pending")
    assert third["written"] == []  # exactly once
    assert mous_uid in third["already_built"]


def test_a_claw_back_names_the_request_that_must_not_run(
    cli: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = tmp_path / "spool"
    mous_uid = a_public_restorable_mous(cli)
    built = build(spool, capsys, "--pending")
    assert built["no_longer_public"] == {}
    release(cli, mous_uid, datetime.now(UTC) + timedelta(days=365))  # the embargo was extended

    capsys.readouterr()
    assert main(["ppr", "--all-restorable", "--pending", "--build", str(spool)]) == 0
    out, err = capsys.readouterr()
    assert "no longer public 1: their requests are in" in out
    assert "do not run them" in out
    assert "ppr.no_longer_public" in err
    assert mous_uid in err
    as_json = build(spool, capsys, "--pending")
    assert list(as_json["no_longer_public"]) == [mous_uid]


def test_pending_needs_all_restorable(cli: URL, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ppr", "uid://A001/X129e/Xb6", "--pending"]) == 2
    assert "--pending" in capsys.readouterr().err

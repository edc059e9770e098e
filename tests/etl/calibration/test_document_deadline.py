"""The sync's document step ends by its time budget, whatever the archive does (a stalled body)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.engine import URL

from etl.mirror import CalibrationDocument, table_of
from tests.etl.ngas.conftest import StandInFactory
from tests.helpers import connect, rows, sync

# Both tests bound the step's wall time.
pytestmark = pytest.mark.alone

documents = table_of(CalibrationDocument)
BUDGET_SECONDS = 3.0


def test_the_document_budget_is_a_hard_bound_on_the_step(
    synced_mirror: URL, demo_source: URL, test_home: Path, tmp_path: Path, stand_in_factory: StandInFactory,
) -> None:
    with connect(synced_mirror) as connection:
        connection.execute(delete(documents).where(documents.c.file_id.like("%pipeline_manifest.xml")))
    # Every body stops half way for 30 s: less than read_timeout (60 s), so no read ever times out.
    ngas = stand_in_factory("--fault", "stall=100", "--stall-seconds", "30")
    budget = tmp_path / "budget.toml"
    budget.write_text(f"[archive]\ndocument_time_budget = {BUDGET_SECONDS}\n")
    started = time.monotonic()
    summary = sync(demo_source, synced_mirror, test_home, ALMAMIRROR_NGAS_URL=ngas.url,
                   ALMAMIRROR_CONFIG=str(budget))
    assert summary.documents.seconds < BUDGET_SECONDS + 1.5, summary.documents.seconds
    assert time.monotonic() - started < 60
    assert summary.documents.fetched == 0
    assert "time budget of 3 s" in (summary.documents.stopped or "")
    states = {row["state"] for row in rows(synced_mirror, select(documents.c.state).where(
        documents.c.file_id.like("%pipeline_manifest.xml")
    ))}
    assert states == {"unavailable"}


def test_an_archive_refusing_every_connection_stops_the_step_at_once(
    mirror_db: URL, demo_source: URL, test_home: Path, tmp_path: Path, stand_in_factory: StandInFactory,
) -> None:
    down = stand_in_factory("--stopped", "1", "--stopped", "2")
    config = tmp_path / "down.toml"
    config.write_text("[archive]\nretries = 0\n")
    summary = sync(demo_source, mirror_db, test_home, ALMAMIRROR_NGAS_URL=down.url,
                   ALMAMIRROR_CONFIG=str(config))
    assert summary.documents.fetched == 0
    assert summary.documents.unavailable == summary.documents.listed
    assert "every NGAS server refused connections" in (summary.documents.stopped or "")
    # Stopped at the first answers: not one connection attempt per listed document.
    assert summary.documents.seconds < 10

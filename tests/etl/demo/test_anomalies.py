"""The demo archive holds every structure and anomaly the ETL and the restore must handle."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from etl.demo.scales import DEMO_AS_OF
from tests.conftest import DatabaseFactory, open_engine
from tests.etl.demo.anomalies import missing_features
from tests.etl.demo.conftest import fill


def test_small_archive_has_every_feature(small_engine: Engine) -> None:
    with small_engine.connect() as connection:
        assert missing_features(connection, DEMO_AS_OF) == []


def test_medium_archive_has_every_feature(medium_engine: Engine) -> None:
    with medium_engine.connect() as connection:
        assert missing_features(connection, DEMO_AS_OF) == []


@pytest.mark.slow
def test_alma_archive_has_every_feature(databases: DatabaseFactory, test_home: Path) -> None:
    started = time.monotonic()
    url = fill(databases, "source_alma", test_home, "alma")
    filled = time.monotonic() - started
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            assert missing_features(connection, DEMO_AS_OF) == []
    finally:
        engine.dispose()
        databases.drop("source_alma")
    print(f"alma archive filled in {filled:.0f} s, checked in {time.monotonic() - started - filled:.0f} s")

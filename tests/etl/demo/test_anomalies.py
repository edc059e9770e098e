"""The demo archive holds every structure and anomaly the ETL and the restore must handle.

The ``alma`` scale's check takes minutes to fill: it is ``bench/demo_features.py``, run at the small
scale by tests/bench/test_bench_scripts.py so that it cannot rot.
"""

from __future__ import annotations

from sqlalchemy import Engine

from etl.demo.scales import DEMO_AS_OF
from tests.etl.demo.anomalies import missing_features


def test_small_archive_has_every_feature(small_engine: Engine) -> None:
    with small_engine.connect() as connection:
        assert missing_features(connection, DEMO_AS_OF) == []


def test_medium_archive_has_every_feature(medium_engine: Engine) -> None:
    with medium_engine.connect() as connection:
        assert missing_features(connection, DEMO_AS_OF) == []

"""Fixtures of the ppr tests: no database, only hand-built requests and the seed's example PPR."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree
from sqlalchemy.engine import URL

from etl.settings import PprSettings, load_settings
from tests.ppr.examples import seed_example_xml


@pytest.fixture(scope="session")
def site() -> PprSettings:
    """The [ppr] defaults of config/almamirror.toml, untouched by this machine's environment."""
    return load_settings(environ={}).ppr


@pytest.fixture(scope="session")
def seed_xml() -> bytes:
    """The seed's example restore PPR (tests/ppr/seed_example.xml)."""
    return seed_example_xml()


@pytest.fixture
def seed_tree(seed_xml: bytes) -> etree._Element:
    return etree.fromstring(seed_xml)


@pytest.fixture(scope="session")
def fetch_mirror(databases: Any, synced_template: str) -> URL:
    """A copy of the synced mirror for the tests of ``ppr --build``, ``--fetch`` and ``fetch``, which
    only read it (no command of theirs writes a row): one copy for the run, not one per test."""
    return databases.create("ppr_fetch_read", template=synced_template)


# The stand-in NGAS fixtures of the client's tests, for the fetch's.
from tests.etl.ngas.conftest import shared_stand_in, stand_in, stand_in_factory  # noqa: E402, F401

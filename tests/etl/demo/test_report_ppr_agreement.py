"""On every MOUS of the demo archive, ``report restorable`` and ``ppr`` agree (tests/agreement.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL

from etl.demo.fixed_cases import FIXED_CASES
from etl.mirror.reasons import REASON_CODES
from etl.mirror.views import restorable_mous
from etl.settings import PprSettings, load_settings
from ppr.service import generate_ppr
from tests.agreement import disagreements
from tests.conftest import DatabaseFactory, open_engine
from tests.helpers import sync


@pytest.fixture(scope="module")
def site() -> PprSettings:
    return load_settings(environ={}).ppr


@pytest.fixture(scope="module")
def small_mirror(databases: DatabaseFactory, synced_template: str) -> URL:
    return databases.create("agree_small", template=synced_template)


def test_report_and_ppr_agree_on_every_mous_of_the_small_demo_archive(
    small_mirror: URL, site: PprSettings, scratch: Path
) -> None:
    assert disagreements(small_mirror, site, scratch) == []
    # Synced against the stand-in NGAS, the small archive refuses for every reason, the archive's
    # record's two included: each refusal above was compared.
    engine = open_engine(small_mirror)
    try:
        with engine.connect() as connection:
            codes = set(connection.execute(select(restorable_mous.c.reason_code).distinct()).scalars())
    finally:
        engine.dispose()
    assert codes == {None, *REASON_CODES}


def test_a_resubmitted_project_takes_the_pi_of_its_proposal_that_has_one(
    small_mirror: URL, site: PprSettings
) -> None:
    """Its earliest proposal row has no PI: the report and the PPR both name the later one's."""
    case = FIXED_CASES["resubmitted_project"]
    engine = open_engine(small_mirror)
    try:
        with engine.connect() as connection:
            view = restorable_mous
            pi, cycle = connection.execute(
                select(view.c.pi, view.c.cycle).where(view.c.mous_uid == case.mous_uid)
            ).one()
            generated = generate_ppr(connection, case.mous_uid, site, allow_proprietary=True)
    finally:
        engine.dispose()
    assert (pi, cycle) == ("Ingrid Halvorsen", "2018.1")
    assert generated.request.pi_name == "Ingrid Halvorsen"
    assert b"<PIName>Ingrid Halvorsen</PIName>" in generated.document


@pytest.mark.slow
@pytest.mark.long
def test_report_and_ppr_agree_on_every_mous_of_the_medium_demo_archive(
    databases: DatabaseFactory, migrated_template: str, medium_source: URL, test_home: Path,
    site: PprSettings, scratch: Path,
) -> None:
    mirror = databases.create("agree_medium", template=migrated_template)
    sync(medium_source, mirror, test_home)
    assert disagreements(mirror, site, scratch) == []

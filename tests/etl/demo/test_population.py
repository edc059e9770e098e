"""The random population alone (fixed cases excluded) has ALMA-like proportions and its own UIDs."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import Connection, Engine, text

from etl.demo.fill import demo_projects
from etl.demo.fixed_cases import FIXED_CASES, build_fixed_projects
from etl.demo.model import Project
from etl.demo.scales import DEMO_AS_OF, SCALES
from etl.demo.uids import POPULATION_FIRST_RANGE
from tests.etl.demo.anomalies import empty_session_positions

REAL_RANGE = 0xFE00  # uid://A001/Xfe00/… of etl/demo/real_mous.py

# Two fixed cases' UIDs end in a space (eb_uid_trailing_space, sb_status_uid_trailing_space).
A001_RANGE = re.compile(r"^uid://A001/X([0-9a-f]+)/X[0-9a-f]+ ?$")
A002_RANGE = re.compile(r"^uid://A002/X([0-9a-f]+)/X[0-9a-f]+ ?$")


def fixed_mous_uids() -> list[str]:
    return [mous.uid for project in build_fixed_projects()[0] for mous in project.mouses()]


def population_share(connection: Connection, query: str) -> float:
    return float(connection.execute(text(query), {"fixed": fixed_mous_uids()}).scalar_one())


POPULATION_EBS = """
    FROM alma.aqua_execblock e JOIN alma.bmmv_schedblock b ON b.archive_uid = e.schedblockuid
    WHERE b.mous_status_uid <> ALL(:fixed)
"""


@pytest.mark.parametrize(
    ("what", "query", "low", "high"),
    [
        ("QA0 Pass", "SELECT avg((qa0status = 'Pass')::int)" + POPULATION_EBS, 0.80, 0.90),
        ("QA0 SemiPass", "SELECT avg((qa0status = 'SemiPass')::int)" + POPULATION_EBS, 0.04, 0.10),
        ("QA0 Fail", "SELECT avg((qa0status = 'Fail')::int)" + POPULATION_EBS, 0.05, 0.11),
        ("NULL EB end", "SELECT avg((endtime IS NULL)::int)" + POPULATION_EBS, 0.003, 0.025),
        ("12-m MOUS", "SELECT avg((requestedarray = 'TWELVE-M')::int) FROM alma.bmmv_schedblock "
                      "WHERE mous_status_uid <> ALL(:fixed)", 0.52, 0.68),
        ("7-m MOUS", "SELECT avg((requestedarray IN ('SEVEN-M', 'ACA'))::int) FROM alma.bmmv_schedblock "
                     "WHERE mous_status_uid <> ALL(:fixed)", 0.18, 0.32),
        ("TP MOUS", "SELECT avg((requestedarray = 'TP-Array')::int) FROM alma.bmmv_schedblock "
                    "WHERE mous_status_uid <> ALL(:fixed)", 0.10, 0.20),
        ("EBs per MOUS", "SELECT count(*)::float / 1965" + POPULATION_EBS, 2.6, 3.5),
        ("product files per MOUS", "SELECT count(*)::float / 1965 FROM alma.asa_product_files "
                                   "WHERE asa_ous_id <> ALL(:fixed)", 25, 36),
        ("non-ASCII PI", "SELECT avg((octet_length(pi_fullname) > char_length(pi_fullname))::int) "
                         "FROM alma.bmmv_obsproposal", 0.05, 0.16),
        ("EB with several shift-log rows", """
            SELECT avg((n > 1)::int) FROM (SELECT count(*) AS n FROM alma.shiftlog_entries l
            JOIN alma.bmmv_schedblock b ON b.archive_uid = l.se_sb_id
            WHERE b.mous_status_uid <> ALL(:fixed) GROUP BY l.se_eb_uid) s""", 0.03, 0.07),
        ("Deleted MOUS", "SELECT count(*) FROM alma.obs_unit_set_status WHERE domain_entity_state = "
                         "'Deleted' AND status_entity_id <> ALL(:fixed)", 3, 25),
        ("NULL status XML", "SELECT count(*) FROM alma.aqua_ous q JOIN alma.obs_unit_set_status o "
                            "ON o.status_entity_id = q.ous_status_entity_id WHERE o.xml IS NULL "
                            "AND q.ous_status_entity_id <> ALL(:fixed)", 8, 40),
        ("MOUS with two SBs", """SELECT count(*) FROM (SELECT mous_status_uid FROM alma.bmmv_schedblock
            WHERE mous_status_uid <> ALL(:fixed) GROUP BY 1 HAVING count(*) = 2) s""", 2, 25),
        ("released NULL", "SELECT count(*) FROM alma.asa_delivery_status WHERE release_date IS NULL "
                          "AND id >= 100000", 5, 40),
        ("released after as_of", "SELECT count(*) FROM alma.asa_delivery_status "
                                 "WHERE release_date > '2026-11-01' AND id >= 100000", 50, 500),
        ("not yet processed", """SELECT count(*) FROM alma.obs_unit_set_status WHERE domain_entity_state IN
            ('FullyObserved', 'ReadyForProcessing', 'Processing', 'ProcessingProblem', 'ReadyForReview')
            AND status_entity_id <> ALL(:fixed)""", 20, 200),
    ],
)
def test_medium_population_proportions(
    what: str, query: str, low: float, high: float, medium_engine: Engine
) -> None:
    with medium_engine.connect() as connection:
        value = population_share(connection, query)
    assert low <= value <= high, f"{what}: {value}"


def test_medium_population_has_empty_sessions_everywhere(medium_engine: Engine) -> None:
    # The rule's empty sessions at the start, middle and end also arise by chance, not only by design.
    with medium_engine.connect() as connection:
        connection.execute(
            text("DELETE FROM alma.bmmv_schedblock WHERE mous_status_uid = ANY(:fixed)"),
            {"fixed": fixed_mous_uids()},
        )
        positions = empty_session_positions(connection)
        connection.rollback()
    assert positions == {"start", "middle", "end"}


def test_scales_count_member_ouses() -> None:
    for spec in SCALES.values():
        if spec.name == "alma":
            continue
        mouses = sum(len(project.mouses()) for project in demo_projects(spec, 7, DEMO_AS_OF))
        assert mouses == spec.mous_count


def test_population_uids_stay_clear_of_fixed_cases() -> None:
    fixed_ranges, fixed_ebs = set(), set()
    for project in build_fixed_projects()[0]:
        fixed_ranges |= _a001_ranges(project)
        fixed_ebs |= {_eb_range(eb.uid) for mous in project.mouses() for eb in mous.all_ebs()}
    # The real calibration's own UIDs (A001 range Xfe00) lie far above any range the population reaches.
    fixed_ranges.discard(REAL_RANGE)
    fixed_count = len(fixed_mous_uids())
    population = list(demo_projects(SCALES["medium"], 99, DEMO_AS_OF))[len(build_fixed_projects()[0]):]
    assert fixed_count == len(FIXED_CASES) + 1  # plus one supporting 7-m MOUS
    for project in population:
        ranges = _a001_ranges(project)
        assert min(ranges) >= POPULATION_FIRST_RANGE > max(fixed_ranges)
        assert max(ranges) < REAL_RANGE
        assert not {_eb_range(eb.uid) for mous in project.mouses() for eb in mous.all_ebs()} & fixed_ebs


def test_as_of_is_the_generators_now() -> None:
    # Nothing is observed, delivered or proposed after the generator's "now" (the wall clock is unused).
    as_of = datetime(2020, 1, 1)
    population = list(demo_projects(SCALES["medium"], 11, as_of))[len(build_fixed_projects()[0]):]
    mouses = [mous for project in population for mous in project.mouses()]
    assert max(project.cycle.code for project in population) == "2019.1"
    assert max(eb.start for mous in mouses for eb in mous.all_ebs()) < as_of
    assert max(mous.delivery.delivered for mous in mouses if mous.delivery is not None) <= as_of
    assert any(mous.state == "Ready" for mous in mouses)


def _a001_ranges(project: Project) -> set[int]:
    ranges = set()
    for uid in _a001_uids(project):
        match = A001_RANGE.match(uid)
        assert match is not None, uid
        ranges.add(int(match.group(1), 16))
    return ranges


def _eb_range(uid: str) -> int:
    match = A002_RANGE.match(uid)
    assert match is not None, uid
    return int(match.group(1), 16)


def _a001_uids(project: Project) -> list[str]:
    """Every A001 UID of a project: its documents, OUS statuses and SBs."""
    uids = [project.obsproject_uid, project.proposal_uid, project.status_uid, project.root_uid]
    for goal in project.goals:
        uids += [goal.sous_uid, goal.gous_uid]
        for mous in goal.mouses:
            uids.append(mous.uid)
            uids += [uid for sb in mous.sbs for uid in (sb.uid, sb.status_uid)]
    return uids

"""Hand-built restore requests for the ppr tests, and the example PPR of the "What are Sessions?" seed."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ppr.model import ProductFile, RestoreRequest, Session

# The example restore PPR of the "What are Sessions?" seed document (seeds/002_addcd2bdd8a02eb3.txt of
# the team's shared workspace), cut from its "<?xml" to its closing </ns2:SciPipeRequest>, byte for byte:
# kept here so that the tests need nothing beside the checkout.
SEED_EXAMPLE = Path(__file__).with_name("seed_example.xml")
SEED_CREATED = datetime(2019, 2, 9, 4, 55, 7, tzinfo=UTC)
SEED_RELATIVE_PATH = "uid___A002_Xc790bf_X608a_2017_12_06_T15_44_53.474"

# The seed example's mapping: 16 QA0 Pass EBs in 15 sessions, SESSION_13 holding two.
SEED_SESSIONS: dict[int, tuple[str, ...]] = {
    1: ("uid://A002/Xc733ea/X179e",),
    2: ("uid://A002/Xc73dee/X798",),
    3: ("uid://A002/Xc74b5b/X644d",),
    4: ("uid://A002/Xc75eba/X9aa",),
    5: ("uid://A002/Xc75eba/X54db",),
    6: ("uid://A002/Xc772ca/Xaaf",),
    7: ("uid://A002/Xc772ca/X1f5f",),
    8: ("uid://A002/Xc77d4f/X109",),
    9: ("uid://A002/Xc77d4f/X522",),
    10: ("uid://A002/Xc77d4f/X3d06",),
    11: ("uid://A002/Xc77d4f/X46ca",),
    12: ("uid://A002/Xc77d4f/X4d4d",),
    13: ("uid://A002/Xc790bf/X1201", "uid://A002/Xc790bf/X3e2"),
    14: ("uid://A002/Xc790bf/X5bf1",),
    15: ("uid://A002/Xc790bf/X608a",),
}

MOUS = "uid://A001/X129e/Xb6"
MOUS_DISK = "uid___A001_X129e_Xb6"


def sessions_of(mapping: Mapping[int, Sequence[str]]) -> tuple[Session, ...]:
    return tuple(Session(number, tuple(uids)) for number, uids in mapping.items())


def seed_request(**changes: Any) -> RestoreRequest:
    """The seed example's MOUS (2017.1.00895.S), as the mirror would describe it."""
    request = RestoreRequest(
        mous_uid=MOUS,
        project_code="2017.1.00895.S",
        project_title=None,
        pi_name="Elisabeth Mills",
        obs_project_uid="uid://A001/X1220/Xa74",
        ous_part_id="X1541554216",
        project_status_uid="uid://A001/X1220/Xa78",
        sous_uid="uid://A001/X129e/Xb4",
        gous_uid="uid://A001/X129e/Xb5",
        sb_uid="uid://A001/X129e/Xb2",
        sb_status_uid="uid://A001/X129e/Xb7",
        sb_title=None,
        array="12m",
        sessions=sessions_of(SEED_SESSIONS),
        products=(
            ProductFile(f"member.{MOUS_DISK}.session_1.caltables.tgz", "caltables", 1, 1_000),
            ProductFile(f"{MOUS_DISK}.session_13.caltables.tar.gz", "caltables", 13, 2_000),
            ProductFile("uid___A002_Xc733ea_X179e.ms.flagversions.tgz", "flagversions", None, 300),
            ProductFile("member.uid___A002_Xc733ea_X179e.ms.calapply.txt", "calapply", None, None),
            ProductFile(f"member.{MOUS_DISK}.hifa_calimage.pipeline_manifest.xml", "manifest", None, 40),
        ),
    )
    return dataclasses.replace(request, **changes)


def small_request(mapping: Mapping[int, Sequence[str]], **changes: Any) -> RestoreRequest:
    """The seed's MOUS with another session mapping (and any other field changed)."""
    return seed_request(sessions=sessions_of(mapping), products=(), **changes)


def seed_example_xml() -> bytes:
    """The seed document's example PPR."""
    return SEED_EXAMPLE.read_bytes()

"""The four MOUSes named in the project's seed documents, with their real UIDs.

- ``seed_example``: the example restore PPR (16 EBs in 15 sessions) of the "What are Sessions?" page.
- ``seed_first``: the first test data set of the OUS notes (4 EBs, 3 sessions).
- ``empty_first_session`` and ``null_stop_time``: two "other test sets" whose restores failed, for an
  empty first session and a NULL stop time.
Times are invented where the documents are silent, in the order the documents imply.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from etl.demo.case_plans import (
    CaseFacts,
    EbPlan,
    GoalPlan,
    MousPlan,
    ProjectPlan,
    SessionPlan,
)
from etl.demo.model import FAIL


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _single(uid: str, start: str, minutes: float = 48) -> SessionPlan:
    return SessionPlan((EbPlan(uid=uid, start=_at(start), duration=timedelta(minutes=minutes)),))


# SESSION_1's window matches the OUSStatus example: 03:12:00.000 to 04:20:31.000.
SEED_EXAMPLE_SESSIONS: Final = (
    _single("uid://A002/Xc733ea/X179e", "2017-11-10T03:13:30.000", 66 + 31 / 60),
    _single("uid://A002/Xc73dee/X798", "2017-11-13T01:02:11.336", 61),
    _single("uid://A002/Xc74b5b/X644d", "2017-11-16T05:40:27.811", 58),
    _single("uid://A002/Xc75eba/X9aa", "2017-11-21T23:51:09.402", 63),
    _single("uid://A002/Xc75eba/X54db", "2017-11-22T22:18:44.150", 62),
    _single("uid://A002/Xc772ca/Xaaf", "2017-11-27T00:37:52.918", 60),
    _single("uid://A002/Xc772ca/X1f5f", "2017-11-28T03:05:16.600", 59),
    _single("uid://A002/Xc77d4f/X109", "2017-11-29T21:49:03.257", 61),
    _single("uid://A002/Xc77d4f/X522", "2017-11-30T04:12:38.044", 60),
    _single("uid://A002/Xc77d4f/X3d06", "2017-12-01T04:26:50.719", 62),
    _single("uid://A002/Xc77d4f/X46ca", "2017-12-02T00:58:12.380", 57),
    _single("uid://A002/Xc77d4f/X4d4d", "2017-12-02T04:41:27.065", 61),
    # Observed X1201 first, then X3e2: a lower element number is not an earlier EB.
    SessionPlan(
        (
            EbPlan(uid="uid://A002/Xc790bf/X1201", start=_at("2017-12-04T02:10:33.512"),
                   duration=timedelta(minutes=62)),
            EbPlan(uid="uid://A002/Xc790bf/X3e2", start=_at("2017-12-04T03:17:45.903"),
                   duration=timedelta(minutes=62)),
        )
    ),
    _single("uid://A002/Xc790bf/X5bf1", "2017-12-05T14:02:19.660", 60),
    _single("uid://A002/Xc790bf/X608a", "2017-12-06T15:44:53.474", 61),
)

SEED_EXAMPLE: Final = ProjectPlan(
    code="2017.1.00895.S",
    project_range=0x1220,
    status_range=0x129E,
    pi_fullname="Elisabeth Mills",
    title=None,
    obsproject_uid="uid://A001/X1220/Xa74",
    proposal_uid="uid://A001/X1220/Xa73",
    status_uid="uid://A001/X1220/Xa78",
    root_uid="uid://A001/X129e/Xb3",
    sources=("Sgr_B2_DS",),
    band="ALMA_RB_03",
    goals=(
        GoalPlan(
            sous_uid="uid://A001/X129e/Xb4",
            gous_uid="uid://A001/X129e/Xb5",
            mouses=(
                MousPlan(
                    facts=CaseFacts(
                        "seed_example",
                        "the example restore PPR of the seed: 16 Pass EBs in 15 sessions (SESSION_13 "
                        "holds two, in observation order X1201 then X3e2)",
                    ),
                    uid="uid://A001/X129e/Xb6",
                    part_id="X1541554216",
                    sb_uids=(("uid://A001/X129e/Xb2", "uid://A001/X129e/Xb7"),),
                    sb_name=None,
                    first_start=_at("2017-11-10T03:13:30.000"),
                    sessions=SEED_EXAMPLE_SESSIONS,
                ),
            ),
        ),
    ),
)

SEED_FIRST: Final = ProjectPlan(
    code="2017.1.00886.L",
    project_range=0x1220,
    status_range=0x1284,
    pi_fullname="Hannah Okafor",
    obsproject_uid="uid://A001/X1220/X9c4",
    proposal_uid="uid://A001/X1220/X9c3",
    status_uid="uid://A001/X1220/X9c8",
    root_uid="uid://A001/X1284/X2658",
    sources=("W51e2", "W43-MM1"),
    band="ALMA_RB_06",
    goals=(
        GoalPlan(
            sous_uid="uid://A001/X1284/X2659",
            gous_uid="uid://A001/X1284/X265a",
            mouses=(
                MousPlan(
                    facts=CaseFacts(
                        "seed_first",
                        "the OUS notes' first test data set: 4 Pass EBs, SESSION_1 = X3979 | X409e",
                    ),
                    uid="uid://A001/X1284/X265f",
                    sb_uids=(("uid://A001/X1284/X265d", "uid://A001/X1284/X2661"),),
                    first_start=_at("2017-10-31T04:11:52.209"),
                    sessions=(
                        SessionPlan(
                            (
                                EbPlan(uid="uid://A002/Xc7111c/X3979", start=_at("2017-10-31T04:11:52.209"),
                                       duration=timedelta(minutes=50)),
                                EbPlan(uid="uid://A002/Xc7111c/X409e", start=_at("2017-10-31T05:06:30.117"),
                                       duration=timedelta(minutes=50)),
                            )
                        ),
                        _single("uid://A002/Xc7111c/X86a7", "2017-11-01T03:30:08.745", 52),
                        _single("uid://A002/Xc72427/X2dfe", "2017-11-05T06:02:44.390", 51),
                    ),
                ),
            ),
        ),
    ),
)

EMPTY_FIRST_SESSION: Final = ProjectPlan(
    code="2017.1.01045.S",
    project_range=0x1220,
    status_range=0x1284,
    pi_fullname="Tomás Rivera",
    obsproject_uid="uid://A001/X1220/Xb12",
    proposal_uid="uid://A001/X1220/Xb11",
    status_uid="uid://A001/X1220/Xb16",
    root_uid="uid://A001/X1284/Xf36",
    sources=("Elias_2-27",),
    goals=(
        GoalPlan(
            sous_uid="uid://A001/X1284/Xf37",
            gous_uid="uid://A001/X1284/Xf38",
            mouses=(
                MousPlan(
                    facts=CaseFacts(
                        "empty_first_session",
                        "the seed's 'missed an empty Session initially': SESSION_1 holds only a Fail EB",
                    ),
                    uid="uid://A001/X1284/Xf3b",
                    sb_uids=(("uid://A001/X1284/Xf39", "uid://A001/X1284/Xf3c"),),
                    first_start=_at("2017-11-18T02:40:11.500"),
                    sessions=(
                        SessionPlan((EbPlan(FAIL, duration=timedelta(minutes=17)),)),
                        SessionPlan((EbPlan(), EbPlan())),
                        SessionPlan((EbPlan(),)),
                    ),
                ),
            ),
        ),
    ),
)

NULL_STOP_TIME: Final = ProjectPlan(
    code="2018.1.00628.S",
    project_range=0x1337,
    status_range=0x133D,
    pi_fullname="Ruth Abernathy",
    obsproject_uid="uid://A001/X1337/X3d2",
    proposal_uid="uid://A001/X1337/X3d1",
    status_uid="uid://A001/X1337/X3d6",
    root_uid="uid://A001/X133d/X367b",
    sources=("NGC_1333",),
    goals=(
        GoalPlan(
            sous_uid="uid://A001/X133d/X367c",
            gous_uid="uid://A001/X133d/X367d",
            mouses=(
                MousPlan(
                    facts=CaseFacts(
                        "null_stop_time",
                        "the seed's 'NULL stoptime': the last EB and its session have NULL ENDTIME",
                    ),
                    uid="uid://A001/X133d/X3681",
                    sb_uids=(("uid://A001/X133d/X367e", "uid://A001/X133d/X3682"),),
                    first_start=_at("2018-12-03T06:21:40.031"),
                    sessions=(
                        SessionPlan((EbPlan(), EbPlan())),
                        SessionPlan((EbPlan(null_end=True),), null_end=True),
                    ),
                ),
            ),
        ),
    ),
)

SEED_PROJECTS: Final = (SEED_EXAMPLE, SEED_FIRST, EMPTY_FIRST_SESSION, NULL_STOP_TIME)

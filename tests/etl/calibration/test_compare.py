"""The archived map against the mirror's: EB by EB, by disk name, empty sessions absent."""

from __future__ import annotations

from etl.calibration.compare import DifferenceKind, SessionDifference, describe, eb_differences

A, B, C = "uid://A002/Xc77d4f/X522", "uid://A002/Xc77d4f/X3d06", "uid://A002/Xc790bf/X1201"
MOVED, MISSING = DifferenceKind.EB_MOVED, DifferenceKind.EB_MISSING


def disk(uid: str) -> str:
    return uid.replace(":", "_").replace("/", "_")


def test_the_same_ebs_in_the_same_sessions_agree_in_any_order_and_spelling() -> None:
    mirror = {2: (A,), 3: (B, C)}
    assert eb_differences(mirror, {2: (disk(A),), 3: (disk(C), disk(B))}) == []
    # An archived PPR lists the empty session, by UID: no disagreement either.
    assert eb_differences(mirror, {1: (), 2: (A,), 3: (B, C)}) == []


def test_a_moved_a_missing_and_an_extra_eb() -> None:
    found = eb_differences({1: (A,), 2: (B,)}, {1: (disk(A), disk(B)), 2: (disk(C),)})
    # Moved EBs first, then the ones on one side only.
    assert found == [SessionDifference(MOVED, 2, 1, B), SessionDifference(MISSING, None, 2, disk(C))]
    assert eb_differences({1: (A, B)}, {1: (disk(A),)}) == [SessionDifference(MISSING, 1, None, B)]


def test_the_description_names_each_eb_both_sessions_and_every_document_that_says_so() -> None:
    moved = SessionDifference(MOVED, 2, 1, B)
    lines = describe(
        {"request": [moved], "manifest": [moved, SessionDifference(MISSING, 3, None, C)]},
        {"manifest": "m.xml", "request": "p.xml"},
    )
    assert lines == [
        f"EB {B} is in SESSION_2 in the mirror but in session_1 in the manifest m.xml and the archived "
        "PPR p.xml",
        f"EB {C} (SESSION_3 in the mirror) is not in the manifest m.xml",
    ]
    only_archived = SessionDifference(MISSING, None, 4, "uid___x")
    assert describe({"restore_script": [only_archived]}, {"restore_script": "s.py"}) == [
        "EB uid___x is in session_4 in the restore script s.py but not among the mirror's Pass EBs"
    ]


def test_a_document_without_a_file_name_is_named_by_its_label() -> None:
    assert describe({"request": [SessionDifference(DifferenceKind.SESSION_MISSING, 2, None)]}) == [
        "SESSION_2 is in the mirror but not in the archived PPR"
    ]

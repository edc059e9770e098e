from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from etl.settings import PprSettings
from ppr.build import build_ppr, serialize_ppr
from ppr.check import (
    DifferenceKind,
    SessionDifference,
    compare_sessions,
    describe_differences,
    read_archived_sessions,
)
from ppr.errors import ArchivedPprUnreadable
from ppr.model import Session
from tests.ppr.examples import SEED_SESSIONS, sessions_of, small_request

CREATED = datetime(2024, 3, 5, 6, 7, 8, tzinfo=UTC)
A = "uid://A002/Xc77d4f/X522"
B = "uid://A002/Xc77d4f/X3d06"
C = "uid://A002/Xc790bf/X1201"
D = "uid://A002/Xc790bf/X3e2"


def _write(tmp_path: Path, content: bytes | str, name: str = "PPR_uid___A001_X129e_Xb6.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _archived(intents: str, asdms: str = "", root: str = "ns2:SciPipeRequest") -> str:
    """A minimal archived PPR: only what the session reading looks at."""
    prefix = root.split(":", maxsplit=1)[0] + ":" if ":" in root else ""
    declaration = f'xmlns:{prefix[:-1]}="Alma/pipelinescience/AlmaSciPipeRequest"' if prefix else ""
    return (
        f"<{root} {declaration}><ProcessingRequests><ProcessingRequest>"
        f"<ProcessingIntents>{intents}</ProcessingIntents>"
        f"<DataSet><SchedBlockSet><SchedBlockIdentifier>{asdms}</SchedBlockIdentifier></SchedBlockSet></DataSet>"
        f"</ProcessingRequest></ProcessingRequests></{root}>"
    )


def _intent(keyword: str, value: str | None) -> str:
    value_element = "<Value/>" if value is None else f"<Value>{value}</Value>"
    return f"<Intents><Keyword>{keyword}</Keyword>{value_element}</Intents>"


def _asdm(uid: str, disk_name: str | None = None) -> str:
    disk = uid.replace(":", "_").replace("/", "_") if disk_name is None else disk_name
    return (
        f"<AsdmIdentifier><AsdmRef><ExecBlockId>{uid}</ExecBlockId></AsdmRef>"
        f"<AsdmDiskName>{disk}</AsdmDiskName></AsdmIdentifier>"
    )


# --- reading ----------------------------------------------------------------------------------------


def test_reads_the_seed_example(tmp_path: Path, seed_xml: bytes) -> None:
    sessions = read_archived_sessions(_write(tmp_path, seed_xml))
    assert sessions == SEED_SESSIONS


def test_reads_back_what_we_build(tmp_path: Path, site: PprSettings) -> None:
    mapping = {1: (), 2: (A, B), 3: (), 4: (C,)}
    ppr = serialize_ppr(build_ppr(small_request(mapping), site, "p", CREATED))
    assert read_archived_sessions(_write(tmp_path, ppr)) == mapping


@pytest.mark.parametrize("root", ["ns2:SciPipeRequest", "sp:SciPipeRequest", "SciPipeRequest"])
def test_namespace_prefixes_do_not_matter(tmp_path: Path, root: str) -> None:
    document = _archived(_intent("SESSION_1", A) + _intent("SESSION_2", f"{B} | {C}"), _asdm(A), root=root)
    assert read_archived_sessions(_write(tmp_path, document)) == {1: (A,), 2: (B, C)}


def test_reading_stops_at_the_first_missing_session_number(tmp_path: Path) -> None:
    document = _archived(_intent("SESSION_1", A) + _intent("SESSION_3", B))
    assert read_archived_sessions(_write(tmp_path, document)) == {1: (A,)}


def test_session_keywords_are_case_sensitive(tmp_path: Path) -> None:
    document = _archived(_intent("SESSION_1", A) + _intent("Session_2", B))
    assert read_archived_sessions(_write(tmp_path, document)) == {1: (A,)}


def test_element_names_are_case_sensitive(tmp_path: Path) -> None:
    document = _archived(
        _intent("SESSION_1", A) + "<intents><Keyword>SESSION_2</Keyword><Value>x</Value></intents>"
    )
    assert read_archived_sessions(_write(tmp_path, document)) == {1: (A,)}


def test_an_asdm_no_session_names_is_counted_in_session_1(tmp_path: Path) -> None:
    document = _archived(_intent("SESSION_1", A) + _intent("SESSION_2", B), _asdm(A) + _asdm(B) + _asdm(C))
    assert read_archived_sessions(_write(tmp_path, document)) == {1: (A, C), 2: (B,)}


def test_without_session_intents_every_asdm_is_session_1(tmp_path: Path) -> None:
    document = _archived(_intent("PROCESS", "true"), _asdm(A) + _asdm(B, "uid___A002_Xc77d4f_X3d06.ms"))
    assert read_archived_sessions(_write(tmp_path, document)) == {1: (A, B)}


def test_an_asdm_disk_name_with_ms_suffix_matches_its_session(tmp_path: Path) -> None:
    document = _archived(
        _intent("SESSION_1", A) + _intent("SESSION_2", B), _asdm(B, "uid___A002_Xc77d4f_X3d06.ms")
    )
    assert read_archived_sessions(_write(tmp_path, document)) == {1: (A,), 2: (B,)}


@pytest.mark.parametrize(
    "suffix", ["_target.ms", "_targets.ms", "_targets_line.ms", "_imaging.ms", "_imaging_line.ms"]
)
def test_the_suffixes_the_pipeline_strips_from_a_disk_name_are_stripped(tmp_path: Path, suffix: str) -> None:
    # Matched to its session, not paired with session_1 as an unnamed ASDM.
    document = _archived(
        _intent("SESSION_1", A) + _intent("SESSION_2", B), _asdm(B, f"uid___A002_Xc77d4f_X3d06{suffix}")
    )
    assert read_archived_sessions(_write(tmp_path, document)) == {1: (A,), 2: (B,)}


def test_the_ous_status_ref_is_found_under_alma_structure_too() -> None:
    from etl.calibration.request import read_request

    structure = (
        '<ProjectStructure><AlmaStructure><OUSStatusRef entityId="uid://A001/X1/X2"/></AlmaStructure>'
        "</ProjectStructure>"
    )
    document = _archived(_intent("SESSION_1", A)).replace(
        "<ProcessingRequests>", structure + "<ProcessingRequests>", 1
    )
    assert read_request(document.encode()).ous_status_ref == "uid://A001/X1/X2"


def test_an_empty_session_is_kept(tmp_path: Path) -> None:
    document = _archived(_intent("SESSION_1", None) + _intent("SESSION_2", A) + _intent("SESSION_3", ""))
    assert read_archived_sessions(_write(tmp_path, document)) == {1: (), 2: (A,), 3: ()}


def test_an_intent_without_keyword_ends_the_list(tmp_path: Path) -> None:
    document = _archived(
        _intent("SESSION_1", A) + "<Intents><Value>x</Value></Intents>" + _intent("SESSION_2", B)
    )
    assert read_archived_sessions(_write(tmp_path, document)) == {1: (A,)}


def test_values_are_split_on_exactly_space_bar_space_and_not_stripped(tmp_path: Path) -> None:
    document = _archived(_intent("SESSION_1", f"{A}|{B}") + _intent("SESSION_2", f" {C} | {D}"))
    assert read_archived_sessions(_write(tmp_path, document)) == {1: (f"{A}|{B}",), 2: (f" {C}", D)}


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "absent.xml"
    with pytest.raises(ArchivedPprUnreadable) as caught:
        read_archived_sessions(path)
    assert str(path) in str(caught.value)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param("", "not well-formed", id="empty"),
        pytest.param("<SciPipeRequest><ProcessingRequests>", "not well-formed", id="truncated"),
        pytest.param(b"\xff\xfe\x00garbage", "not well-formed", id="binary"),
        pytest.param("<OUSStatus/>", "not SciPipeRequest", id="another-document"),
        pytest.param("<SciPipeRequest/>", "ProcessingRequests", id="no-request"),
        pytest.param(
            "<SciPipeRequest><ProcessingRequests><ProcessingRequest/><ProcessingRequest/>"
            "</ProcessingRequests></SciPipeRequest>",
            "2 ProcessingRequests/ProcessingRequest",
            id="two-requests",
        ),
        pytest.param(_archived(_intent("PROCESS", "true")), "no SESSION_1", id="nothing-to-compare"),
        pytest.param(
            _archived(_intent("SESSION_1", A), _asdm(A)).replace(
                "</SchedBlockIdentifier>", "</SchedBlockIdentifier><SchedBlockIdentifier/>"
            ),
            "two SchedBlockIdentifiers",
            id="two-sched-blocks",
        ),
    ],
)
def test_a_malformed_file_is_unreadable(tmp_path: Path, content: str | bytes, reason: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(ArchivedPprUnreadable) as caught:
        read_archived_sessions(path)
    assert reason in str(caught.value)
    assert str(path) in str(caught.value)


# --- comparing --------------------------------------------------------------------------------------


def test_identical_mappings_have_no_differences() -> None:
    assert compare_sessions(sessions_of(SEED_SESSIONS), SEED_SESSIONS) == []
    assert describe_differences([]) == []


def test_order_within_a_session_does_not_matter() -> None:
    derived = sessions_of({1: (A, B), 2: (C, D)})
    assert compare_sessions(derived, {1: (B, A), 2: (D, C)}) == []


def test_the_disk_form_in_an_archived_ppr_is_the_same_eb() -> None:
    assert compare_sessions(sessions_of({1: (A,)}), {1: ("uid___A002_Xc77d4f_X522",)}) == []


def test_empty_sessions_on_both_sides_match() -> None:
    assert compare_sessions(sessions_of({1: (), 2: (A,)}), {1: (), 2: (A,)}) == []


def test_a_session_missing_from_the_archived_ppr() -> None:
    differences = compare_sessions(sessions_of({1: (A,), 2: ()}), {1: (A,)})
    assert differences == [SessionDifference(DifferenceKind.SESSION_MISSING, 2, None)]
    assert describe_differences(differences) == [
        "SESSION_2 is in the mirror but not in the archived PPR"
    ]


def test_a_session_missing_from_the_mirror() -> None:
    differences = compare_sessions(sessions_of({1: (A,)}), {1: (A,), 2: ()})
    assert differences == [SessionDifference(DifferenceKind.SESSION_MISSING, None, 2)]
    assert describe_differences(differences) == [
        "session_2 is in the archived PPR but not in the mirror"
    ]


def test_a_moved_eb_names_both_sessions() -> None:
    differences = compare_sessions(sessions_of({1: (A,), 2: (B,), 3: (C,)}), {1: (A,), 2: (B, C), 3: ()})
    assert differences == [SessionDifference(DifferenceKind.EB_MOVED, 3, 2, C)]
    assert describe_differences(differences) == [
        f"EB {C} is in SESSION_3 in the mirror but in session_2 in the archived PPR"
    ]


def test_an_eb_missing_on_either_side() -> None:
    differences = compare_sessions(sessions_of({1: (A, B)}), {1: (A, C)})
    assert differences == [
        SessionDifference(DifferenceKind.EB_MISSING, 1, None, B),
        SessionDifference(DifferenceKind.EB_MISSING, None, 1, C),
    ]
    assert describe_differences(differences) == [
        f"EB {B} (SESSION_1 in the mirror) is not in the archived PPR",
        f"EB {C} is in session_1 in the archived PPR but not among the mirror's Pass EBs",
    ]


def test_every_kind_at_once_in_a_stable_order() -> None:
    derived = (Session(1, (A,)), Session(2, (B,)), Session(3, (C,)))
    archived = {1: (A, B), 2: (D,)}
    assert compare_sessions(derived, archived) == [
        SessionDifference(DifferenceKind.SESSION_MISSING, 3, None),
        SessionDifference(DifferenceKind.EB_MOVED, 2, 1, B),
        SessionDifference(DifferenceKind.EB_MISSING, None, 2, D),
        SessionDifference(DifferenceKind.EB_MISSING, 3, None, C),
    ]


def test_a_renumbered_mapping_shows_every_moved_eb() -> None:
    # The failure the seed warns about: an empty session dropped and the rest renumbered.
    archived = {1: (A,), 2: (), 3: (B,), 4: (C,)}
    derived = sessions_of({1: (A,), 2: (B,), 3: (C,)})
    kinds = [(d.kind, d.mirror_session, d.archived_session) for d in compare_sessions(derived, archived)]
    assert kinds == [
        (DifferenceKind.SESSION_MISSING, None, 4),
        (DifferenceKind.EB_MOVED, 2, 3),
        (DifferenceKind.EB_MOVED, 3, 4),
    ]


def test_the_archived_ppr_read_and_compared(tmp_path: Path, site: PprSettings) -> None:
    archived_ppr = serialize_ppr(build_ppr(small_request({1: (A,), 2: (), 3: (B, C)}), site, "p", CREATED))
    archived = read_archived_sessions(_write(tmp_path, archived_ppr))
    derived = sessions_of({1: (A,), 2: (C,), 3: (B,)})
    assert describe_differences(compare_sessions(derived, archived)) == [
        f"EB {C} is in SESSION_2 in the mirror but in session_3 in the archived PPR"
    ]

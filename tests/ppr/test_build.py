from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree

from etl.settings import PprSettings
from ppr.build import NAMESPACE, build_ppr, default_relative_path, serialize_ppr
from ppr.errors import InvalidPpr
from ppr.model import Session
from tests.ppr.examples import (
    MOUS,
    SEED_CREATED,
    SEED_RELATIVE_PATH,
    seed_request,
    small_request,
)

A = "uid://A002/Xc77d4f/X522"
B = "uid://A002/Xc77d4f/X3d06"
C = "uid://A002/Xc790bf/X1201"
CREATED = datetime(2024, 3, 5, 6, 7, 8, 912_345, tzinfo=UTC)


def _build(site: PprSettings, **changes: object) -> etree._Element:
    request = seed_request(**changes)
    return build_ppr(request, site, "run/MOUS_x", CREATED).getroot()


def _intents(root: etree._Element) -> list[tuple[str, str | None]]:
    return [
        (intent.findtext("Keyword") or "", _find(intent, "Value").text)
        for intent in root.iterfind("ProcessingRequests/ProcessingRequest/ProcessingIntents/Intents")
    ]


def _session_sets(root: etree._Element) -> dict[str, set[str]]:
    return {
        keyword: set((value or "").split(" | ")) - {""}
        for keyword, value in _intents(root)
        if keyword.startswith("SESSION_")
    }


def _find(root: etree._Element, path: str) -> etree._Element:
    element = root.find(path)
    assert element is not None, path
    return element


def _leaf_values(root: etree._Element, section: str) -> dict[str, str | None]:
    return {str(child.tag): child.text for child in _find(root, section)}


def _attributes(root: etree._Element, path: str) -> dict[str, str]:
    return {str(name): str(value) for name, value in _find(root, path).attrib.items()}


def _leaves(section: etree._Element) -> list[tuple[str, str | None]]:
    """(path below ``section``, text) of every element without children, in document order."""
    tree = section.getroottree()
    base = len(tree.getpath(section)) + 1
    return [(tree.getpath(e)[base:], e.text) for e in section.iterdescendants() if len(e) == 0]


def _tag_paths(root: etree._Element) -> list[str]:
    tree = root.getroottree()
    return [tree.getpath(element) for element in root.iter()]


# --- the seed's example ----------------------------------------------------------------------------


def test_seed_example_project_summary(site: PprSettings, seed_tree: etree._Element) -> None:
    built = build_ppr(seed_request(), site, SEED_RELATIVE_PATH, SEED_CREATED).getroot()
    expected = _leaf_values(seed_tree, "ProjectSummary")
    expected.update(
        ProcessingSite=site.processing_site, Operator=site.operator, Mode=site.mode, Version=site.version
    )
    expected.pop("CreationTime")
    actual = _leaf_values(built, "ProjectSummary")
    assert actual.pop("CreationTime") == "2019-02-09T04:55:07"
    assert actual == expected
    assert list(actual) == list(expected)  # and in the same order


def test_seed_example_project_structure_and_references(site: PprSettings, seed_tree: etree._Element) -> None:
    built = build_ppr(seed_request(), site, SEED_RELATIVE_PATH, SEED_CREATED).getroot()
    assert _leaf_values(built, "ProjectStructure") == _leaf_values(seed_tree, "ProjectStructure")
    for path in (
        "SciPipeRequestEntity",
        "ProjectStructure/ObsUnitSetRef",
        "ProjectStructure/ProjectStatusRef",
        "ProjectStructure/OUSStatusRef",
        ".//SchedBlockIdentifier/SchedBlockRef",
        ".//SchedBlockIdentifier/SBStatusRef",
    ):
        assert _attributes(built, path) == _attributes(seed_tree, path), path
        assert list(_attributes(built, path)) == list(_attributes(seed_tree, path)), path


def test_seed_example_request_procedure_and_results(site: PprSettings, seed_tree: etree._Element) -> None:
    built = build_ppr(seed_request(), site, SEED_RELATIVE_PATH, SEED_CREATED).getroot()
    assert built.findtext("ProcessingRequests/RootDirectory") == site.root_directory
    procedure = "ProcessingRequests/ProcessingRequest/ProcessingProcedure"
    expected_procedure = _leaves(_find(seed_tree, procedure))
    expected_procedure[0] = ("ProcedureTitle", "hifa_restore")
    assert _leaves(_find(built, procedure)) == expected_procedure
    expected_results = _leaf_values(seed_tree, "ResultsProcessing")
    expected_results["PipelineOperatorAddress"] = site.pipeline_operator_address
    assert _leaf_values(built, "ResultsProcessing") == expected_results
    for tag in ("RelativePath", "SBTitle"):
        assert built.findtext(f".//SchedBlockIdentifier/{tag}") == seed_tree.findtext(
            f".//SchedBlockIdentifier/{tag}"
        )


def test_seed_example_sessions_and_data_set(site: PprSettings, seed_tree: etree._Element) -> None:
    built = build_ppr(seed_request(), site, SEED_RELATIVE_PATH, SEED_CREATED).getroot()
    expected = _session_sets(seed_tree)
    assert len(expected) == 15
    assert sum(len(uids) for uids in expected.values()) == 16
    assert _session_sets(built) == expected
    asdm = ".//SchedBlockIdentifier/AsdmIdentifier"
    pairs = {(a.findtext("AsdmRef/ExecBlockId"), a.findtext("AsdmDiskName")) for a in built.iterfind(asdm)}
    assert pairs == {
        (a.findtext("AsdmRef/ExecBlockId"), a.findtext("AsdmDiskName")) for a in seed_tree.iterfind(asdm)
    }


def test_seed_example_has_the_same_element_tree_and_namespace(
    site: PprSettings, seed_tree: etree._Element
) -> None:
    built = build_ppr(seed_request(), site, SEED_RELATIVE_PATH, SEED_CREATED).getroot()
    # Same elements in the same order; only the order of sessions and ASDMs differs, not their paths.
    assert _tag_paths(built) == _tag_paths(seed_tree)
    assert built.tag == seed_tree.tag
    assert built.nsmap == seed_tree.nsmap == {"ns2": NAMESPACE}


# --- shape ------------------------------------------------------------------------------------------


def test_root_is_prefixed_and_children_unqualified(site: PprSettings) -> None:
    root = _build(site)
    assert root.tag == f"{{{NAMESPACE}}}SciPipeRequest"
    assert root.prefix == "ns2"
    assert all(etree.QName(element).namespace is None for element in root.iterdescendants())
    assert [child.tag for child in root] == [
        "SciPipeRequestEntity",
        "ProjectSummary",
        "ProjectStructure",
        "ProcessingRequests",
        "ResultsProcessing",
    ]


def test_intents_are_process_then_sessions_in_number_order_then_observing_mode(site: PprSettings) -> None:
    request = small_request({2: (B,), 1: (A,), 3: (C,)})
    root = build_ppr(request, site, "p", CREATED).getroot()
    assert _intents(root) == [
        ("PROCESS", "true"),
        ("SESSION_1", A),
        ("SESSION_2", B),
        ("SESSION_3", C),
        ("INTERFEROMETRY_STANDARD_OBSERVING_MODE", "Undefined"),
    ]
    disk_names = [e.text for e in root.iterfind(".//AsdmIdentifier/AsdmDiskName")]
    assert disk_names == ["uid___A002_Xc77d4f_X522", "uid___A002_Xc77d4f_X3d06", "uid___A002_Xc790bf_X1201"]


def test_session_values_are_joined_by_exactly_space_bar_space(site: PprSettings) -> None:
    root = build_ppr(small_request({1: (A, B, C)}), site, "p", CREATED).getroot()
    assert dict(_intents(root))["SESSION_1"] == f"{A} | {B} | {C}"


def test_an_empty_session_is_kept_as_an_empty_value(site: PprSettings) -> None:
    request = small_request({1: (A,), 2: (), 3: (B,)})
    tree = build_ppr(request, site, "p", CREATED)
    assert dict(_intents(tree.getroot()))["SESSION_2"] is None
    serialized = serialize_ppr(tree)
    assert b"<Keyword>SESSION_2</Keyword>\n                    <Value/>" in serialized


def test_one_processing_request_one_sched_block_identifier_one_command(site: PprSettings) -> None:
    root = _build(site)
    assert len(root.findall("ProcessingRequests/ProcessingRequest")) == 1
    assert len(root.findall(".//DataSet/SchedBlockSet/SchedBlockIdentifier")) == 1
    assert len(root.findall(".//ProcessingProcedure/ProcessingCommand")) == 1
    assert len(root.findall(".//AsdmIdentifier")) == 16


@pytest.mark.parametrize(
    ("array", "command", "ocorr_mode"),
    [("12m", "hifa_restoredata", "ca"), ("7m", "hifa_restoredata", "ca"), ("TP", "hsd_restoredata", "ao")],
)
def test_the_restore_task_follows_the_array(
    site: PprSettings, array: str, command: str, ocorr_mode: str
) -> None:
    root = _build(site, array=array)
    assert root.findtext(".//ProcessingCommand/Command") == command
    parameters = [
        (p.findtext("Keyword"), p.findtext("Value")) for p in root.iterfind(".//ParameterSet/Parameter")
    ]
    assert parameters == [("ocorr_mode", ocorr_mode)]


def test_unknown_values_fall_back_as_alma_writes_them(site: PprSettings) -> None:
    root = _build(site, project_title=None, pi_name="  ", sb_title="")
    assert root.findtext("ProjectSummary/ProposalTitle") == "Unknown"
    assert root.findtext("ProjectSummary/PIName") == "Unknown"
    assert root.findtext(".//SBTitle") == "unknown"


def test_free_text_is_one_line_without_surrounding_or_repeated_whitespace(site: PprSettings) -> None:
    root = _build(
        site,
        project_title="  The  dense\tgas\nof Sgr B2 \x01 ",
        pi_name="\nElisabeth\u00a0Mills ",
        sb_title="Sgr_B2_a_07_TM1\r\n",
    )
    assert root.findtext("ProjectSummary/ProposalTitle") == "The dense gas of Sgr B2"
    assert root.findtext("ProjectSummary/PIName") == "Elisabeth Mills"
    assert root.findtext(".//SBTitle") == "Sgr_B2_a_07_TM1"


def test_no_text_value_has_whitespace_around_it_even_after_serialising(site: PprSettings) -> None:
    tree = build_ppr(small_request({1: (A,), 2: (), 3: (B, C)}), site, "p/q", CREATED)
    reparsed = etree.fromstring(serialize_ppr(tree))
    for root in (tree.getroot(), reparsed):
        for element in root.iter():
            if len(element) == 0 and element.text is not None:
                assert element.text == element.text.strip(), element.tag
                assert "\n" not in element.text, element.tag
                assert "\t" not in element.text, element.tag


def test_creation_time_is_utc_to_the_second(site: PprSettings) -> None:
    eastern = timezone(timedelta(hours=-5))
    aware = build_ppr(seed_request(), site, "p", datetime(2024, 1, 1, 22, 30, 59, 999_999, tzinfo=eastern))
    naive = build_ppr(seed_request(), site, "p", datetime(2024, 1, 2, 3, 30, 59))
    assert aware.getroot().findtext("ProjectSummary/CreationTime") == "2024-01-02T03:30:59"
    assert naive.getroot().findtext("ProjectSummary/CreationTime") == "2024-01-02T03:30:59"


def test_site_values_come_from_settings(site: PprSettings) -> None:
    other = PprSettings(
        processing_site="EA-ARC",
        operator="restorer",
        mode="Manual",
        version="2024.1",
        root_directory="/data/spool",
        procedure_title="local_restore",
        pipeline_operator_address="ops@example.org",
    )
    root = build_ppr(seed_request(), other, "p", CREATED).getroot()
    summary = _leaf_values(root, "ProjectSummary")
    assert (summary["ProcessingSite"], summary["Operator"], summary["Mode"], summary["Version"]) == (
        "EA-ARC",
        "restorer",
        "Manual",
        "2024.1",
    )
    assert root.findtext("ProcessingRequests/RootDirectory") == "/data/spool"
    assert root.findtext(".//ProcedureTitle") == "local_restore"
    assert root.findtext("ResultsProcessing/PipelineOperatorAddress") == "ops@example.org"


# --- last line of defence: requests the mirror's verdict never lets through are defects -----------


@pytest.mark.parametrize(
    "mapping",
    [
        {1: (A,), 3: (B,)},  # a gap
        {2: (A,), 3: (B,)},  # not starting at 1
        {0: (A,), 1: (B,)},
    ],
)
def test_sessions_must_be_numbered_1_to_k(site: PprSettings, mapping: dict[int, tuple[str, ...]]) -> None:
    with pytest.raises(InvalidPpr, match=r"not 1\.\.2 without gaps or repeats") as caught:
        build_ppr(small_request(mapping), site, "p", CREATED)
    assert caught.value.mous_uid == MOUS
    assert MOUS in str(caught.value)


def test_a_repeated_session_number_is_refused(site: PprSettings) -> None:
    request = seed_request(sessions=(Session(1, (A,)), Session(1, (B,))), products=())
    with pytest.raises(InvalidPpr, match=r"sessions are numbered \[1, 1\]"):
        build_ppr(request, site, "p", CREATED)


@pytest.mark.parametrize(
    "mapping",
    [
        {1: (A,), 2: (A,)},
        {1: (A, B, A)},
        {1: (A,), 2: ("uid___A002_Xc77d4f_X522",)},  # the same EB to the pipeline, which compares disk names
    ],
)
def test_an_eb_in_two_places_is_refused(site: PprSettings, mapping: dict[int, tuple[str, ...]]) -> None:
    with pytest.raises(InvalidPpr, match="an EB may belong to one session only") as caught:
        build_ppr(small_request(mapping), site, "p", CREATED)
    assert "uid___A002_Xc77d4f_X522" in str(caught.value)


@pytest.mark.parametrize("mapping", [{}, {1: ()}, {1: (), 2: ()}])
def test_no_pass_eb_is_refused(site: PprSettings, mapping: dict[int, tuple[str, ...]]) -> None:
    with pytest.raises(InvalidPpr, match="no execution block with QA0 Pass") as caught:
        build_ppr(small_request(mapping), site, "p", CREATED)
    assert caught.value.exit_code == 1


@pytest.mark.parametrize("array", [None, "12-m", "tp"])
def test_an_array_without_a_restore_task_is_a_defect(site: PprSettings, array: str | None) -> None:
    with pytest.raises(InvalidPpr, match="has no restore task") as caught:
        build_ppr(seed_request(array=array), site, "p", CREATED)
    assert caught.value.mous_uid == MOUS


# --- relative path ----------------------------------------------------------------------------------


def test_default_relative_path_is_almas_processing_area_form() -> None:
    created = datetime(2019, 2, 9, 4, 55, 7, 474_999, tzinfo=UTC)
    assert default_relative_path(seed_request(), created) == (
        "2017.1.00895.S_2019_02_09T04_55_07.474"
        "/SOUS_uid___A001_X129e_Xb4/GOUS_uid___A001_X129e_Xb5/MOUS_uid___A001_X129e_Xb6"
    )


def test_default_relative_path_is_in_utc_with_zero_padded_milliseconds() -> None:
    created = datetime(2019, 2, 9, 5, 55, 7, 5_000, tzinfo=timezone(timedelta(hours=1)))
    assert default_relative_path(seed_request(), created).startswith(
        "2017.1.00895.S_2019_02_09T04_55_07.005/"
    )


# --- serialisation ----------------------------------------------------------------------------------


def test_serialised_ppr_has_declaration_utf8_standalone_and_four_space_indent(site: PprSettings) -> None:
    serialized = serialize_ppr(build_ppr(seed_request(), site, "p", CREATED))
    first_line, second_line, third_line = serialized.splitlines()[:3]
    assert first_line == b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    assert second_line == b'<ns2:SciPipeRequest xmlns:ns2="Alma/pipelinescience/AlmaSciPipeRequest">'
    assert third_line.startswith(b"    <SciPipeRequestEntity ")
    assert serialized.endswith(b"</ns2:SciPipeRequest>\n")


def test_serialising_leaves_the_tree_as_it_was(site: PprSettings) -> None:
    tree = build_ppr(seed_request(), site, "p", CREATED)
    before = etree.tostring(tree)
    first = serialize_ppr(tree)
    assert etree.tostring(tree) == before
    assert serialize_ppr(tree) == first


def test_non_ascii_pi_name_and_title_survive_serialisation(site: PprSettings) -> None:
    title = "Déjà vu: ¹³CO & <HCN> in Ophiuchus — 星形成"
    pi_name = "Łukasz Żółć-Müller"
    serialized = serialize_ppr(
        build_ppr(seed_request(project_title=title, pi_name=pi_name, sb_title="Oph_ß"), site, "p", CREATED)
    )
    assert pi_name.encode("utf-8") in serialized  # written as UTF-8, not as character references
    root = etree.fromstring(serialized)
    assert root.findtext("ProjectSummary/ProposalTitle") == title
    assert root.findtext("ProjectSummary/PIName") == pi_name
    assert root.findtext(".//SBTitle") == "Oph_ß"


@pytest.mark.parametrize(
    ("array", "title"), [("12m", "hifa_restore"), ("7m", "hifa_restore"), ("TP", "hsd_restore")]
)
def test_the_default_procedure_title_is_the_restore_tasks_token(
    site: PprSettings, array: str, title: str
) -> None:
    assert site.procedure_title == ""
    request = replace(seed_request(), array=array)
    assert build_ppr(request, site, "p", CREATED).getroot().findtext(".//ProcedureTitle") == title

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from lxml import etree

from etl.errors import StopAndFix
from etl.settings import PprSettings
from ppr.build import build_ppr, default_relative_path, serialize_ppr
from ppr.errors import InvalidPpr
from ppr.validate import ppr_schema, validate_ppr
from tests.ppr.examples import MOUS, seed_request, small_request

CREATED = datetime(2024, 3, 5, 6, 7, 8, tzinfo=UTC)
A = "uid://A002/Xc77d4f/X522"
B = "uid://A002/Xc77d4f/X3d06"
C = "uid://A002/Xc790bf/X1201"
MAPPING = {1: (A,), 2: (), 3: (B, C)}
Edit = Callable[[etree._Element], None]


def _document(site: PprSettings, **changes: object) -> etree._Element:
    request = small_request(MAPPING, **changes)
    return build_ppr(request, site, default_relative_path(request, CREATED), CREATED).getroot()


def _find(root: etree._Element, path: str) -> etree._Element:
    element = root.find(path)
    assert element is not None, path
    return element


def _intent(root: etree._Element, keyword: str) -> etree._Element:
    for intent in root.iterfind(".//ProcessingIntents/Intents"):
        if intent.findtext("Keyword") == keyword:
            return intent
    raise AssertionError(keyword)


def _set_text(path: str, text: str | None) -> Edit:
    def edit(root: etree._Element) -> None:
        _find(root, path).text = text

    return edit


def _set_session(keyword: str, value: str | None) -> Edit:
    def edit(root: etree._Element) -> None:
        _find(_intent(root, keyword), "Value").text = value

    return edit


def _rename_session(old: str, new: str) -> Edit:
    def edit(root: etree._Element) -> None:
        _find(_intent(root, old), "Keyword").text = new

    return edit


def _remove(path: str) -> Edit:
    def edit(root: etree._Element) -> None:
        element = _find(root, path)
        parent = element.getparent()
        assert parent is not None
        parent.remove(element)

    return edit


def _duplicate(path: str) -> Edit:
    def edit(root: etree._Element) -> None:
        element = _find(root, path)
        element.addnext(copy.deepcopy(element))

    return edit


def _add_parameter(keyword: str, value: str) -> Edit:
    def edit(root: etree._Element) -> None:
        parameter = etree.SubElement(_find(root, ".//ParameterSet"), "Parameter")
        etree.SubElement(parameter, "Keyword").text = keyword
        etree.SubElement(parameter, "Value").text = value

    return edit


def _set_attribute(path: str, name: str, value: str) -> Edit:
    def edit(root: etree._Element) -> None:
        _find(root, path).set(name, value)

    return edit


def _problems(root: etree._Element) -> str:
    with pytest.raises(InvalidPpr) as caught:
        validate_ppr(root)
    return str(caught.value)


# --- what we build validates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({}, id="seed"),
        pytest.param({"array": "TP"}, id="total-power"),
        pytest.param({"array": "7m"}, id="seven-metre"),
        pytest.param({"project_title": "Déjà vu — 星形成", "pi_name": "Łukasz Żółć"}, id="non-ascii"),
        pytest.param({"project_title": "a\tb\nc", "sb_title": "  x  "}, id="messy-text"),
    ],
)
def test_every_built_ppr_validates(site: PprSettings, changes: dict[str, object]) -> None:
    request = seed_request(**changes)
    tree = build_ppr(request, site, default_relative_path(request, CREATED), CREATED)
    validate_ppr(tree)
    validate_ppr(tree.getroot())
    validate_ppr(serialize_ppr(tree))


@pytest.mark.parametrize(
    "mapping",
    [
        {1: (), 2: (A,)},
        {1: (A,), 2: (), 3: (B,)},
        {1: (A,), 2: (B,), 3: ()},
        {1: (A, B, C)},
        {1: (), 2: (), 3: (), 4: (), 5: (), 6: (), 7: (), 8: (), 9: (), 10: (), 11: (A,)},
    ],
)
def test_ppr_with_empty_sessions_validates(site: PprSettings, mapping: dict[int, tuple[str, ...]]) -> None:
    validate_ppr(build_ppr(small_request(mapping), site, "run/MOUS_x", CREATED))


def test_the_seed_example_validates(seed_xml: bytes) -> None:
    # ALMA's own restore PPR, sessions out of order but complete: the schema is not stricter than ALMA.
    validate_ppr(seed_xml)


def test_the_schema_ships_in_the_package() -> None:
    assert isinstance(ppr_schema(), etree.XMLSchema)


# --- hand-broken documents fail ---------------------------------------------------------------------

SESSION_3 = "uid://A002/Xc77d4f/X3d06 | uid://A002/Xc790bf/X1201"
BROKEN = [
    pytest.param(_remove(".//RelativePath"), "RelativePath", id="missing-relative-path"),
    pytest.param(_set_text(".//RelativePath", ""), "RelativePath", id="empty-relative-path"),
    pytest.param(_set_text(".//RelativePath", "run/../x"), "'.' or '..'", id="relative-path-up"),
    pytest.param(_set_text(".//RelativePath", "run//x"), "RelativePath", id="relative-path-empty-part"),
    pytest.param(_set_text(".//RelativePath", "/abs/run"), "RelativePath", id="absolute-relative-path"),
    pytest.param(_set_text(".//RelativePath", "run/x\n"), "RelativePath", id="relative-path-newline"),
    pytest.param(_duplicate(".//SchedBlockIdentifier"), "SchedBlockIdentifier", id="two-sched-blocks"),
    pytest.param(_duplicate(".//ProcessingRequest"), "ProcessingRequest", id="two-requests"),
    pytest.param(_duplicate(".//ProcessingCommand"), "ProcessingCommand", id="two-commands"),
    pytest.param(_set_text(".//Command", "hif_restoredata"), "hif_restoredata", id="hif-restoredata"),
    pytest.param(_set_text(".//Command", " hifa_restoredata"), "Command", id="command-space"),
    pytest.param(_set_session("SESSION_1", f" {A}"), f"' {A}'", id="space-before-value"),
    pytest.param(_set_session("SESSION_1", f"{A}\n"), "Value", id="newline-after-value"),
    pytest.param(_set_text(".//ProposalCode", " 2017.1.00895.S"), "ProposalCode", id="code-space"),
    pytest.param(_set_text(".//ProposalCode", None), "ProposalCode", id="empty-code"),
    pytest.param(_set_text(".//Observatory", ""), "Observatory", id="empty-observatory"),
    pytest.param(_set_text(".//Telescope", None), "Telescope", id="empty-telescope"),
    pytest.param(_set_text(".//ObsUnitSetTitle", ""), "ObsUnitSetTitle", id="empty-ous-title"),
    pytest.param(_set_text(".//ObsUnitSetType", "Group"), "ObsUnitSetType", id="not-member"),
    pytest.param(_set_text(".//AsdmDiskName", ""), "AsdmDiskName", id="empty-disk-name"),
    pytest.param(_set_text(".//PIName", "Elisabeth  Mills"), "PIName", id="double-space"),
    pytest.param(_set_text(".//ArchiveResults", " false"), "ArchiveResults", id="flag-space"),
    pytest.param(_rename_session("SESSION_1", "Session_1"), "Session_1", id="lower-case-session"),
    pytest.param(_rename_session("SESSION_1", "SESSION_01"), "SESSION_01", id="zero-padded-session"),
    pytest.param(_rename_session("SESSION_3", "SESSION_4"), "SESSION_3 is missing", id="gap-at-3"),
    pytest.param(_rename_session("SESSION_1", "SESSION_4"), "SESSION_1 is missing", id="gap-at-1"),
    pytest.param(_rename_session("SESSION_3", "SESSION_1"), "oneValuePerIntent", id="session-twice"),
    pytest.param(
        _set_text(".//AsdmDiskName", "uid___A002_Xc77d4f_X999"), "not the disk name", id="disk-name"
    ),
    pytest.param(_set_text(".//AsdmDiskName", "uid___A002_Xc77d4f_X522.ms"), "AsdmDiskName", id="disk-ms"),
    pytest.param(_set_text(".//ExecBlockId", "uid___A002_Xc77d4f_X522"), "ExecBlockId", id="eb-disk-form"),
    pytest.param(_remove(".//AsdmIdentifier/AsdmDiskName"), "AsdmDiskName", id="asdm-without-disk-name"),
    pytest.param(_remove(".//AsdmIdentifier/AsdmRef"), "AsdmRef", id="asdm-without-ref"),
    pytest.param(_remove(".//Intents/Keyword"), "Keyword", id="intent-without-keyword"),
    pytest.param(_remove(".//Intents/Value"), "Value", id="intent-without-value"),
    pytest.param(_remove(".//ParameterSet"), "ParameterSet", id="command-without-parameter-set"),
    pytest.param(_remove(".//ProcessingCommand/Command"), "Command", id="command-missing"),
    pytest.param(_remove(".//ProcessingIntents"), "ProcessingIntents", id="no-intents"),
    pytest.param(_remove("ProjectStructure/OUSStatusRef"), "OUSStatusRef", id="no-ous-status"),
    pytest.param(_remove("SciPipeRequestEntity"), "SciPipeRequestEntity", id="no-entity"),
    pytest.param(
        _remove(".//SchedBlockIdentifier/AsdmIdentifier[2]"), "no AsdmIdentifier", id="eb-not-in-data-set"
    ),
    pytest.param(_set_session("SESSION_3", B), "is in no session", id="eb-in-no-session"),
    pytest.param(_set_session("SESSION_2", A), "SESSION_1 and SESSION_2", id="eb-in-two-sessions"),
    pytest.param(
        _set_session("SESSION_3", SESSION_3.replace(" | ", "|")), "joined by", id="bar-without-spaces"
    ),
    pytest.param(
        _set_session("SESSION_3", SESSION_3.replace(" | ", ", ")), "SESSION_3", id="comma-separated"
    ),
    pytest.param(
        _set_session("SESSION_3", SESSION_3.replace(" | ", "  |  ")), "X3d06  |  ", id="wide-separator"
    ),
    pytest.param(
        _set_session("SESSION_1", "uid___A002_Xc77d4f_X522"), "not an EB UID", id="session-disk-form"
    ),
    pytest.param(_add_parameter("vis", "x.ms"), "vis", id="parameter-vis"),
    pytest.param(_add_parameter("session", "session_1"), "session", id="parameter-session"),
    pytest.param(_add_parameter("ocorr_mode", "ca"), "oneValuePerParameter", id="parameter-twice"),
    pytest.param(_add_parameter("hm_rasterscan", "time"), "hm_rasterscan is a parameter", id="hsd-parameter"),
    pytest.param(_set_text(".//Parameter/Value", "ao"), "ocorr_mode=ao", id="autocorrelations-for-hifa"),
    pytest.param(_set_text(".//CreationTime", "2024-03-05T06:07:08Z"), "CreationTime", id="time-zone"),
    pytest.param(
        _set_attribute(".//OUSStatusRef", "entityId", "uid___A001_X129e_Xb6"), "entityId", id="ous-disk"
    ),
    pytest.param(_set_attribute(".//SBStatusRef", "entityTypeName", "SchedBlock"), "SBStatus", id="ref-type"),
]


@pytest.mark.parametrize(("edit", "expected"), BROKEN)
def test_a_hand_broken_document_fails(site: PprSettings, edit: Edit, expected: str) -> None:
    root = _document(site)
    validate_ppr(root)
    edit(root)
    message = _problems(root)
    assert expected in message
    assert message.count("line ") >= 1


def test_a_hand_broken_total_power_document_fails(site: PprSettings) -> None:
    root = _document(site, array="TP")
    _set_text(".//Parameter/Value", "ca")(root)
    assert "ocorr_mode=ca does not suit hsd_restoredata" in _problems(root)


def test_hm_rasterscan_is_accepted_for_total_power(site: PprSettings) -> None:
    root = _document(site, array="TP")
    _add_parameter("hm_rasterscan", "time")(root)
    validate_ppr(root)


def test_another_namespace_is_not_a_restore_ppr(site: PprSettings) -> None:
    root = _document(site)
    document = serialize_ppr(root).replace(b"Alma/pipelinescience/AlmaSciPipeRequest", b"Alma/Other")
    with pytest.raises(InvalidPpr, match="SciPipeRequest"):
        validate_ppr(document)


def test_bytes_that_are_not_xml_fail_with_a_line_number() -> None:
    with pytest.raises(InvalidPpr, match=r"line 2: not well-formed XML"):
        validate_ppr(b"<?xml version='1.0'?>\n<a><b></a>")


def test_invalid_ppr_names_the_mous_and_the_line_and_is_a_stop_and_fix(site: PprSettings) -> None:
    root = _document(site)
    _set_text(".//Command", "hif_restoredata")(root)
    with pytest.raises(InvalidPpr) as caught:
        validate_ppr(root)
    error = caught.value
    assert isinstance(error, StopAndFix)
    assert error.exit_code == 1
    assert error.mous_uid == MOUS
    assert str(error).startswith(f"PPR for MOUS {MOUS} fails SciPipeRequest.xsd")
    # The line of the serialised file where <Command> is.
    command_line = (
        serialize_ppr(root).splitlines().index(b"                    <Command>hif_restoredata</Command>")
    )
    assert error.problems[0].startswith(f"line {command_line + 1}: ")


def test_invalid_ppr_shows_the_first_five_problems_and_counts_the_rest(site: PprSettings) -> None:
    root = _document(site)
    for element in root.iter(
        "PIName", "Observatory", "Telescope", "ProcessingSite", "Operator", "Mode", "Version"
    ):
        element.text = f" {element.text}"
    with pytest.raises(InvalidPpr) as caught:
        validate_ppr(root)
    assert len(caught.value.problems) == 7
    assert str(caught.value).count("line ") == 5
    assert str(caught.value).endswith("(and 2 more)")

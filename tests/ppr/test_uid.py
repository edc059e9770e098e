from __future__ import annotations

import pytest

from etl.archive_names import canonical_uid, disk_name, is_canonical_uid, parse_mous_uid
from etl.errors import InvalidMousUid, UsageError


@pytest.mark.parametrize(
    "text",
    [
        "uid://A001/X129e/Xb6",
        "uid___A001_X129e_Xb6",
        "member.uid___A001_X129e_Xb6",
        "member.uid://A001/X129e/Xb6",
        "  uid://A001/X129e/Xb6\n",
        "\tmember.uid___A001_X129e_Xb6 ",
    ],
)
def test_every_accepted_form_gives_the_archive_form(text: str) -> None:
    assert parse_mous_uid(text) == "uid://A001/X129e/Xb6"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("uid___A002_Xc77d4f_X522", "uid://A002/Xc77d4f/X522"),
        ("uid://A001/X1284/X265f", "uid://A001/X1284/X265f"),
        ("member.uid___A001_X133d_X3681", "uid://A001/X133d/X3681"),
        ("uid://A123/X0/X0", "uid://A123/X0/X0"),
    ],
)
def test_other_archives_and_serials(text: str, canonical: str) -> None:
    assert parse_mous_uid(text) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "uid://A001/X129e",
        "uid://A001/X129e/Xb6/X1",
        "uid://A001/X129E/Xb6",  # ALMA writes lower-case hex only
        "uid://A001/X129e/XB6",
        "uid://a001/X129e/Xb6",
        "uid://A01/X129e/Xb6",
        "uid://A0001/X129e/Xb6",
        "uid://B001/X129e/Xb6",
        "uid:/A001/X129e/Xb6",
        "uid:///A001/X129e/Xb6",
        "UID://A001/X129e/Xb6",
        "uid://A001/129e/Xb6",
        "uid://A001/X/Xb6",
        "uid://A001/X129g/Xb6",
        "uid://A001/x129e/Xb6",
        "uid___A001/X129e/Xb6",  # the two spellings mixed
        "uid://A001_X129e_Xb6",
        "uid__A001_X129e_Xb6",
        "uid____A001_X129e_Xb6",
        "Member.uid___A001_X129e_Xb6",
        "member.member.uid___A001_X129e_Xb6",
        "member uid___A001_X129e_Xb6",
        "uid___A001_X129e_Xb6.ms",
        "uid___A001_X129e_Xb6.session_1.caltables.tgz",
        "2017.1.00895.S",
        "uid://A001/X129e/Xb6 uid://A001/X129e/Xb7",
        "uid://A001/X129e/ Xb6",
        "uid://A001/X129e/Xb6\x00",
        "uid://A001/X129e/Xb6/",
        "/uid://A001/X129e/Xb6",
    ],
)
def test_anything_else_is_refused_naming_the_input_and_the_accepted_forms(text: str) -> None:
    with pytest.raises(InvalidMousUid) as caught:
        parse_mous_uid(text)
    message = str(caught.value)
    assert repr(text) in message
    assert "uid://A001/X129e/Xb6 or uid___A001_X129e_Xb6" in message
    assert "member." in message
    assert caught.value.text == text


def test_an_invalid_uid_is_a_usage_error_with_exit_code_2() -> None:
    with pytest.raises(UsageError) as caught:
        parse_mous_uid("X129e")
    assert caught.value.exit_code == 2


def test_disk_name_replaces_colon_and_slashes() -> None:
    assert disk_name("uid://A002/Xc77d4f/X522") == "uid___A002_Xc77d4f_X522"


@pytest.mark.parametrize(
    "uid", ["uid://A001/X129e/Xb6", "uid://A002/Xc77d4f/X522", "uid://A002/Xc790bf/X1201"]
)
def test_disk_name_and_parsing_round_trip(uid: str) -> None:
    name = disk_name(uid)
    assert parse_mous_uid(name) == uid
    assert disk_name(parse_mous_uid(name)) == name
    assert parse_mous_uid(f"member.{name}") == uid


def test_canonical_uid_answers_none_instead_of_raising() -> None:
    assert canonical_uid("uid___A002_Xc77d4f_X522") == "uid://A002/Xc77d4f/X522"
    assert canonical_uid("not a uid") is None
    # Unlike parse_mous_uid, surrounding whitespace is not forgiven here.
    assert canonical_uid(" uid://A002/Xc77d4f/X522") is None


def test_is_canonical_uid_accepts_the_archive_form_only() -> None:
    assert is_canonical_uid("uid://A002/Xc77d4f/X522")
    assert not is_canonical_uid("uid___A002_Xc77d4f_X522")
    assert not is_canonical_uid("uid://A002/Xc77d4f/X522 ")


def test_the_mirror_the_schema_and_the_generator_share_one_uid_form() -> None:
    """The verdict refuses EB and reference UIDs with the pattern the XSD and the UID parser check them by."""
    from pathlib import Path

    from lxml import etree

    from etl.archive_names import ARCHIVE_UID_PATTERN, CANONICAL_UID

    xsd = etree.parse(str(Path(__file__).parents[2] / "ppr" / "SciPipeRequest.xsd"))
    namespaces = {"xs": "http://www.w3.org/2001/XMLSchema"}
    [schema_pattern] = xsd.xpath("//xs:simpleType[@name='Uid']//xs:pattern/@value", namespaces=namespaces)
    unanchored = ARCHIVE_UID_PATTERN.removeprefix("^").removesuffix("$")
    # PostgreSQL's ARE and Python's re read this pattern alike (no classes, no escapes).
    assert unanchored == CANONICAL_UID.pattern.replace("(", "").replace(")", "") == schema_pattern

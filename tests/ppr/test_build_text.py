"""``ppr_document`` writes the bytes lxml writes for ``build_ppr``'s tree, indented, byte for byte."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.settings import PprSettings
from ppr.build import build_ppr, default_relative_path, ppr_document, serialize_own_ppr
from ppr.errors import InvalidPpr
from ppr.model import ArchivedRecord, RestoreRequest
from tests.ppr.examples import seed_request, sessions_of, small_request

CREATED = datetime(2024, 3, 5, 6, 7, 8, 9_000, tzinfo=UTC)
# Free text as archives hold it, and the characters XML escapes or cannot carry at all.
TEXT = st.none() | st.text(max_size=40) | st.sampled_from(
    ["", " ", "a & b <c> \"q\" 'é'", "]]>", "\r\n\t", "\x01\x7f\x85", "\u2028\ufffe\U0001f600", "\ud800"]
)
UID = st.from_regex(r"uid://A00[12]/X[0-9a-f]{1,6}/X[0-9a-f]{1,5}", fullmatch=True)


@st.composite
def requests(draw: st.DrawFn) -> RestoreRequest:
    eb_uids = draw(st.lists(UID, min_size=1, max_size=8, unique_by=lambda uid: uid.lower()))
    # Sessions 1..K over the EBs, empty ones included.
    cuts = sorted(draw(st.lists(st.integers(0, len(eb_uids)), max_size=4)))
    bounds = [0, *cuts, len(eb_uids)]
    pairs = enumerate(itertools.pairwise(bounds), start=1)
    mapping = {number: tuple(eb_uids[a:b]) for number, (a, b) in pairs}
    array = draw(st.sampled_from(["12m", "7m", "TP"]))
    task = draw(st.sampled_from([None, "hifa_restoredata", "hsd_restoredata", "hif_restoredata", "other"]))
    record = None if task is None else ArchivedRecord(
        state="follows_archive", restore_task=task, ocorr_mode=draw(st.sampled_from([None, "ca", "ao"])),
        hm_rasterscan=draw(st.sampled_from([None, "time", "row"])), casa_version=None,
        pipeline_version=None, mpi_servers=None, manifest_file=None, restore_script_file=None,
        request_file=None,
    )
    return small_request(
        mapping, project_code=draw(st.text(max_size=20)), project_title=draw(TEXT), pi_name=draw(TEXT),
        sb_title=draw(TEXT), ous_part_id=draw(st.text(max_size=12)), obs_project_uid=draw(UID),
        array=array, record=record,
    )


SITES = st.builds(
    PprSettings, processing_site=TEXT.map(lambda text: text or ""), operator=st.text(max_size=10),
    mode=st.sampled_from(["CSV", ""]), version=st.text(max_size=10),
    root_directory=st.text(max_size=30), procedure_title=st.sampled_from(["", "hifa_restore", "a&b"]),
    pipeline_operator_address=st.text(max_size=20),
)


def by_tree(request: RestoreRequest, site: PprSettings, relative_path: str) -> bytes | type[Exception]:
    try:
        return serialize_own_ppr(build_ppr(request, site, relative_path, CREATED))
    except (InvalidPpr, ValueError, TypeError) as exc:
        return type(exc)


def by_text(request: RestoreRequest, site: PprSettings, relative_path: str) -> bytes | type[Exception]:
    try:
        return ppr_document(request, site, relative_path, CREATED)
    except (InvalidPpr, ValueError, TypeError) as exc:
        return type(exc)


@settings(max_examples=400, deadline=None)
@given(requests(), SITES)
def test_the_text_is_the_tree_s_serialisation(request: RestoreRequest, site: PprSettings) -> None:
    relative_path = default_relative_path(request, CREATED)
    assert by_text(request, site, relative_path) == by_tree(request, site, relative_path)


def test_the_seed_request_and_empty_texts(site: PprSettings) -> None:
    for request in (
        seed_request(),
        seed_request(project_title="", pi_name=" \t ", sb_title="a\x00b"),
        small_request({1: (), 2: ("uid://A002/Xc77d4f/X522",), 3: ()}),
    ):
        relative_path = default_relative_path(request, CREATED)
        assert ppr_document(request, site, relative_path, CREATED) == by_tree(request, site, relative_path)
    empty_site = dataclasses.replace(site, processing_site="", operator="", root_directory="")
    request = seed_request()
    relative_path = default_relative_path(request, CREATED)
    assert b"<ProcessingSite></ProcessingSite>" in ppr_document(request, empty_site, relative_path, CREATED)
    assert ppr_document(request, empty_site, relative_path, CREATED) == by_tree(
        request, empty_site, relative_path
    )


def test_a_request_the_tree_refuses_is_refused_alike(site: PprSettings) -> None:
    request = small_request({1: ("uid://A002/Xc77d4f/X522",), 3: ()})
    with pytest.raises(InvalidPpr, match="numbered"):
        ppr_document(request, site, "a/b", CREATED)
    assert by_tree(request, site, "a/b") is InvalidPpr
    no_ebs = dataclasses.replace(request, sessions=sessions_of({1: ()}))
    assert by_text(no_ebs, site, "a/b") is InvalidPpr is by_tree(no_ebs, site, "a/b")

"""Where the pipeline's reader (as ppr-consumer.md describes it) puts each EB of the PPRs we write."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest
from lxml import etree

from etl.archive_names import disk_name
from etl.settings import PprSettings
from ppr.build import build_ppr, default_relative_path, serialize_ppr
from ppr.model import RestoreRequest
from tests.ppr.examples import MOUS_DISK, SEED_SESSIONS, seed_request, small_request
from tests.ppr.pipeline_reader import PipelineView, PipelineWouldFail, read_ppr

CREATED = datetime(2024, 3, 5, 6, 7, 8, tzinfo=UTC)
A = "uid://A002/Xc77d4f/X522"
B = "uid://A002/Xc77d4f/X3d06"
C = "uid://A002/Xc790bf/X1201"
D = "uid://A002/Xc790bf/X3e2"


def _read(request: RestoreRequest, site: PprSettings) -> PipelineView:
    relative_path = default_relative_path(request, CREATED)
    return read_ppr(serialize_ppr(build_ppr(request, site, relative_path, CREATED)))


def _assert_every_eb_lands_in_its_session(view: PipelineView, mapping: Mapping[int, Sequence[str]]) -> None:
    intended = {disk_name(uid): number for number, uids in mapping.items() for uid in uids}
    assert view.asdm_session == intended
    # Matched by a session, not dropped into session 1 by default.
    assert view.matched == set(intended)
    assert sorted(view.sessions) == sorted(mapping)


def test_the_reader_reads_the_seed_example_as_intended(seed_xml: bytes) -> None:
    _assert_every_eb_lands_in_its_session(read_ppr(seed_xml), SEED_SESSIONS)


def test_every_eb_of_the_seed_request_lands_in_its_session(site: PprSettings) -> None:
    view = _read(seed_request(), site)
    _assert_every_eb_lands_in_its_session(view, SEED_SESSIONS)
    assert view.proposal_code == "2017.1.00895.S"
    assert view.ous_prefix == MOUS_DISK
    assert view.relative_path.endswith(f"/MOUS_{MOUS_DISK}")
    assert view.commands == [("hifa_restoredata", {"ocorr_mode": "ca"})]


@pytest.mark.parametrize(
    "mapping",
    [
        pytest.param({1: (), 2: (A,), 3: (B,)}, id="empty-first"),
        pytest.param({1: (), 2: (), 3: (A, B)}, id="two-empty-first"),
        pytest.param({1: (A,), 2: (), 3: (B,)}, id="empty-middle"),
        pytest.param({1: (A,), 2: (), 3: (), 4: (B, C), 5: (), 6: (D,)}, id="several-empty"),
        pytest.param({1: (A,), 2: (B,), 3: ()}, id="empty-last"),
        pytest.param({1: (A, B, C, D)}, id="one-session"),
    ],
)
def test_empty_sessions_keep_every_later_eb_in_its_session(
    site: PprSettings, mapping: dict[int, tuple[str, ...]]
) -> None:
    _assert_every_eb_lands_in_its_session(_read(small_request(mapping), site), mapping)


def test_an_eb_of_session_2_after_an_empty_session_1_is_not_restored_as_session_1(site: PprSettings) -> None:
    view = _read(small_request({1: (), 2: (A,)}), site)
    assert view.asdm_session == {disk_name(A): 2}
    assert disk_name(A) in view.matched


def test_total_power_restores_with_hsd_and_autocorrelations(site: PprSettings) -> None:
    view = _read(small_request({1: (A,), 2: (B,)}, array="TP"), site)
    assert view.commands == [("hsd_restoredata", {"ocorr_mode": "ao"})]
    _assert_every_eb_lands_in_its_session(view, {1: (A,), 2: (B,)})


@pytest.mark.parametrize("array", ["7m", "12m"])
def test_interferometry_restores_with_hifa_and_cross_correlations(site: PprSettings, array: str) -> None:
    view = _read(small_request({1: (A,)}, array=array), site)
    assert view.commands == [("hifa_restoredata", {"ocorr_mode": "ca"})]


# --- the reader sees the silent failures the validator guards against ------------------------------


def _edited(site: PprSettings, mapping: dict[int, tuple[str, ...]], old: bytes, new: bytes) -> bytes:
    document = serialize_ppr(build_ppr(small_request(mapping), site, "p", CREATED))
    assert old in document
    return document.replace(old, new)


def test_reader_drops_an_eb_into_session_1_after_a_gap(site: PprSettings) -> None:
    document = _edited(site, {1: (A,), 2: (), 3: (B,)}, b"SESSION_2", b"SESSION_9")
    view = read_ppr(document)
    assert sorted(view.sessions) == [1]
    assert view.asdm_session[disk_name(B)] == 1
    assert disk_name(B) not in view.matched


def test_reader_ends_the_intents_list_at_an_entry_without_keyword(site: PprSettings) -> None:
    document = _edited(site, {1: (A,), 2: (B,)}, b"<Keyword>SESSION_1</Keyword>", b"")
    view = read_ppr(document)
    assert view.sessions == {}
    assert "PROCESS" in view.intents


def test_reader_does_not_match_a_value_with_whitespace_around_it(site: PprSettings) -> None:
    document = _edited(
        site, {1: (A,), 2: (B,)}, f"<Value>{B}</Value>".encode(), f"<Value>{B} </Value>".encode()
    )
    view = read_ppr(document)
    assert disk_name(B) not in view.matched
    assert view.asdm_session[disk_name(B)] == 1


def test_reader_stops_on_two_sched_block_identifiers(site: PprSettings) -> None:
    root = build_ppr(small_request({1: (A,)}), site, "p", CREATED).getroot()
    sched_block_set = root.find(".//SchedBlockSet")
    assert sched_block_set is not None
    sched_block_set.append(etree.fromstring(etree.tostring(sched_block_set[0])))
    with pytest.raises(PipelineWouldFail, match="2 SchedBlockIdentifier"):
        read_ppr(serialize_ppr(root))


def test_reader_refuses_a_task_that_does_not_exist(site: PprSettings) -> None:
    document = _edited(site, {1: (A,)}, b"hifa_restoredata", b"hif_restoredata")
    with pytest.raises(PipelineWouldFail, match="hif_restoredata"):
        read_ppr(document)

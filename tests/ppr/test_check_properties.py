"""Properties of the session-map comparison: it finds exactly the differences a restore would trip on."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st

from etl.archive_names import disk_name
from ppr.check import DifferenceKind, SessionDifference, compare_sessions
from ppr.model import Session

SessionMap = dict[int, tuple[str, ...]]

eb_uids = st.builds(
    "uid://A002/X{:x}/X{:x}".format, st.integers(0, 0xFFFFF), st.integers(0, 0xFFF)
)


@st.composite
def session_maps(draw: st.DrawFn, min_sessions: int = 1, min_ebs: int = 0) -> SessionMap:
    """SESSION_1..K, each EB in one session, sessions possibly empty, EBs in any order."""
    count = draw(st.integers(min_sessions, 8))
    ebs = draw(st.lists(eb_uids, min_size=min_ebs, max_size=20, unique=True))
    homes = [draw(st.integers(1, count)) for _ in ebs]
    return {number: tuple(eb for eb, home in zip(ebs, homes, strict=True) if home == number)
            for number in range(1, count + 1)}


@st.composite
def map_pairs(draw: st.DrawFn) -> tuple[SessionMap, SessionMap]:
    """Two maps over one small pool of EBs: each EB on both sides, one side or neither, anywhere."""
    pool = draw(st.lists(eb_uids, min_size=1, max_size=10, unique=True))

    def side() -> SessionMap:
        count = draw(st.integers(1, 5))
        homes = [draw(st.integers(0, count)) for _ in pool]  # 0: not on this side
        return {number: tuple(eb for eb, home in zip(pool, homes, strict=True) if home == number)
                for number in range(1, count + 1)}

    return side(), side()


def derived(mapping: Mapping[int, tuple[str, ...]]) -> tuple[Session, ...]:
    return tuple(Session(number, ebs) for number, ebs in sorted(mapping.items()))


def shuffled_within_sessions(data: st.DataObject, mapping: SessionMap) -> SessionMap:
    return {number: tuple(data.draw(st.permutations(ebs))) for number, ebs in mapping.items()}


def as_sets(mapping: Mapping[int, tuple[str, ...]]) -> dict[int, frozenset[str]]:
    return {number: frozenset(ebs) for number, ebs in mapping.items()}


def mirrored(difference: SessionDifference) -> SessionDifference:
    """The same difference seen from the other side."""
    return SessionDifference(
        difference.kind, difference.archived_session, difference.mirror_session, difference.eb_uid
    )


@given(session_maps())
def test_a_map_compared_with_itself_has_no_differences(mapping: SessionMap) -> None:
    assert compare_sessions(derived(mapping), mapping) == []


@given(session_maps())
def test_the_archived_disk_form_of_every_eb_is_the_same_map(mapping: SessionMap) -> None:
    on_disk = {number: tuple(disk_name(eb) for eb in ebs) for number, ebs in mapping.items()}
    assert compare_sessions(derived(mapping), on_disk) == []


@given(map_pairs(), st.data())
def test_order_within_a_session_never_matters(
    pair: tuple[SessionMap, SessionMap], data: st.DataObject
) -> None:
    mine, theirs = pair
    expected = compare_sessions(derived(mine), theirs)
    assert compare_sessions(derived(shuffled_within_sessions(data, mine)), theirs) == expected
    assert compare_sessions(derived(mine), shuffled_within_sessions(data, theirs)) == expected


@given(map_pairs() | session_maps().map(lambda mapping: (mapping, mapping)))
def test_there_are_no_differences_exactly_when_the_maps_hold_the_same_sets(
    pair: tuple[SessionMap, SessionMap],
) -> None:
    mine, theirs = pair
    assert (compare_sessions(derived(mine), theirs) == []) is (as_sets(mine) == as_sets(theirs))


@given(map_pairs())
def test_each_side_sees_the_same_differences(pair: tuple[SessionMap, SessionMap]) -> None:
    mine, theirs = pair
    forwards = compare_sessions(derived(mine), theirs)
    backwards = compare_sessions(derived(theirs), mine)
    assert sorted(map(repr, map(mirrored, forwards))) == sorted(map(repr, backwards))


@given(session_maps(min_sessions=2, min_ebs=1), st.data())
def test_moving_one_eb_is_exactly_one_eb_moved_naming_both_sessions(
    mapping: SessionMap, data: st.DataObject
) -> None:
    eb = data.draw(st.sampled_from(sorted(eb for ebs in mapping.values() for eb in ebs)))
    home = next(number for number, ebs in mapping.items() if eb in ebs)
    elsewhere = data.draw(st.sampled_from(sorted(set(mapping) - {home})))
    moved = {number: tuple(other for other in ebs if other != eb) for number, ebs in mapping.items()}
    moved[elsewhere] = (*moved[elsewhere], eb)
    assert compare_sessions(derived(mapping), moved) == [
        SessionDifference(DifferenceKind.EB_MOVED, home, elsewhere, eb),  # (derived, archived)
    ]


@given(session_maps(min_sessions=2), st.data())
def test_dropping_a_session_and_renumbering_the_rest_is_detected(
    archived: SessionMap, data: st.DataObject
) -> None:
    """The failure the seed document warns of: a session dropped and the later ones renumbered."""
    dropped = data.draw(st.sampled_from(sorted(archived)))
    last = max(archived)
    renumbered = {
        (number if number < dropped else number - 1): ebs
        for number, ebs in archived.items() if number != dropped
    }
    expected = {SessionDifference(DifferenceKind.SESSION_MISSING, None, last)}
    for number, ebs in archived.items():
        for eb in ebs:
            if number == dropped:
                expected.add(SessionDifference(DifferenceKind.EB_MISSING, None, number, eb))
            elif number > dropped:
                expected.add(SessionDifference(DifferenceKind.EB_MOVED, number - 1, number, eb))
    found = compare_sessions(derived(renumbered), archived)
    assert set(found) == expected
    assert len(found) == len(expected)
    # Whole sessions first, then moved EBs, then missing ones.
    order = [DifferenceKind.SESSION_MISSING, DifferenceKind.EB_MOVED, DifferenceKind.EB_MISSING]
    assert [d.kind for d in found] == sorted((d.kind for d in found), key=order.index)


@given(session_maps(), st.integers(1, 3))
def test_an_empty_session_added_or_missing_is_one_session_difference(mapping: SessionMap, extra: int) -> None:
    longer = {**mapping, **{max(mapping) + n: () for n in range(1, extra + 1)}}
    added = [number for number in longer if number not in mapping]
    assert compare_sessions(derived(mapping), longer) == [
        SessionDifference(DifferenceKind.SESSION_MISSING, None, number) for number in added
    ]
    assert compare_sessions(derived(longer), mapping) == [
        SessionDifference(DifferenceKind.SESSION_MISSING, number, None) for number in added
    ]

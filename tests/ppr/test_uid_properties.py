"""Properties of the UID forms: every spelling of a UID reads as it, and nothing else reads as a UID."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from etl.archive_names import canonical_uid, disk_name, is_canonical_uid, parse_mous_uid
from etl.errors import InvalidMousUid

HEX_DIGITS = "0123456789abcdef"
# Characters that make a near-miss of a UID: other cases, separators, look-alike digits and spaces.
CONFUSABLE = "0123456789abcdefABCDEFXxAa/:_.- \t\n\u00a0\u0661\uff10\u212a"


@dataclass(frozen=True)
class Uid:
    archive: str  # A001
    first: str  # X129e
    second: str  # Xb6

    @property
    def archive_form(self) -> str:
        return f"uid://{self.archive}/{self.first}/{self.second}"

    @property
    def disk_form(self) -> str:
        return f"uid___{self.archive}_{self.first}_{self.second}"

    def spellings(self) -> set[str]:
        """Every form a person may type for this UID (before surrounding whitespace)."""
        return {self.archive_form, self.disk_form, f"member.{self.archive_form}", f"member.{self.disk_form}"}


serials = st.text(HEX_DIGITS, min_size=1, max_size=8).map(lambda digits: "X" + digits)
uids = st.builds(Uid, st.integers(0, 999).map(lambda number: f"A{number:03d}"), serials, serials)
padding = st.text(" \t\r\n", max_size=3)


def any_spelling(uid: Uid) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(uid.spellings()))


@st.composite
def near_misses(draw: st.DrawFn) -> str:
    """A spelling of a UID with one character replaced, inserted, removed or changed in case."""
    text = draw(uids.flatmap(any_spelling))
    separators = [index for index, character in enumerate(text) if not character.isalnum()]
    # Half the edits at a separator, where a UID's structure is (':', '/', '_', '.').
    position = draw(st.sampled_from(separators) | st.sampled_from(range(len(text) + 1)))
    character = draw(st.sampled_from(CONFUSABLE))
    edit = draw(st.sampled_from(["replace", "insert", "remove", "case"]))
    if edit == "case":
        return text[:position] + text[position:].swapcase()[:1] + text[position + 1 :]
    if edit == "insert":
        return text[:position] + character + text[position:]
    if edit == "remove" or position == len(text):
        return text[:position] + text[position + 1 :]
    return text[:position] + character + text[position + 1 :]


def looks_canonical(text: str) -> bool:
    """The archive form checked piece by piece, without a regular expression."""
    prefix, _, rest = text.partition("://")
    parts = rest.split("/")
    if prefix != "uid" or len(parts) != 3:
        return False
    archive, *serial_parts = parts
    return (
        len(archive) == 4 and archive[0] == "A" and all(c in "0123456789" for c in archive[1:])
        and all(len(s) > 1 and s[0] == "X" and all(c in HEX_DIGITS for c in s[1:]) for s in serial_parts)
    )


def is_some_spelling(text: str) -> bool:
    """Whether ``text`` spells some valid UID in one of the four forms (no regular expression)."""
    bare = text.removeprefix("member.")
    if bare.startswith("uid___"):
        parts = bare.removeprefix("uid___").split("_")
        return len(parts) == 3 and looks_canonical("uid://" + "/".join(parts))
    return looks_canonical(bare)


@given(uids)
def test_the_archive_form_is_canonical_and_reads_as_itself(uid: Uid) -> None:
    assert is_canonical_uid(uid.archive_form)
    assert canonical_uid(uid.archive_form) == uid.archive_form
    assert parse_mous_uid(uid.archive_form) == uid.archive_form


@given(uids)
def test_the_disk_form_is_the_archive_form_with_colon_and_slashes_replaced(uid: Uid) -> None:
    assert disk_name(uid.archive_form) == uid.disk_form
    assert not is_canonical_uid(uid.disk_form)


@given(uids.flatmap(lambda uid: st.tuples(st.just(uid), any_spelling(uid), padding, padding)))
def test_every_spelling_reads_as_the_archive_form(case: tuple[Uid, str, str, str]) -> None:
    uid, spelling, before, after = case
    assert parse_mous_uid(before + spelling + after) == uid.archive_form
    assert canonical_uid(spelling) == uid.archive_form
    # Round trip: canonical → disk → canonical, and disk → canonical → disk.
    assert canonical_uid(disk_name(uid.archive_form)) == uid.archive_form
    assert disk_name(parse_mous_uid(spelling)) == uid.disk_form


@settings(max_examples=500)  # cheap; many single edits of a spelling leave another valid UID
@given(near_misses())
@example("uid://A001/X129e/Xb6\n")
@example("member.member.uid___A001_X129e_Xb6")
@example("uid://A\u0661\u0661\u0661/X1/X2")  # Arabic-Indic digits are digits to \d, not to ALMA
def test_a_near_miss_reads_as_a_uid_exactly_when_it_spells_one(text: str) -> None:
    reads_exactly_when_it_spells_a_uid(text)


@given(st.text(CONFUSABLE + "uidmember", max_size=30) | st.text(max_size=30))
def test_any_text_reads_as_a_uid_exactly_when_it_spells_one(text: str) -> None:
    reads_exactly_when_it_spells_a_uid(text)


def reads_exactly_when_it_spells_a_uid(text: str) -> None:
    """The text is refused, or it is exactly one spelling of the canonical UID it reads as."""
    found = canonical_uid(text)
    assert (found is not None) is is_some_spelling(text)
    if found is not None:
        assert text in spellings_of(found)
    if is_some_spelling(text.strip()):
        # Typed input is forgiven its surrounding whitespace, and nothing else.
        assert text.strip() in spellings_of(parse_mous_uid(text))
    else:
        with pytest.raises(InvalidMousUid) as refused:
            parse_mous_uid(text)
        assert refused.value.text == text
        assert repr(text) in str(refused.value)


def spellings_of(found: str) -> set[str]:
    assert looks_canonical(found), found
    archive, first, second = found.removeprefix("uid://").split("/")
    return Uid(archive, first, second).spellings()

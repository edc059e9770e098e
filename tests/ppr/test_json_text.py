"""``indented_json`` writes what ``json.dumps(indent=2, ensure_ascii=False)`` writes, byte for byte."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ppr.json_text import indented_json

# What a fetch manifest and restore.json hold: no floats (see ppr/json_text.py).
SCALARS = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text()
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def by_json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


@given(VALUES)
def test_indented_json_is_json_dumps_byte_for_byte(value: Any) -> None:
    assert indented_json(value) == by_json(value)


def test_control_characters_quotes_and_empty_containers_are_written_alike() -> None:
    value = {"text": "a\u0001\u001f\x7f\u2028é\"\\\b\f\n\r\t/", "empty": [[], {}], "big": 2**64, "small": -1}
    assert indented_json(value) == by_json(value)

"""JSON files byte for byte as ``json.dumps(value, indent=2, ensure_ascii=False)`` writes them, in C.

The standard library encodes in C only without ``indent``: a request directory's fetch manifest and
restore.json, indented, cost a bulk run about a third of its build CPU in the pure-Python encoder.
orjson's two-space indent writes the same bytes for what these files hold: strings, integers,
booleans, None, lists, tuples and dicts with string keys (tests/ppr/test_json_text.py compares the
two on generated values). What orjson refuses (an integer beyond 64 bits, a lone surrogate, a
datetime) goes to ``json``, which writes it or raises as before. Floats are the one type the two
spell differently (``1e+16``, ``NaN``): nothing in these files is one (counts, sizes and versions are
integers or strings), and checking every value for one would cost more than the encoding saves.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson

_OPTIONS: Final = (
    orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def indented_json(value: Any) -> bytes:
    """``value`` as UTF-8 JSON indented by two spaces, with a final newline, as ``json.dumps`` writes it."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except orjson.JSONEncodeError:
        # json writes what orjson cannot (a very large integer), or raises its own error for it.
        return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

"""Hand-run calibration scripts (``*scriptForCalibration.py``, ``*scriptForPolCalibration.py``,
``*scriptForFluxCalibration.py``, ``*scriptForSDCalibration.py``), read and never executed.

What a restore needs from one is the CASA version it was written for: each script stops with
``sys.exit('ERROR: PLEASE USE THE SAME VERSION OF CASA THAT YOU USED FOR GENERATING THE SCRIPT: 4.7.0')``
under any other, so a restore must run exactly that version. Scripts of CASA 4 and 5 are Python 2
(``print "…"``), which ``ast`` cannot parse: then the tokens are read instead, and the message is
still read with ``ast.literal_eval``, never by running anything.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from etl.calibration.errors import MalformedDocument

# The ast module is not safe to use from several threads at once in CPython 3.11 (see restore_script).
from etl.calibration.restore_script import _PARSING as AST_LOCK

CALIBRATION_SCRIPT: Final = "calibration_script"
# NRAO's rule for the scripts scriptForPI.py runs (the SQL LIKE form, ``_`` needs no escape here).
LIKE_PATTERN: Final = "%scriptFor%Cal%.py"
_NAME: Final = re.compile(r"scriptFor(?:Pol|Flux|SD)?Calibration\.py$")
_VERSION_MESSAGE: Final = re.compile(
    r"SAME\s+VERSION\s+OF\s+CASA\s+THAT\s+YOU\s+USED\s+FOR\s+GENERATING\s+THE\s+SCRIPT\s*:\s*"
    r"([0-9]+(?:[.-][0-9]+)*)",
    re.IGNORECASE,
)
# Real scripts are a few hundred kB at most.
MAX_SCRIPT_CHARACTERS: Final = 4 * 1024 * 1024


def is_calibration_script(file_name: str) -> bool:
    """True for the four hand-run calibration scripts a delivery's scriptForPI.py runs."""
    return _NAME.search(file_name) is not None


@dataclass(frozen=True)
class CalibrationScript:
    casa_version: str | None  # the version its sys.exit line demands; None when it names none

    def to_json(self) -> dict[str, Any]:
        return {"casa_version": self.casa_version}


def parse_calibration_script(text: str) -> CalibrationScript:
    """The CASA version the script demands; ``MalformedDocument`` when it is not a Python script."""
    if len(text) > MAX_SCRIPT_CHARACTERS:
        raise MalformedDocument(f"it is {len(text)} characters, more than any calibration script; not read")
    messages = list(_exit_messages(text))
    versions = sorted({match.group(1) for message in messages if (match := _VERSION_MESSAGE.search(message))})
    if len(versions) > 1:
        raise MalformedDocument(f"it demands several CASA versions ({', '.join(versions)})")
    return CalibrationScript(versions[0] if versions else None)


def _exit_messages(text: str) -> Iterator[str]:
    """The string arguments of every ``sys.exit(…)`` call."""
    try:
        with AST_LOCK:
            tree = ast.parse(text)
    except SyntaxError:
        yield from _exit_messages_by_tokens(text)
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_sys_exit(node.func) and node.args:
            argument = node.args[0]
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                yield argument.value


def _is_sys_exit(function: ast.expr) -> bool:
    return (
        isinstance(function, ast.Attribute) and function.attr == "exit"
        and isinstance(function.value, ast.Name) and function.value.id == "sys"
    )


def _exit_messages_by_tokens(text: str) -> Iterator[str]:
    """Python 2 scripts: ``sys . exit ( '<message>'`` as tokens, the message read by literal_eval."""
    window: list[str] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT,
                              tokenize.DEDENT}:
                continue
            if token.type == tokenize.STRING and window[-4:] == ["sys", ".", "exit", "("]:
                yield from _string_literal(token.string)
            window = [*window[-3:], token.string]
    except (tokenize.TokenError, SyntaxError) as exc:
        raise MalformedDocument(f"it is not a Python script ({exc})") from None


def _string_literal(token: str) -> Iterator[str]:
    try:
        with AST_LOCK:
            value = ast.literal_eval(token)
    except (ValueError, SyntaxError):
        return
    if isinstance(value, str):
        yield value

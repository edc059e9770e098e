"""The restore script (``*.casa_piperestorescript.py``), read with ``ast`` and never executed.

What the pipeline writes: ``h_init()`` (``context = h_init()`` and ``context.set_state(…)`` lines for
total power), one ``<package>_restoredata(vis=[…], session=[…], ocorr_mode=…[, hm_rasterscan=…])`` in a
``try``, ``h_save()`` in its ``finally``, and before 2020 ``__rethrow_casa_exceptions = True``. ``vis``
and ``session`` are parallel lists: the pipeline's own EB→session key, read with ``ast.literal_eval``.
Every other statement (``fixsyscaltimes(vis=…)``, ``fixplanets(…)``, …) was added by hand: an extra
step a restore PPR cannot carry. An import whose names nothing calls is inert: most Cycle-5 scripts
begin with ``from recipes.almahelpers import fixsyscaltimes`` and never call it.

A script is archive input: one bigger than ``MAX_SCRIPT_CHARACTERS``, or nested deeper than the
parser goes (``MemoryError``/``RecursionError``), is malformed, never a failed sync. The size bound
is also the time bound: parsing one long line is quadratic (4 MB took 213 s).
"""

from __future__ import annotations

import ast
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from etl.calibration.errors import MalformedDocument

RESTORE_SUFFIX: Final = "_restoredata"
LEGACY_TASK: Final = "hif_restoredata"
# The keywords that carry the EB→session key; every other keyword is an argument of the restore.
KEY_KEYWORDS: Final = ("vis", "session")
_SESSION_LABEL: Final = re.compile(r"session_([1-9][0-9]{0,5})")
_BOILERPLATE_FLAG: Final = "__rethrow_casa_exceptions"
# Threads parsing at once can fail in CPython 3.11 with "SystemError: AST constructor recursion depth
# mismatch" (python/cpython#106905; it ended one of two ALMA-scale benchmark syncs, 8 workers). One
# parse at a time: a script takes about 0.1 ms.
_PARSING = threading.Lock()
# Real restore scripts are under 10 kB (total power's set_state lines included); 256 kB parses in
# well under a second even as one line.
MAX_SCRIPT_CHARACTERS: Final = 256 * 1024


def _parse(text: str) -> ast.Module:
    with _PARSING:
        return ast.parse(text)


def _literal(text: str) -> object:
    with _PARSING:
        return ast.literal_eval(text)


@dataclass(frozen=True)
class RestoreScript:
    task: str  # as called: hifa_restoredata, hsd_restoredata, or the retired hif_restoredata
    eb_sessions: tuple[tuple[str, int], ...]  # (EB disk name, session number), in the script's order
    arguments: dict[str, str] = field(default_factory=dict)  # other keywords, values as written
    extra_steps: tuple[str, ...] = ()  # statements a restore PPR cannot carry, in order, one line each

    @property
    def legacy(self) -> bool:
        """The retired ``hif_restoredata``, which no current pipeline has."""
        return self.task == LEGACY_TASK

    def argument(self, keyword: str) -> str | None:
        """An argument's value when it is a literal string (``ocorr_mode='ca'`` → ``ca``), else None."""
        written = self.arguments.get(keyword)
        if written is None:
            return None
        try:
            value = _literal(written)
        except (ValueError, SyntaxError, RecursionError):
            return None
        return value if isinstance(value, str) else None

    def sessions(self) -> dict[int, tuple[str, ...]]:
        """Session number → the EB disk names the script restores in it."""
        mapping: dict[int, list[str]] = {}
        for eb, number in self.eb_sessions:
            mapping.setdefault(number, []).append(eb)
        return {number: tuple(ebs) for number, ebs in sorted(mapping.items())}

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task, "eb_sessions": [list(pair) for pair in self.eb_sessions],
            "arguments": self.arguments, "extra_steps": list(self.extra_steps),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> RestoreScript:
        return cls(
            value["task"], tuple((eb, number) for eb, number in value["eb_sessions"]),
            dict(value["arguments"]), tuple(value["extra_steps"]),
        )


def parse_restore_script(text: str) -> RestoreScript:
    """The restore call, its key and arguments, and the extra steps; ``MalformedDocument`` otherwise."""
    if len(text) > MAX_SCRIPT_CHARACTERS:
        raise MalformedDocument(
            f"the restore script is {len(text)} characters long, more than the {MAX_SCRIPT_CHARACTERS} "
            "any pipeline writes; it is not read"
        )
    try:
        return _read(text)
    except SyntaxError as exc:
        raise MalformedDocument(f"the restore script is not Python (line {exc.lineno}: {exc.msg})") from None
    except ValueError as exc:  # NUL bytes
        raise MalformedDocument(f"the restore script is not Python ({exc})") from None
    except (RecursionError, MemoryError):
        # Nesting deeper than the parser goes: CPython raises either, depending on where it gives up.
        raise MalformedDocument(
            "the restore script is not Python a parser can read (nested deeper than it goes)"
        ) from None


def _read(text: str) -> RestoreScript:
    module = _parse(text)
    calls: list[ast.Call] = []
    extra: list[str] = []
    called = _called_names(module)
    for statement in _statements(module.body):
        call = _restore_call(statement)
        if call is not None:
            calls.append(call)
        elif not _pipeline_line(statement) and not _inert_import(statement, called):
            extra.append(_one_line(ast.get_source_segment(text, statement) or ast.unparse(statement)))
    if len(calls) != 1:
        raise MalformedDocument(
            f"the restore script calls a *{RESTORE_SUFFIX} task {len(calls)} times, not once"
        )
    return _restore(calls[0], text, tuple(extra))


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement in order, looking into ``try`` blocks (the pipeline wraps the restore in one)."""
    for statement in body:
        if isinstance(statement, ast.Try):
            yield from _statements(statement.body)
            for handler in statement.handlers:
                yield from _statements(handler.body)
            yield from _statements(statement.orelse)
            yield from _statements(statement.finalbody)
        else:
            yield statement


def _called_names(module: ast.Module) -> set[str]:
    """Every name the script reads (a call, an attribute's base, an argument): what an import may bind."""
    return {
        node.id for node in ast.walk(module) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }


def _inert_import(statement: ast.stmt, used: set[str]) -> bool:
    """An import none of whose names the script uses: it changes nothing a restore does."""
    if not isinstance(statement, ast.Import | ast.ImportFrom):
        return False
    bound = {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
    return "*" not in bound and not bound & used


def _called(node: ast.AST | None) -> str | None:
    """``h_init`` for ``h_init()``, ``context.set_state`` for ``context.set_state(…)``."""
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
        return f"{node.func.value.id}.{node.func.attr}"
    return None


def _restore_call(statement: ast.stmt) -> ast.Call | None:
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
        name = _called(statement.value)
        if name is not None and "." not in name and name.endswith(RESTORE_SUFFIX):
            return statement.value
    return None


def _pipeline_line(statement: ast.stmt) -> bool:
    """The lines the pipeline itself writes around the restore call."""
    if isinstance(statement, ast.Expr):
        name = _called(statement.value)
        return name in ("h_init", "h_save") or (name is not None and name.endswith(".set_state"))
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target, value = statement.targets[0], statement.value
        if isinstance(target, ast.Name) and _called(value) == "h_init":
            return True
        return (
            isinstance(target, ast.Name) and target.id == _BOILERPLATE_FLAG
            and isinstance(value, ast.Constant) and value.value is True
        )
    return False


def _one_line(source: str) -> str:
    return " ".join(source.split())


def _restore(call: ast.Call, text: str, extra_steps: tuple[str, ...]) -> RestoreScript:
    task = _called(call) or ""
    if call.args:
        raise MalformedDocument(f"{task} is called with positional arguments; the pipeline names them")
    keywords = {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg is not None}
    if len(keywords) != len(call.keywords):
        raise MalformedDocument(f"{task} is called with **keyword arguments")
    missing = [name for name in KEY_KEYWORDS if name not in keywords]
    if missing:
        raise MalformedDocument(f"{task} is called without {' and '.join(missing)}")
    vis = _strings(keywords["vis"], "vis")
    labels = _strings(keywords["session"], "session")
    if len(vis) != len(labels):
        raise MalformedDocument(f"{task} has {len(vis)} vis but {len(labels)} session entries")
    pairs = tuple(
        (eb.removesuffix(".ms"), _session_number(label)) for eb, label in zip(vis, labels, strict=True)
    )
    arguments = {
        name: _one_line(ast.get_source_segment(text, value) or ast.unparse(value))
        for name, value in keywords.items()
        if name not in KEY_KEYWORDS
    }
    return RestoreScript(task, pairs, arguments, extra_steps)


def _strings(node: ast.expr, keyword: str) -> tuple[str, ...]:
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        raise MalformedDocument(f"{keyword}= of the restore call is not a literal list") from None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise MalformedDocument(f"{keyword}= of the restore call is not a list of strings")
    return tuple(value)


def _session_number(label: str) -> int:
    match = _SESSION_LABEL.fullmatch(label)
    if match is None:
        raise MalformedDocument(f"the restore call names a session {label!r}, not session_<N>")
    return int(match.group(1))

"""Rows out, for people and for machines: a table, RFC 4180 CSV, or a JSON array of objects.

A table has two forms. Plain, whenever the output is not a terminal (a file, a pipe, cron, a test):
columns padded to their widest cell, the same bytes from run to run, for scripts and diffs. On a
terminal: drawn by rich, fitted to the terminal's width — the least important columns dropped and long
text folded inside its cell — with a bold header unless NO_COLOR is set. ``--wide`` keeps every
column at full width, ``--columns`` chooses them, ``--limit`` the number of rows, in every format.

Every writer streams: rows may come from a server-side cursor, and none is kept once written. A plain
table reads its rows twice (column widths first), so a one-shot iterator is collected first; a
terminal table is drawn from the rows it shows (``--limit`` bounds them, the pager shows them).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TextIO

from etl.controls import escape_controls
from etl.errors import UsageError
from etl.terminal import Terminal, write_drawn

FORMATS = ("table", "csv", "json")
Row = Mapping[str, Any]

# What a folded column keeps at least on a narrow terminal, and what rich puts between two columns.
FOLDED_MIN_WIDTH = 36
COLUMN_GAP = 3


@dataclass(frozen=True)
class TableView:
    """How a person asked to see rows: on which terminal (None: plain text), which columns, how many."""

    terminal: Terminal | None = None
    columns: tuple[str, ...] | None = None
    """Chosen with --columns, in that order; None: the report's own choice."""
    wide: bool = False
    """Every column at full width, whatever the terminal's width."""
    limit: int | None = None
    """At most this many rows (the summary still counts them all)."""
    choosable: bool = True
    """Whether the command has --columns (the note under a fitted table names it)."""
    widenable: bool = True
    """Whether the command has --wide (the note names it only then)."""


@dataclass(frozen=True)
class Layout:
    """How a report's table gives way on a narrow terminal."""

    drop_first: Sequence[str] = ()
    """Columns to leave out first when the table is too wide, in this order; then from the right."""
    fold: Sequence[str] = ()
    """Free-text columns that wrap inside their cell instead of being left out."""
    folded_width: int = FOLDED_MIN_WIDTH
    """The least a folded column keeps."""


PLAIN = TableView()
NO_LAYOUT = Layout()


def choose_columns(view: TableView, available: Sequence[str], default: Sequence[str]) -> tuple[str, ...]:
    """The columns of ``--columns`` when given (each must be one of ``available``), else ``default``."""
    if view.columns is None:
        return tuple(default)
    unknown = [name for name in view.columns if name not in available]
    if unknown or not view.columns:
        named = ", ".join(repr(name) for name in unknown) or "nothing"
        raise UsageError(
            f"--columns: {named} is not a column of this report; choose from {', '.join(available)}"
        )
    return view.columns


def parse_columns(text: str) -> tuple[str, ...]:
    """``--columns a,b,c`` as names, spaces around commas allowed."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def write_rows(
    rows: Iterable[Row],
    columns: Sequence[str],
    fmt: str,
    stream: TextIO,
    summary: str | None = None,
    view: TableView = PLAIN,
    layout: Layout | None = None,
) -> None:
    """Write ``rows`` (only ``columns``, in that order) in ``fmt``; ``summary`` ends a table only."""
    shown, total = _limited_rows(rows, view.limit)
    if fmt == "json":
        write_json_array(({c: json_value(row.get(c)) for c in columns} for row in shown), stream)
    elif fmt == "csv":
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows([csv_value(row.get(c)) for c in columns] for row in shown)
    elif fmt == "table":
        if view.terminal is None:
            write_table(shown, columns, stream)
        else:
            write_drawn(stream, render_terminal_table(list(shown), columns, view, layout or NO_LAYOUT))
        if summary:
            line = summary + ("" if total is None else limited(total, len(shown)))
            stream.write((textwrap.fill(line, view.terminal.width) if view.terminal else line) + "\n")
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def limited(total: int, shown: int) -> str:
    """What a summary adds when --limit cut the listing short."""
    return f" (the first {shown:,} of {total:,} listed: --limit)" if shown < total else ""


def write_json_array(objects: Iterable[Mapping[str, Any]], stream: TextIO) -> None:
    """A JSON array written one object at a time, laid out as ``json.dump(…, indent=2)`` lays it out."""
    opening = "[\n"
    for item in objects:
        text = json.dumps(item, ensure_ascii=False, indent=2)
        stream.write(opening + "\n".join("  " + line for line in text.split("\n")))
        opening = ",\n"
    stream.write("[]\n" if opening == "[\n" else "\n]\n")



def _limited_rows(rows: Iterable[Row], limit: int | None) -> tuple[Any, int | None]:
    """The rows to show, and how many there were when --limit cut them short (None: all shown).

    Without a limit the rows stay as given, so a query's rows stream; with one, the first ``limit``
    are kept and the rest only counted."""
    if limit is None:
        return rows, None
    remaining = iter(rows)
    shown = list(itertools.islice(remaining, limit))
    return shown, len(shown) + sum(1 for _ in remaining)


def json_value(value: Any) -> Any:
    """ISO 8601 for times, numbers as numbers, lists as arrays; JSON has its own true/false/null."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    return value


def csv_value(value: Any) -> str:
    """CSV has no types: empty for NULL, true/false for booleans, ISO times, lists joined by spaces,
    objects as one-line JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return " ".join(csv_value(item) for item in value)
    if isinstance(value, Mapping):
        return compact_json(value)
    return str(value)


def table_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return moment_text(value)
    if isinstance(value, list | tuple):
        return ",".join(table_value(item) for item in value) or "-"
    if isinstance(value, Mapping):
        return compact_json(value)
    return str(value)


def moment_text(value: datetime) -> str:
    """An instant as every table and summary writes it: ``2026-12-07 03:17:00 UTC`` (one format, so
    the same moment reads the same everywhere); a naive value is ALMA's UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def compact_json(value: Mapping[str, Any]) -> str:
    """A JSON object on one line, for a cell (CSV, table) that holds a document such as a change's values."""
    return json.dumps(json_value(value), ensure_ascii=False, separators=(",", ":"))


def render_table(rows: Iterable[Row], columns: Sequence[str]) -> str:
    """Columns padded to their widest cell; numbers right-aligned."""
    text = io.StringIO()
    write_table(rows, columns, text)
    return text.getvalue()


def write_table(rows: Iterable[Row], columns: Sequence[str], stream: TextIO) -> None:
    """``render_table`` onto ``stream``, a line at a time: one pass measures, a second writes."""
    if iter(rows) is rows:  # a one-shot iterator cannot be read twice
        rows = list(rows)
    widths = [len(column) for column in columns]
    numeric = [True] * len(columns)
    seen = False
    for row in rows:
        seen = True
        for index, column in enumerate(columns):
            value = row.get(column)
            widths[index] = max(widths[index], len(table_value(value)))
            numeric[index] = numeric[index] and _is_number(value)
    numeric = [seen and is_number for is_number in numeric]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.rjust(width) if is_number else value.ljust(width)
            for value, width, is_number in zip(values, widths, numeric, strict=True)
        ).rstrip() + "\n"

    stream.write(line(columns))
    stream.write(line(["-" * w for w in widths]))
    for row in rows:
        stream.write(line([table_value(row.get(c)) for c in columns]))


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float | Decimal) and not isinstance(value, bool))


def render_terminal_table(
    rows: Sequence[Row], columns: Sequence[str], view: TableView, layout: Layout
) -> str:
    """The table drawn by rich for ``view.terminal``: fitted to its width unless ``view.wide``.

    Columns given with --columns are all kept (they may fold); otherwise the least important are left
    out until the rest fit, and a line under the table names them.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    terminal = view.terminal
    assert terminal is not None
    # Cells escaped here: the drawn table is written as it is, with the colours chosen for it.
    cells = [[escape_controls(table_value(row.get(c))) for c in columns] for row in rows]
    widths = {c: max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)}
    least = layout.folded_width
    if view.wide:
        shown, folded = list(columns), set[str]()
    else:
        keep_all = view.columns is not None
        folded = set(columns) if keep_all else {c for c in columns if c in layout.fold}
        shown = list(columns) if keep_all else fit_columns(columns, widths, folded, layout, terminal.width)
    width = max(terminal.width, _needed(shown, widths, set(), least)) if view.wide else terminal.width
    table = Table(
        box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold", highlight=False,
    )
    numeric = {c: bool(rows) and all(_is_number(row.get(c)) for row in rows) for c in shown}
    for name in shown:
        if name in folded:
            table.add_column(name, overflow="fold", min_width=min(widths[name], least))
        else:
            table.add_column(name, no_wrap=True, min_width=widths[name],
                             justify="right" if numeric[name] else "left")
    positions = [columns.index(name) for name in shown]
    for line in cells:
        table.add_row(*(line[i] for i in positions))
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, force_terminal=True, color_system="standard" if terminal.color else None,
        no_color=not terminal.color, highlight=False, emoji=False, markup=False, soft_wrap=False,
    )
    console.print(table)
    left_out = [c for c in columns if c not in shown]
    if left_out:
        offered = (("--wide shows every column", view.widenable), ("--columns a,b,c chooses", view.choosable))
        options = ", ".join(option for option, given in offered if given)
        console.print(
            f"(not shown, for width: {', '.join(left_out)}" + (f"; {options})" if options else ")"),
            style="dim",
        )
    return _strip_line_ends(buffer.getvalue())


def fit_columns(
    columns: Sequence[str], widths: Mapping[str, int], folded: set[str], layout: Layout, width: int
) -> list[str]:
    """The columns that fit ``width``: ``layout.drop_first`` go first, then the others from the right,
    the folded text last (it is what a row says); the first column (what a row is about) always stays."""
    shown = list(columns)
    order = [c for c in layout.drop_first if c in shown]
    rest = [c for c in reversed(shown[1:]) if c not in order]
    order += [c for c in rest if c not in folded] + [c for c in rest if c in folded]
    for name in order:
        if _needed(shown, widths, folded, layout.folded_width) <= width:
            break
        shown.remove(name)
    return shown


def _needed(columns: Sequence[str], widths: Mapping[str, int], folded: set[str], least: int) -> int:
    """The narrowest width the columns can be drawn in: folded ones at ``least``, the rest whole."""
    cells = sum(min(widths[c], least) if c in folded else widths[c] for c in columns)
    return cells + COLUMN_GAP * max(len(columns) - 1, 0)


_TRAILING_BLANKS = re.compile(r"(?:[ ]|\x1b\[[0-9;]*m)+$")
_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def _strip_line_ends(text: str) -> str:
    """rich pads every line to the full width; trailing blanks only make copied text worse. The
    escape sequences among them stay (a style must still be reset)."""
    return "".join(
        _TRAILING_BLANKS.sub(lambda end: "".join(_ESCAPE.findall(end.group())), line) + "\n"
        for line in text.splitlines()
    )

"""Rows out, for people and for machines: an aligned table, RFC 4180 CSV, or a JSON array of objects.

Every writer streams: rows may come from a server-side cursor, and none is kept once written. An
aligned table reads its rows twice (column widths first), so it takes a sequence or an iterable that
can be iterated again; a one-shot iterator is collected first.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO

FORMATS = ("table", "csv", "json")
Row = Mapping[str, Any]


def write_rows(
    rows: Iterable[Row], columns: Sequence[str], fmt: str, stream: TextIO, summary: str | None = None
) -> None:
    """Write ``rows`` (only ``columns``, in that order) in ``fmt``; ``summary`` ends a table only."""
    if fmt == "json":
        write_json_array(({c: json_value(row.get(c)) for c in columns} for row in rows), stream)
    elif fmt == "csv":
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows([csv_value(row.get(c)) for c in columns] for row in rows)
    elif fmt == "table":
        write_table(rows, columns, stream)
        if summary:
            stream.write(summary + "\n")
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def write_json_array(objects: Iterable[Mapping[str, Any]], stream: TextIO) -> None:
    """A JSON array written one object at a time, laid out as ``json.dump(…, indent=2)`` lays it out."""
    opening = "[\n"
    for item in objects:
        text = json.dumps(item, ensure_ascii=False, indent=2)
        stream.write(opening + "\n".join("  " + line for line in text.split("\n")))
        opening = ",\n"
    stream.write("[]\n" if opening == "[\n" else "\n]\n")


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
        return value.strftime("%Y-%m-%d %H:%M:%S%z") if value.tzinfo else value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        return ",".join(table_value(item) for item in value) or "-"
    if isinstance(value, Mapping):
        return compact_json(value)
    return str(value)


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

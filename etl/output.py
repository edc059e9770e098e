"""Rows out, for people and for machines: an aligned table, RFC 4180 CSV, or a JSON array of objects."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO

FORMATS = ("table", "csv", "json")
Row = Mapping[str, Any]


def write_rows(
    rows: Sequence[Row], columns: Sequence[str], fmt: str, stream: TextIO, summary: str | None = None
) -> None:
    """Write ``rows`` (only ``columns``, in that order) in ``fmt``; ``summary`` ends a table only."""
    if fmt == "json":
        json.dump([{c: json_value(row.get(c)) for c in columns} for row in rows], stream,
                  ensure_ascii=False, indent=2)
        stream.write("\n")
    elif fmt == "csv":
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows([[csv_value(row.get(c)) for c in columns] for row in rows])
    elif fmt == "table":
        stream.write(render_table(rows, columns))
        if summary:
            stream.write(summary + "\n")
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


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


def render_table(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """Columns padded to their widest cell; numbers right-aligned."""
    cells = [[table_value(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
    numeric = [bool(rows) and all(_is_number(row.get(c)) for row in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.rjust(width) if is_number else value.ljust(width)
            for value, width, is_number in zip(values, widths, numeric, strict=True)
        ).rstrip() + "\n"

    return "".join([line(columns), line(["-" * w for w in widths]), *(line(c) for c in cells)])


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float | Decimal) and not isinstance(value, bool))

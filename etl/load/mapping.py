"""How each mirrored table is filled from its contract table, and how source values are coerced.

The mapping is read off the mirror models (``info["source_table"]`` on the table, ``info["source"]`` on
each column), so the schema and the mapping cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from itertools import repeat
from operator import attrgetter, contains
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Numeric, String, Table

from etl.errors import BadSourceData
from etl.mirror import MIRRORED_MODELS
from etl.source.contract import contract_table

Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class TableMapping:
    """One mirrored table: where its rows come from and how they are keyed, compared and recorded."""

    target: Table
    source: Table
    loaded: tuple[str, ...]  # mirror columns filled from the source, in copy order
    source_columns: tuple[str, ...]  # the contract column key for each loaded column
    key: tuple[str, ...]
    watch: tuple[str, ...]
    link: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def compared(self) -> tuple[str, ...]:
        return tuple(column for column in self.loaded if column not in self.key)


def mirrored_tables(contract: MetaData) -> list[TableMapping]:
    """Every mirrored table with its source table in ``contract`` (a site's column names applied)."""
    return [_mapping(model.__table__, contract) for model in MIRRORED_MODELS]  # type: ignore[arg-type]


def _mapping(target: Table, contract: MetaData) -> TableMapping:
    info = target.info
    loaded = tuple(column.name for column in target.columns if "source" in column.info)
    return TableMapping(
        target=target,
        source=contract_table(contract, info["source_table"]),
        loaded=loaded,
        source_columns=tuple(target.c[name].info["source"] for name in loaded),
        key=tuple(column.name for column in target.primary_key.columns),
        watch=tuple(info.get("watch", ())),
        link=tuple(info.get("link", ())),
    )


def row_converter(mapping: TableMapping) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A function turning one source row (in ``loaded`` order) into mirror-typed values.

    Raises ``BadSourceData`` naming the table, column, value and row when a value does not convert.
    """
    converters = [_converter_for(mapping.target.c[name]) for name in mapping.loaded]

    def convert(row: Sequence[Any]) -> tuple[Any, ...]:
        try:
            # A list comprehension: measurably cheaper than a generator over millions of rows.
            return tuple([convert_value(value) for convert_value, value in zip(converters, row, strict=True)])
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise _bad_value(mapping, converters, row) from exc

    return convert


# The columns a stage adds after the loaded ones: what is wrong with a row, NULL when nothing is.
PROBLEM_COLUMNS = ("bad_column", "bad_value", "bad_reason")
_NO_PROBLEM = (None, None, None)
SHOWN_VALUE_CHARACTERS = 200


class StagingConverter:
    """Like ``row_converter``, but a row that does not convert is marked instead of raised.

    Each result holds the loaded columns then ``PROBLEM_COLUMNS``: for a bad row the values that
    failed are NULL, and the problem columns name the first one's source column, show its value and
    say why, so the row can be quarantined in SQL with the others of its key. ``marked`` counts them.
    """

    def __init__(self, mapping: TableMapping) -> None:
        self.mapping = mapping
        self.converters = [_converter_for(mapping.target.c[name]) for name in mapping.loaded]
        self.kept_as_read = [_KEPT_AS_READ[converter] for converter in self.converters]
        self.marked = 0

    def convert_batch(self, batch: Sequence[Sequence[Any]]) -> Iterable[Sequence[Any]]:
        """The batch's rows, each as ``__call__`` gives it.

        Most batches need no conversion at all: every value of every column is already what its
        converter would return (text without '' or NUL, integers in range, naive times, ...). Such a
        batch is checked a column at a time by C-level builtins and passed through, instead of a Python
        call per value (2.8 s of CPU for the 1.5 million rows of product_file); any other batch is
        converted row by row, so a value that needs converting, and a bad row, are handled as before.
        """
        if batch:
            columns = list(zip(*batch, strict=True))
            if len(columns) == len(self.converters) and all(
                kept(column) for kept, column in zip(self.kept_as_read, columns, strict=True)
            ):
                # The problem columns: NULL for every row (repeat() never ends; the columns do).
                return zip(*columns, *(repeat(None) for _ in PROBLEM_COLUMNS), strict=False)
        return [self(row) for row in batch]

    def __call__(self, row: Sequence[Any]) -> list[Any]:
        try:
            values = [convert_value(value) for convert_value, value in zip(self.converters, row, strict=True)]
        except (TypeError, ValueError, ArithmeticError):
            self.marked += 1
            return _marked(self.mapping, self.converters, row)
        values += _NO_PROBLEM
        return values


def _marked(mapping: TableMapping, converters: list[Converter], row: Sequence[Any]) -> list[Any]:
    values: list[Any] = []
    problem: tuple[str, str, str] | None = None
    for source_column, convert_value, value in zip(mapping.source_columns, converters, row, strict=True):
        try:
            values.append(convert_value(value))
        except (TypeError, ValueError, ArithmeticError) as exc:
            values.append(None)
            if problem is None:
                problem = (source_column, shown_value(value), str(exc) or type(exc).__name__)
    assert problem is not None, "a row that failed to convert converts"
    values += problem
    return values


def shown_value(value: Any) -> str:
    """The value as a finding shows it: its repr, cut to a readable length."""
    text = repr(value)
    if len(text) <= SHOWN_VALUE_CHARACTERS:
        return text
    return f"{text[:SHOWN_VALUE_CHARACTERS]}… ({len(text):,} characters)"


def _bad_value(
    mapping: TableMapping, converters: list[Converter], row: Sequence[Any]
) -> BadSourceData:
    key = {col: row[mapping.loaded.index(col)] for col in mapping.key}
    for name, source_column, convert_value, value in zip(
        mapping.loaded, mapping.source_columns, converters, row, strict=True
    ):
        try:
            convert_value(value)
        except (TypeError, ValueError, ArithmeticError):
            column_type = mapping.target.c[name].type
            return BadSourceData(
                f"source {mapping.source.name}.{source_column} = {value!r} (row {key}) cannot be "
                f"stored as {column_type} in mirror column {mapping.name}.{name}"
            )
    return BadSourceData(f"source {mapping.source.name}: row {key} cannot be converted")


_NULL = type(None)


def _value_types(column: Sequence[Any]) -> set[type]:
    return set(map(type, column))


def _texts_kept(column: Sequence[Any]) -> bool:
    """``to_text`` returns each value as it is: str or None, never '' (NULL) nor a NUL character."""
    return (
        _value_types(column) <= {str, _NULL}
        and "" not in column
        # Value by value, not in one joined string: a column of OUSStatus documents joined was tens of MB.
        and not any(map(contains, filter(None, column), repeat("\x00")))
    )


def _integers_kept(bounds: tuple[int, int], column: Sequence[Any]) -> bool:
    """``to_int4``/``to_bigint`` return each value as it is: int (not bool) or None, within ``bounds``."""
    types = _value_types(column)
    if not types <= {int, _NULL}:
        return False
    numbers = [value for value in column if value is not None] if _NULL in types else column
    return not numbers or (bounds[0] <= min(numbers) and max(numbers) <= bounds[1])


def _decimals_kept(column: Sequence[Any]) -> bool:
    return _value_types(column) <= {Decimal, _NULL}


def _times_kept(column: Sequence[Any]) -> bool:
    """``to_timestamp`` returns each value as it is: a naive datetime (not a date) or None."""
    return _value_types(column) <= {datetime, _NULL} and not any(
        map(attrgetter("tzinfo"), filter(None, column))
    )


def _converter_for(column: Column[Any]) -> Converter:
    column_type = column.type
    if isinstance(column_type, DateTime):
        return to_timestamp
    if isinstance(column_type, BigInteger):
        return to_bigint
    if isinstance(column_type, Integer):
        return to_int4
    if isinstance(column_type, Numeric):
        return to_decimal
    if isinstance(column_type, String):
        return to_text
    raise TypeError(f"no source conversion for {column}: {column_type}")


def to_text(value: Any) -> str | None:
    """Oracle stores '' as NULL; the stand-in might not, so both read as NULL.

    Bytes arrive from a source whose text has no declared encoding (a SQL_ASCII database): they are
    text only if they are UTF-8. PostgreSQL text cannot hold a NUL character.
    """
    if value is None or value == "":
        return None
    text: str
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes | bytearray | memoryview):
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"bytes that are not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at {exc.start})"
            ) from exc
    else:
        text = str(value)
    if "\x00" in text:
        raise ValueError("text with a NUL character, which PostgreSQL cannot store")
    return text or None  # empty bytes are empty text: NULL, as ''


def to_integer(value: Any) -> int | None:
    """Oracle NUMBER arrives as int, Decimal or float; only whole numbers are integers."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError("boolean is not a number")
    if isinstance(value, int):
        return value
    number = Decimal(str(value).strip())
    if number != number.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


INT4_RANGE = (-(2**31), 2**31 - 1)
INT8_RANGE = (-(2**63), 2**63 - 1)


def to_int4(value: Any) -> int | None:
    return _within(to_integer(value), INT4_RANGE, "integer")


def to_bigint(value: Any) -> int | None:
    return _within(to_integer(value), INT8_RANGE, "bigint")


def _within(number: int | None, bounds: tuple[int, int], type_name: str) -> int | None:
    # COPY would fail the whole table on one out-of-range number; here it fails one row.
    if number is not None and not bounds[0] <= number <= bounds[1]:
        raise ValueError(f"{number} is out of range for the mirror's {type_name} column")
    return number


def to_decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError("boolean is not a number")
    return value if isinstance(value, Decimal) else Decimal(str(value).strip())


def to_timestamp(value: Any) -> datetime | None:
    """Naive UTC: Oracle DATE and TIMESTAMP carry no zone; an aware value is converted to UTC first."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        # Also what the stand-in's lenient loader hands over for 'infinity' or year 10000.
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a time the mirror can store") from exc
        return to_timestamp(parsed)
    raise TypeError(f"{value!r} is not a date or time")


# For each converter, the check that a whole column of values would come back unchanged from it.
_KEPT_AS_READ: dict[Converter, Callable[[Sequence[Any]], bool]] = {
    to_text: _texts_kept,
    to_int4: partial(_integers_kept, INT4_RANGE),
    to_bigint: partial(_integers_kept, INT8_RANGE),
    to_decimal: _decimals_kept,
    to_timestamp: _times_kept,
}

"""How each mirrored table is filled from its contract table, and how source values are coerced.

The mapping is read off the mirror models (``info["source_table"]`` on the table, ``info["source"]`` on
each column), so the schema and the mapping cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, Numeric, String, Table

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
    """A function turning one source row (in ``loaded`` order) into mirror-typed values."""
    converters = [_converter_for(mapping.target.c[name]) for name in mapping.loaded]

    def convert(row: Sequence[Any]) -> tuple[Any, ...]:
        try:
            # A list comprehension: measurably cheaper than a generator over millions of rows.
            return tuple([convert_value(value) for convert_value, value in zip(converters, row, strict=True)])
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise _bad_value(mapping, converters, row) from exc

    return convert


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


def _converter_for(column: Column[Any]) -> Converter:
    column_type = column.type
    if isinstance(column_type, DateTime):
        return to_timestamp
    if isinstance(column_type, Integer):  # BigInteger too
        return to_integer
    if isinstance(column_type, Numeric):
        return to_decimal
    if isinstance(column_type, String):
        return to_text
    raise TypeError(f"no source conversion for {column}: {column_type}")


def to_text(value: Any) -> str | None:
    """Oracle stores '' as NULL; the stand-in might not, so both read as NULL."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


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
        return to_timestamp(datetime.fromisoformat(value.strip()))
    raise TypeError(f"{value!r} is not a date or time")

"""Properties of the source value converters: values survive as what they mean, and what cannot be stored
is refused with an error the sync reports as a bad source value, never another exception."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from sqlalchemy import BigInteger, DateTime, Integer, Numeric, String

from etl.load.mapping import (
    BadSourceData,
    StagingConverter,
    TableMapping,
    mirrored_tables,
    row_converter,
    to_decimal,
    to_integer,
    to_text,
    to_timestamp,
)
from etl.source.contract import CONTRACT

CONVERTERS = (to_text, to_integer, to_decimal, to_timestamp)
# What row_converter turns into BadSourceData: anything else would end a sync as an internal error.
REFUSALS = (TypeError, ValueError, ArithmeticError)

# Whole minutes, as Oracle's TIMESTAMP WITH TIME ZONE and ISO 8601 write them.
offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda minutes: timezone(timedelta(minutes=minutes)))
naive_times = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
aware_times = st.builds(lambda moment, zone: moment.replace(tzinfo=zone), naive_times, offsets)
finite_decimals = st.decimals(allow_nan=False, allow_infinity=False)
anything = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.decimals(), st.text(), st.binary(),
    naive_times, aware_times, st.dates(), st.lists(st.integers(), max_size=2),
)


def refused(convert: Any, value: Any) -> bool:
    try:
        convert(value)
    except REFUSALS:
        return True
    return False


@given(st.sampled_from(CONVERTERS))
def test_null_and_the_empty_string_are_null_for_every_converter(convert: Any) -> None:
    # Oracle stores '' as NULL; the stand-in may keep ''. Both must read the same.
    assert convert(None) is None
    assert convert("") is None


@given(st.sampled_from(CONVERTERS), anything)
def test_a_converter_returns_or_refuses_and_raises_nothing_else(convert: Any, value: Any) -> None:
    try:
        converted = convert(value)
    except REFUSALS:
        return
    assert repr(convert(converted)) == repr(converted)  # converting twice changes nothing (NaN too)


# PostgreSQL text holds every character but NUL.
STORABLE_TEXT = st.text(st.characters(blacklist_characters="\x00"))


@given(STORABLE_TEXT.filter(bool))
def test_text_is_kept_exactly(value: str) -> None:
    assert to_text(value) == value


@given(STORABLE_TEXT, STORABLE_TEXT)
def test_text_with_a_nul_character_is_refused(before: str, after: str) -> None:
    with pytest.raises(ValueError, match="NUL character"):
        to_text(before + "\x00" + after)


@given(st.integers() | finite_decimals | st.floats(allow_nan=False, allow_infinity=False))
def test_a_number_in_a_text_column_is_its_text(value: Any) -> None:
    assert to_text(value) == str(value)


@given(st.integers(), st.text(" \t", max_size=2), st.text(" \t", max_size=2))
def test_a_whole_number_reads_as_itself_in_every_source_form(number: int, before: str, after: str) -> None:
    assert to_integer(number) == number
    assert to_integer(Decimal(number)) == number
    # Exact constructions (Decimal arithmetic would round to 28 digits): with a scale, with an exponent.
    assert to_integer(Decimal(f"{number}.000")) == number
    assert to_integer(Decimal(f"{number}000E-3")) == number
    assert to_integer(Decimal(f"{number}E+2")) == number * 100
    assert to_integer(f"{before}{number}{after}") == number
    if abs(number) <= 2**53:
        assert to_integer(float(number)) == number


@given(st.integers(), st.integers(1, 10**6), st.integers(1, 8))
def test_a_fraction_is_never_made_an_integer(whole: int, digits: int, places: int) -> None:
    assume(digits % 10**places != 0)
    fraction = Decimal(f"{whole}.{digits % 10**places:0{places}d}")  # exact, however many digits
    with pytest.raises(ValueError, match="not a whole number"):
        to_integer(fraction)
    with pytest.raises(ValueError, match="not a whole number"):
        to_integer(str(fraction))


@given(st.sampled_from([to_integer, to_decimal]), st.booleans())
def test_a_boolean_is_not_a_number(convert: Any, value: bool) -> None:
    with pytest.raises(TypeError):
        convert(value)


@st.composite
def number_texts(draw: st.DrawFn) -> tuple[str, Fraction]:
    """A number written as a source might store it in text: sign, digits, fraction, exponent, spaces."""
    sign = draw(st.sampled_from(["", "-", "+"]))
    whole = draw(st.text("0123456789", min_size=1, max_size=12))
    fraction = draw(st.none() | st.text("0123456789", max_size=6))
    exponent = draw(st.none() | st.integers(-12, 12))
    text = sign + whole + ("" if fraction is None else "." + fraction)
    text += "" if exponent is None else draw(st.sampled_from("eE")) + str(exponent)
    # The value, worked out digit by digit rather than by a number parser.
    digits = whole + (fraction or "")
    value = Fraction(int(digits), 10 ** len(fraction or "")) * Fraction(10) ** (exponent or 0)
    padding = draw(st.text(" \t", max_size=2))
    return padding + text + padding, -value if sign == "-" else value


@given(number_texts())
def test_a_number_in_text_reads_as_its_value(case: tuple[str, Fraction]) -> None:
    text, value = case
    assert Fraction(to_decimal(text)) == value
    if value.denominator == 1:
        assert to_integer(text) == value
    else:
        with pytest.raises(ValueError, match="not a whole number"):
            to_integer(text)


@given(st.text() | st.sampled_from(["12abc", "1,5", "0x1A", "1.2.3", "1e", "--1"]))
def test_text_that_is_no_number_is_refused(text: str) -> None:
    assume(text.strip())
    assume(not any(character.isdigit() for character in text) or text in {"12abc", "1,5", "0x1A", "1.2.3",
                                                                            "1e", "--1"})
    assume(text.strip().lower().lstrip("+-") not in {"nan", "snan", "inf", "infinity"})
    assert refused(to_integer, text)
    assert refused(to_decimal, text)


@given(finite_decimals, st.text(" \t", max_size=2))
def test_a_decimal_keeps_its_value_in_every_source_form(value: Decimal, padding: str) -> None:
    assert to_decimal(value) == value
    assert to_decimal(f"{padding}{value}{padding}") == value
    assert to_decimal(str(value)).as_tuple() == value.as_tuple()  # scale kept too: 1.50 stays 1.50


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_reads_as_the_short_decimal_it_stands_for(value: float) -> None:
    """0.1 is 0.1, not the binary float's 0.1000000000000000055…: a float's value is at most 17 digits."""
    converted = to_decimal(value)
    assert converted is not None
    assert float(converted) == value
    assert len(converted.as_tuple().digits) <= 17


@given(st.integers())
def test_an_integer_is_a_decimal_of_the_same_value(value: int) -> None:
    assert to_decimal(value) == value


@given(naive_times)
def test_a_naive_time_is_kept_and_reads_back_from_its_iso_text(moment: datetime) -> None:
    assert to_timestamp(moment) == moment
    assert to_timestamp(moment.isoformat()) == moment
    assert to_timestamp(f" {moment.isoformat(sep=' ')}\n") == moment


@given(aware_times)
def test_an_aware_time_becomes_the_same_instant_in_naive_utc(moment: datetime) -> None:
    converted = to_timestamp(moment)
    assert converted is not None
    assert converted.tzinfo is None
    assert converted.replace(tzinfo=UTC) == moment
    assert to_timestamp(moment.isoformat()) == converted


@given(st.dates())
def test_a_date_is_its_midnight(day: date) -> None:
    assert to_timestamp(day) == datetime(day.year, day.month, day.day)


@given(st.integers() | st.floats() | st.decimals() | st.booleans())
def test_a_number_is_not_a_time(value: Any) -> None:
    with pytest.raises(TypeError):
        to_timestamp(value)


@given(st.text(min_size=1))
@example("yesterday")
@example("2024-02-30")
def test_text_reads_as_a_time_only_when_it_is_an_iso_time(text: str) -> None:
    try:
        expected = datetime.fromisoformat(text.strip())
    except ValueError:
        assert refused(to_timestamp, text)
        return
    assert to_timestamp(text) == to_timestamp(expected)


# --- whole rows -------------------------------------------------------------------------------------

MAPPINGS = mirrored_tables(CONTRACT)


def good_value(column_type: Any) -> st.SearchStrategy[Any]:
    if isinstance(column_type, DateTime):
        return st.none() | naive_times | aware_times
    if isinstance(column_type, Integer):
        # The mirror's integer and bigint columns: a number outside the column's range is refused.
        bits = 63 if isinstance(column_type, BigInteger) else 31
        whole = st.integers(-(2**bits), 2**bits - 1)
        return st.none() | whole | whole.map(Decimal)
    if isinstance(column_type, Numeric):
        return st.none() | finite_decimals | st.integers()
    assert isinstance(column_type, String), column_type
    return st.none() | STORABLE_TEXT


def bad_value(column_type: Any) -> st.SearchStrategy[Any]:
    if isinstance(column_type, DateTime):
        return st.sampled_from(["yesterday", "2024-13-01", 20240101, Decimal("1.5")])
    if isinstance(column_type, Integer):
        return st.sampled_from([Decimal("1.5"), "seven", True, 2.25])
    return st.sampled_from(["1,5", "n/a", False])


@st.composite
def spoiled_rows(draw: st.DrawFn) -> tuple[TableMapping, tuple[Any, ...], int]:
    """A mapping, a source row in its column order with one unstorable value, and that value's index."""
    mapping = draw(st.sampled_from(MAPPINGS))
    types = [mapping.target.c[name].type for name in mapping.loaded]
    spoilable = [index for index, column_type in enumerate(types) if not isinstance(column_type, String)]
    assume(spoilable)
    row = [draw(good_value(column_type)) for column_type in types]
    index = draw(st.sampled_from(spoilable))
    row[index] = draw(bad_value(types[index]))
    return mapping, tuple(row), index


@given(st.sampled_from(MAPPINGS).flatmap(
    lambda mapping: st.tuples(st.just(mapping), st.tuples(
        *(good_value(mapping.target.c[name].type) for name in mapping.loaded)
    ))
))
def test_a_row_of_storable_values_converts_value_by_value(case: tuple[TableMapping, tuple[Any, ...]]) -> None:
    mapping, row = case
    converted = row_converter(mapping)(row)
    assert len(converted) == len(row)
    for value, result in zip(row, converted, strict=True):
        if isinstance(value, datetime) and value.tzinfo is not None:
            assert result is not None
            assert result.replace(tzinfo=UTC) == value
        else:
            assert result == (None if value == "" else value)


@given(spoiled_rows())
def test_one_unstorable_value_names_its_table_column_and_value(
    case: tuple[TableMapping, tuple[Any, ...], int],
) -> None:
    mapping, row, index = case
    with pytest.raises(BadSourceData) as caught:
        row_converter(mapping)(row)
    message = str(caught.value)
    assert f"{mapping.source.name}.{mapping.source_columns[index]} = {row[index]!r}" in message
    assert f"mirror column {mapping.name}.{mapping.loaded[index]}" in message


def _column_values(column_type: Any) -> st.SearchStrategy[Any]:
    """What a source returns for a column: mostly values kept as read, sometimes one to convert or refuse."""
    return st.one_of(good_value(column_type), good_value(column_type), bad_value(column_type), anything)


@st.composite
def batches(draw: st.DrawFn) -> tuple[TableMapping, list[tuple[Any, ...]]]:
    """A mapping and a batch of source rows for it; some batches hold only values the converters keep."""
    mapping = draw(st.sampled_from(MAPPINGS))
    types = [mapping.target.c[name].type for name in mapping.loaded]
    plain = draw(st.booleans())
    values = [good_value(column_type) if plain else _column_values(column_type) for column_type in types]
    rows = draw(st.lists(st.tuples(*values), max_size=6))
    return mapping, rows


@given(batches())
@example((MAPPINGS[0], []))
def test_a_batch_converts_exactly_as_its_rows_one_by_one(
    case: tuple[TableMapping, list[tuple[Any, ...]]],
) -> None:
    mapping, rows = case
    one_by_one = StagingConverter(mapping)
    expected = [list(one_by_one(row)) for row in rows]
    batched = StagingConverter(mapping)
    converted = [list(row) for row in batched.convert_batch(rows)]
    assert repr(converted) == repr(expected)  # repr: the same types, and NaN equal to itself
    assert batched.marked == one_by_one.marked


def test_a_batch_of_values_kept_as_read_is_passed_through_a_column_at_a_time() -> None:
    mapping = next(m for m in MAPPINGS if m.name == "product_file")
    rows = [("uid://A001/X1/X1", "member.uid___A001_X1_X1.caltables.tgz", 1024, "calibration")] * 3
    converter = StagingConverter(mapping)
    assert mapping.loaded == ("mous_uid", "file_name", "size_bytes", "file_class")
    converted = converter.convert_batch(rows)
    assert not isinstance(converted, list)  # passed through, not converted row by row
    assert [tuple(row) for row in converted] == [(*rows[0], None, None, None)] * 3


@pytest.mark.parametrize(("column", "value"), [
    ("file_name", ""),  # NULL, as Oracle stores ''
    ("file_name", "a\x00b"),  # refused: PostgreSQL text holds no NUL
    ("file_name", b"bytes"),  # decoded
    ("size_bytes", True),  # refused: a boolean is not a number
    ("size_bytes", 2**63),  # refused: out of bigint's range
    ("size_bytes", Decimal(7)),  # converted to int
])
def test_a_batch_with_a_value_to_convert_or_refuse_is_converted_row_by_row(column: str, value: Any) -> None:
    mapping = next(m for m in MAPPINGS if m.name == "product_file")
    row = ["uid://A001/X1/X1", "member.uid___A001_X1_X1.caltables.tgz", 1024, "calibration"]
    row[mapping.loaded.index(column)] = value
    rows = [tuple(row), ("uid://A001/X1/X2", "b.tgz", 1, None)]
    converted = StagingConverter(mapping).convert_batch(rows)
    assert isinstance(converted, list)
    assert converted == [StagingConverter(mapping)(one) for one in rows]

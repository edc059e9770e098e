"""Checks of report arguments that argparse cannot express; each failure is one UsageError line."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from etl.archive_names import parse_mous_uid
from etl.errors import UsageError

ARRAYS = ("12m", "7m", "TP")
# What `report restorable --by` counts per.
COUNT_BY = ("reason", "kind", "cycle", "array", "band")
SINCE_FORMS = (
    "24h, 7d or 2w before now; today or yesterday (midnight UTC); or an ISO 8601 date or date-time, "
    "e.g. 2026-11-01 or 2026-11-01T03:00:00+01:00 (UTC without an offset)"
)


def parse_since(text: str, option: str = "--since", now: datetime | None = None) -> datetime:
    """A moment as an aware datetime: ``24h``, ``7d``, ``2w`` (that long before now), ``today`` or
    ``yesterday`` (midnight UTC), or an ISO 8601 date or date-time (without an offset: UTC, like ALMA's).
    """
    now = now or datetime.now(UTC)
    word = text.strip().lower()
    relative = _RELATIVE.fullmatch(word)
    if relative:
        amount, unit = int(relative["amount"]), relative["unit"]
        return now - timedelta(**{_UNITS[unit]: amount})
    if word in _DAYS:
        midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight - timedelta(days=_DAYS[word])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} '{text}' {_why_not_a_moment(text.strip())}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


_RELATIVE = re.compile(r"(?P<amount>\d{1,5})\s*(?P<unit>[hdw])")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
_DAYS = {"today": 0, "yesterday": 1}
# The fields of an ISO 8601 date or date-time, to say which one is out of range.
_ISO_FIELDS = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[T ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?"
)
_ACCEPTED = (
    "expected 24h, 7d, 2w, today, yesterday or an ISO 8601 date or date-time (2026-11-01, "
    "2026-11-01T03:00:00Z)"
)


def _why_not_a_moment(text: str) -> str:
    fields = _ISO_FIELDS.match(text)
    if fields:
        try:
            year, month, day, hour, minute, second = (int(value) for value in fields.groups(default="0"))
            datetime(year, month, day, hour, minute, second)
        except ValueError as exc:
            what = "date-time" if fields["hour"] else "date"
            return f"is not a valid {what}: {exc}"
    return f"is neither a date nor a span of time; {_ACCEPTED}"


def parse_mous(text: str | None, option: str = "--mous") -> str | None:
    """The canonical UID of a MOUS typed in any accepted form, else a UsageError naming the option."""
    if text is None:
        return None
    try:
        return parse_mous_uid(text)
    except UsageError as exc:
        raise UsageError(f"{option}: {exc}") from None


def check_array(array: str | None) -> str | None:
    if array is not None and array not in ARRAYS:
        raise UsageError(f"--array '{array}' is not an array family; expected one of {', '.join(ARRAYS)}")
    return array


def check_quality_kind(kind: str | None) -> str | None:
    """A data-quality kind the sync records, else UsageError naming the kinds there are."""
    from etl.mirror.bookkeeping import QUALITY_KINDS

    if kind is not None and kind not in QUALITY_KINDS:
        raise UsageError(
            f"--kind '{kind}' is not a data-quality kind; expected one of {', '.join(QUALITY_KINDS)}"
        )
    return kind


# The largest count or id an option takes: PostgreSQL's bigint, and what Python slices by.
MAX_OPTION_NUMBER = 2**63 - 1


def check_positive(value: int, option: str) -> int:
    if value < 1:
        raise UsageError(f"{option} must be 1 or more, not {value}")
    if value > MAX_OPTION_NUMBER:
        raise UsageError(f"{option} {value} is too large; the most it takes is {MAX_OPTION_NUMBER}")
    return value


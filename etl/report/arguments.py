"""Checks of report arguments that argparse cannot express; each failure is one UsageError line."""

from __future__ import annotations

from datetime import UTC, datetime

from etl.errors import UsageError

ARRAYS = ("12m", "7m", "TP")


def parse_since(text: str, option: str = "--since") -> datetime:
    """An ISO 8601 date or date-time, as an aware datetime; without an offset it is UTC, like ALMA's."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{option} '{text}' is not an ISO 8601 date or date-time "
            "(e.g. 2026-11-01 or 2026-11-01T03:00:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


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


def check_positive(value: int, option: str) -> int:
    if value < 1:
        raise UsageError(f"{option} must be 1 or more, not {value}")
    return value


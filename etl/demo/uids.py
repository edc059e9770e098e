"""Identifiers: ALMA archive UIDs, and the integer keys of sessions, shift-log rows and deliveries.

Fixed cases and the random population draw from disjoint ranges, so that a fixed case is identical
at every scale and seed and can never collide with a random row:

- A001 ranges (projects, OUS statuses, SBs): fixed cases below ``POPULATION_FIRST_RANGE``, the
  population from it upward.
- A002 ranges (EBs) grow with the observation date, ``EB_RANGES_PER_DAY`` a day from the anchor; fixed
  cases use the ranges ``FIXED_EB_OFFSET`` past each day's step, the population ``POPULATION_EB_OFFSET``
  past it, and the seed documents' real EB ranges match neither.
- Integer keys: fixed cases from 1 (or 101), the population from ``POPULATION_FIRST_KEY``.
"""

from __future__ import annotations

from datetime import datetime
from random import Random
from typing import Final

POPULATION_FIRST_RANGE: Final = 0x2000
POPULATION_FIRST_KEY: Final = 100_000

EB_ANCHOR: Final = datetime(2017, 11, 10)
EB_ANCHOR_RANGE: Final = 0xC733EA
EB_RANGES_PER_DAY: Final = 914
FIXED_EB_OFFSET: Final = 3
POPULATION_EB_OFFSET: Final = 7


def a001_uid(range_number: int, element: int) -> str:
    """``uid://A001/X<range>/X<element>``: the form of projects, OUS statuses and SBs."""
    return f"uid://A001/X{range_number:x}/X{element:x}"


def eb_range(observed: datetime, offset: int) -> int:
    """The A002 range an EB observed at ``observed`` is numbered in (it grows with the date)."""
    days = (observed - EB_ANCHOR).days
    return EB_ANCHOR_RANGE + offset + days * EB_RANGES_PER_DAY


class ExecBlockUids:
    """Allocates EB UIDs: the range from the observation day, the element counting up inside it."""

    def __init__(self, offset: int, rng: Random) -> None:
        self.offset = offset
        self.rng = rng
        self.next_element: dict[int, int] = {}

    def allocate(self, observed: datetime) -> str:
        range_number = eb_range(observed, self.offset)
        element = self.next_element.get(range_number)
        if element is None:
            element = 0x100 + self.rng.randrange(0x400)
        self.next_element[range_number] = element + self.rng.randint(0x30, 0x500)
        return f"uid://A002/X{range_number:x}/X{element:x}"


class A001Range:
    """Hands out the elements of one A001 range in increasing order, with small gaps as ALMA has."""

    def __init__(self, range_number: int, rng: Random, first: int = 1) -> None:
        self.range_number = range_number
        self.rng = rng
        self.element = first

    def allocate(self) -> str:
        uid = a001_uid(self.range_number, self.element)
        self.element += self.rng.randint(1, 4)
        return uid


class KeySequence:
    """Consecutive integer keys (SESSIONID, SE_ID, delivery ID) from ``first``."""

    def __init__(self, first: int) -> None:
        self.value = first

    def allocate(self) -> int:
        key = self.value
        self.value += 1
        return key


class PartIds:
    """ObsProject partIds (``X`` and ten digits), distinct within one project."""

    def __init__(self, rng: Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def allocate(self) -> str:
        while True:
            part_id = f"X{self.rng.randint(1_000_000_000, 2_147_483_647)}"
            if part_id not in self.used:
                self.used.add(part_id)
                return part_id


class Keys:
    """The integer key sequences one part of the archive (fixed cases or population) draws from."""

    def __init__(self, first_session: int, first_shiftlog: int, first_delivery: int) -> None:
        self.sessions = KeySequence(first_session)
        self.shiftlog = KeySequence(first_shiftlog)
        self.deliveries = KeySequence(first_delivery)

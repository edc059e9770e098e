"""Fixtures of the etl tests (those of every test live in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scratch import memory_directory


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory for request directories a test writes and reads back, on the memory file system where
    there is one (tests/scratch.py): the writer's fdatasync of each file returns at once. On this
    machine's disk each took 5 ms, 8,500 of them for the medium archive's agreement."""
    with memory_directory("amt-") as directory:
        yield Path(directory)

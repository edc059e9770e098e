"""The source's read-ahead: the same batches in order, errors in the caller's thread, no thread left."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from etl.load.extract import read_ahead


def batches(count: int, fail_at: int | None = None) -> Iterator[list[int]]:
    for n in range(count):
        if n == fail_at:
            raise ConnectionError("the link dropped")
        yield [n, n]


def read_ahead_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "source-read-ahead"]


def test_every_batch_arrives_in_order() -> None:
    assert list(read_ahead(batches(50))) == [[n, n] for n in range(50)]
    assert read_ahead_threads() == []


def test_a_fetch_error_is_raised_in_the_callers_thread_after_the_batches_before_it() -> None:
    received: list[list[int]] = []
    with pytest.raises(ConnectionError, match="the link dropped"):
        received.extend(read_ahead(batches(10, fail_at=4)))
    assert received == [[n, n] for n in range(4)]
    assert read_ahead_threads() == []


def test_closing_early_stops_the_thread_though_batches_are_left() -> None:
    reader = read_ahead(batches(1_000), depth=2)
    assert next(reader) == [0, 0]
    reader.close()
    assert read_ahead_threads() == []

"""Building many PPRs on every core: chunks of requests to worker processes, results back in order.

Building and validating a PPR and its manifest is CPU work in Python and lxml (about a millisecond a
MOUS), so one process builds about as fast as the disk writes. A bulk run with enough MOUSes hands
chunks of them to a pool of worker processes, a few chunks ahead of what it has collected, and takes
the results back in submission order: the run reports exactly what one process would have.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# Below this many MOUSes, starting the worker processes (about a second) costs more than it saves.
PARALLEL_FROM = 2_000
CHUNK = 250
# Chunks handed out per worker before the oldest is collected: keeps every worker busy and bounds
# the built-but-unwritten results the run holds.
CHUNKS_AHEAD = 2


def in_order(
    build_chunk: Callable[[Sequence[Item]], list[Result]],
    items: Sequence[Item],
    parallel_from: int = PARALLEL_FROM,
) -> Iterator[Result]:
    """``build_chunk`` over ``items`` in chunks, results in the items' order; in worker processes when
    there are at least ``parallel_from`` items and more than one core, else in this process.

    ``build_chunk`` and the items must pickle (a module-level function, or a partial of one).
    """
    workers = _cores()
    if len(items) < parallel_from or workers < 2:
        yield from build_chunk(items)
        return
    chunks = [items[start:start + CHUNK] for start in range(0, len(items), CHUNK)]
    # A fresh interpreter per worker ("spawn"): a forked one would share this process's database
    # connection and its threads' locks.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque[Future[list[Result]]] = deque()
        for chunk in chunks:
            pending.append(pool.submit(build_chunk, chunk))
            if len(pending) >= workers * CHUNKS_AHEAD:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def _cores() -> int:
    # The cores this process may run on (a container or taskset may allow fewer than the machine has);
    # without sched_getaffinity (macOS), the machine's.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1

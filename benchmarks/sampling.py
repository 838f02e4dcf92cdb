"""Taking samples on a noisy machine: alternate the two sides, keep medians.

The machine is shared, so a run's absolute time says little; what holds up
is the ratio of two runs made one right after the other. Each benchmark
therefore runs rx_auth, then the baseline, then rx_auth again, and so on,
and reports the median of the pairs' ratios.

A run also records how much of its CPU time went to the cyclic garbage
collector, whose cost grows with the number of live objects: many waiters,
each holding a chain of subscriptions, make every collection dearer.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "Stopwatch",
    "alternate",
    "median",
    "median_ratio",
    "rotate",
    "stopwatch",
]

T = TypeVar("T")


@dataclass
class Stopwatch:
    """What ran inside `stopwatch()` took: wall-clock and process CPU seconds,
    and how much of that CPU time the cyclic garbage collector took."""

    wall: float = 0.0
    cpu: float = 0.0
    gc: float = 0.0
    collections: int = 0


@contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    """Time the block; the readings are filled in when it ends."""
    reading = Stopwatch()
    collector = _CollectorClock(reading)
    gc.callbacks.append(collector.tick)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield reading
    finally:
        reading.wall = time.perf_counter() - wall
        reading.cpu = time.process_time() - cpu
        gc.callbacks.remove(collector.tick)


class _CollectorClock:
    """Adds the CPU time of each garbage collection to a `Stopwatch`."""

    def __init__(self, reading: Stopwatch) -> None:
        self._reading = reading
        self._started = 0.0

    def tick(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self._reading.gc += time.process_time() - self._started
            self._reading.collections += 1


async def alternate(
    pairs: int,
    rx: Callable[[], Awaitable[T]],
    baseline: Callable[[], Awaitable[T]],
) -> tuple[list[T], list[T]]:
    """Run `rx` and `baseline` in turn, `pairs` times each: A B A B ..."""
    rx_runs, baseline_runs = await rotate(pairs, [rx, baseline])
    return rx_runs, baseline_runs


async def rotate(
    rounds: int, sides: Sequence[Callable[[], Awaitable[T]]]
) -> list[list[T]]:
    """Run each of `sides` in turn, `rounds` times: A B C A B C ...

    Garbage is collected before every run, so that no run pays for the
    garbage the one before it left.
    """
    runs: list[list[T]] = [[] for _ in sides]
    for _ in range(rounds):
        for side, side_runs in zip(sides, runs, strict=True):
            gc.collect()
            side_runs.append(await side())
    return runs


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def median_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """The median of the pairwise ratios, each run against its partner."""
    if len(numerators) != len(denominators) or not numerators:
        raise ValueError("median_ratio needs two equally long, non-empty lists")
    return statistics.median(
        a / b for a, b in zip(numerators, denominators, strict=True)
    )

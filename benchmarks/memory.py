"""Benchmark 4: the memory each request holds while it waits for a refresh.

N requests hit an expired token while the server sits on the refresh (its
`refresh_delay`). Once all but the one refreshing are queued, `tracemalloc`
tells how much more memory is held than just before they were fired; that
divided by N is the cost of one waiter: its task, its coroutine or
subscription chain, and whatever the client keeps for it. Then the refresh
is released and every request must still succeed.

rx_auth's queue is counted through `auth.events` (`RequestQueued`); the
baseline's by its count of tasks waiting on the lock.
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from rx_auth import AuthEvent, RequestQueued

from .baseline import LockedRefreshClient
from .clients import open_session, rx_client
from .remote import ServerControl
from .results import Comparison, CountMismatch, Target
from .sampling import alternate, median, median_ratio

__all__ = ["MemoryRun", "measure_memory"]

TARGET: Final = Target("rx", "<=", 4096, unit=" B")
_HOLD: Final = 90.0  # seconds the server may sit on the refresh; released sooner
_QUEUE_BOUND: Final = 80.0  # seconds for N requests to queue
_FINISH_BOUND: Final = 120.0  # seconds for them to finish once released
_EXPECTED_BODY: Final = {"items": [1, 2, 3], "ok": True}
_TOP_SOURCES: Final = 10


@dataclass(frozen=True)
class MemoryRun:
    """Bytes held by N queued requests, per request, and where they live."""

    n: int
    queued: int
    bytes_held: int
    bytes_per_waiter: float
    successes: int
    refresh_calls: int
    top_files: dict[str, int] = field(default_factory=dict)
    top_lines: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Queue:
    """How to fire one more request, and how many are queued so far."""

    fire: Callable[[], Awaitable[Any]]
    queued: Callable[[], int]


@dataclass
class _QueuedCount:
    """Counts `RequestQueued` among rx_auth's auth events."""

    value: int = 0

    def see(self, event: AuthEvent) -> None:
        if isinstance(event, RequestQueued):
            self.value += 1


async def rx_memory(control: ServerControl, n: int) -> MemoryRun:
    tokens = await control.issue()
    async with open_session() as session:
        client = rx_client(session, control.base, tokens, refresh_timeout=_HOLD + 30)
        await client.http.get(control.data_url)
        queued = _QueuedCount()
        subscription = client.auth.events.subscribe(queued.see)

        def fire() -> Awaitable[Any]:
            return client.http.get(control.data_url)

        try:
            return await _measure(control, n, _Queue(fire, lambda: queued.value))
        finally:
            subscription.dispose()


async def baseline_memory(control: ServerControl, n: int) -> MemoryRun:
    tokens = await control.issue()
    async with open_session() as session:
        client = LockedRefreshClient(session, control.refresh_url, tokens)
        await client.get_json(control.data_url)

        def fire() -> Awaitable[Any]:
            return client.get_json(control.data_url)

        return await _measure(control, n, _Queue(fire, lambda: client.waiting))


async def _measure(control: ServerControl, n: int, queue: _Queue) -> MemoryRun:
    await control.configure(expire_all=True, refresh_delay=_HOLD)
    before_stats = await control.stats()
    tasks: list[asyncio.Future[Any]] = []
    try:
        before, after = await _snapshots_around_queueing(n, queue, tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
    finally:
        await control.configure(release=True, refresh_delay=0.0)
    queued = queue.queued()

    results = await asyncio.wait_for(
        asyncio.gather(*tasks, return_exceptions=True), _FINISH_BOUND
    )
    served = await control.stats() - before_stats
    held, top_files, top_lines = _difference(after, before)
    return MemoryRun(
        n=n,
        queued=queued,
        bytes_held=held,
        bytes_per_waiter=held / n,
        successes=sum(1 for result in results if result == _EXPECTED_BODY),
        refresh_calls=served.refresh_calls,
        top_files=top_files,
        top_lines=top_lines,
    )


async def _snapshots_around_queueing(
    n: int, queue: _Queue, tasks: list[asyncio.Future[Any]]
) -> tuple[tracemalloc.Snapshot, tracemalloc.Snapshot]:
    """Fire N requests into `tasks`; snapshots from before, and once queued."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        tasks.extend(asyncio.ensure_future(queue.fire()) for _ in range(n))
        # All but the request that started the refresh wait behind it.
        await _until(lambda: queue.queued() >= n - 1, _QUEUE_BOUND)
        gc.collect()
        return before, tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()


async def _until(condition: Callable[[], bool], bound: float) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            raise CountMismatch(f"the requests did not all queue within {bound} s")
        await asyncio.sleep(0.02)


def _difference(
    after: tracemalloc.Snapshot, before: tracemalloc.Snapshot
) -> tuple[int, dict[str, int], dict[str, int]]:
    """Bytes held now that were not before: in all, by file and by line."""
    by_file = after.compare_to(before, "filename")
    by_line = after.compare_to(before, "lineno")
    return sum(stat.size_diff for stat in by_file), _top(by_file), _top(by_line)


def _top(stats: list[tracemalloc.StatisticDiff]) -> dict[str, int]:
    top = sorted(stats, key=_size_diff, reverse=True)[:_TOP_SOURCES]
    return {_where(stat.traceback[0]): stat.size_diff for stat in top}


def _size_diff(stat: tracemalloc.StatisticDiff) -> int:
    return stat.size_diff


def _where(frame: tracemalloc.Frame) -> str:
    filename = frame.filename
    for marker in ("site-packages/", "python3.11/", "/work/main/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    # Grouped by file, a statistic's frame has no line (0).
    return f"{filename}:{frame.lineno}" if frame.lineno else filename


async def measure_memory(control: ServerControl, *, n: int, pairs: int) -> Comparison:
    """Bytes per queued waiter, rx_auth against the baseline."""

    async def rx_run() -> MemoryRun:
        return await rx_memory(control, n)

    async def baseline_run() -> MemoryRun:
        return await baseline_memory(control, n)

    rx_runs, baseline_runs = await alternate(pairs, rx_run, baseline_run)
    rx_bytes = [run.bytes_per_waiter for run in rx_runs]
    baseline_bytes = [run.bytes_per_waiter for run in baseline_runs]
    return Comparison(
        name=f"4. memory per queued waiter, N={n:,}",
        metric="bytes",
        rx=median(rx_bytes),
        baseline=median(baseline_bytes),
        ratio=median_ratio(rx_bytes, baseline_bytes),
        pairs=len(rx_runs),
        target=TARGET,
        checks={
            "rx_auth": _counts(rx_runs),
            "baseline": _counts(baseline_runs),
        },
        samples={
            "rx_auth": [asdict(run) for run in rx_runs],
            "baseline": [asdict(run) for run in baseline_runs],
        },
        note="tracemalloc, N-1 queued behind one held refresh",
    )


def _counts(runs: list[MemoryRun]) -> dict[str, Any]:
    return {
        "refresh_calls": sorted({run.refresh_calls for run in runs}),
        "queued": sorted({run.queued for run in runs}),
        "min_successes": min(run.successes for run in runs),
        "n": runs[0].n,
        "as_expected": all(
            run.refresh_calls == 1 and run.successes == run.n for run in runs
        ),
    }

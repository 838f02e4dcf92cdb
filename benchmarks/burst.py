"""Benchmarks 2 and 3: a burst of requests on an expired access token.

N requests go out at once with a token the server has just stopped
accepting. All get a 401; one refresh must serve them all, and every
request is retried with the new token (benchmark 2). When the token
endpoint refuses the refresh token (`invalid_grant`), one call must fail
every waiter promptly (benchmark 3).

rx_auth is compared with `LockedRefreshClient`, the same single flight
written by hand with an `asyncio.Lock`. Before each run, one request with
a valid token reads the token store and opens a connection, so the burst
meets a client that has been in use, as an expired token does in life.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from .baseline import LockedRefreshClient
from .clients import open_session, rx_client
from .profiles import Profile, profiling, write_profile
from .remote import ServerControl, ServerStats
from .results import Comparison, Target
from .sampling import Stopwatch, alternate, median, median_ratio, stopwatch

__all__ = ["BurstRun", "baseline_burst", "measure_burst", "profile_burst", "rx_burst"]

TARGET_AT_1000: Final = Target("ratio", "<=", 1.10)
_EXPECTED_BODY: Final = {"items": [1, 2, 3], "ok": True}
_RUN_BOUND: Final = 180.0  # seconds for one burst

Burst = Callable[[], Sequence[Awaitable[Any]]]


@dataclass(frozen=True)
class BurstRun:
    """One burst: how long it took, and what the server and callers saw."""

    n: int
    wall: float
    cpu: float
    gc: float
    successes: int
    failures: int
    refresh_calls: int
    reused_refresh_tokens: int
    served_ok: int
    error_types: dict[str, int] = field(default_factory=dict)


async def rx_burst(
    control: ServerControl, n: int, *, failing: bool = False
) -> BurstRun:
    """N requests through rx_auth on an expired token."""
    tokens = await control.issue()
    async with open_session() as session:
        client = rx_client(session, control.base, tokens)
        await client.http.get(control.data_url)

        def burst() -> list[Awaitable[Any]]:
            return [client.http.get(control.data_url) for _ in range(n)]

        return await _fire(control, n, burst, failing)


async def baseline_burst(
    control: ServerControl, n: int, *, failing: bool = False
) -> BurstRun:
    """N requests through the hand-written `asyncio.Lock` client."""
    tokens = await control.issue()
    async with open_session() as session:
        client = LockedRefreshClient(session, control.refresh_url, tokens)
        await client.get_json(control.data_url)

        def burst() -> list[Awaitable[Any]]:
            return [client.get_json(control.data_url) for _ in range(n)]

        return await _fire(control, n, burst, failing)


async def _fire(
    control: ServerControl, n: int, burst: Burst, failing: bool
) -> BurstRun:
    mode = "invalid_grant" if failing else "rotate"
    await control.configure(expire_all=True, refresh_mode=mode)
    before = await control.stats()
    try:
        with stopwatch() as watch:
            results = await asyncio.wait_for(
                asyncio.gather(*burst(), return_exceptions=True), _RUN_BOUND
            )
    finally:
        await control.configure(refresh_mode="rotate")
    served = await control.stats() - before
    return _burst_run(n, watch, results, served)


def _burst_run(
    n: int, watch: Stopwatch, results: Sequence[object], served: ServerStats
) -> BurstRun:
    errors = Counter(
        type(result).__name__ for result in results if isinstance(result, BaseException)
    )
    return BurstRun(
        n=n,
        wall=watch.wall,
        cpu=watch.cpu,
        gc=watch.gc,
        successes=sum(1 for result in results if result == _EXPECTED_BODY),
        failures=sum(errors.values()),
        refresh_calls=served.refresh_calls,
        reused_refresh_tokens=served.reused,
        served_ok=served.ok,
        error_types=dict(errors),
    )


async def measure_burst(
    control: ServerControl, *, n: int, pairs: int, failing: bool = False
) -> Comparison:
    """rx_auth against the baseline on bursts of `n`, `pairs` times each."""

    async def rx_run() -> BurstRun:
        return await rx_burst(control, n, failing=failing)

    async def baseline_run() -> BurstRun:
        return await baseline_burst(control, n, failing=failing)

    await rx_burst(control, min(n, 100), failing=failing)  # warm-up, not counted
    await baseline_burst(control, min(n, 100), failing=failing)
    rx_runs, baseline_runs = await alternate(pairs, rx_run, baseline_run)
    return _compare(n, failing, rx_runs, baseline_runs)


async def profile_burst(control: ServerControl, n: int, path: Path) -> Profile:
    """Profile one rx_auth burst of `n` (set-up included, a few requests)."""
    title = f"rx_auth burst of {n} on an expired token, real server"
    with profiling(title, 2 * n) as profile:  # each request is sent twice
        await rx_burst(control, n)
    write_profile(profile, path)
    return profile


def _compare(
    n: int, failing: bool, rx_runs: list[BurstRun], baseline_runs: list[BurstRun]
) -> Comparison:
    rx_times = [run.wall for run in rx_runs]
    baseline_times = [run.wall for run in baseline_runs]
    if failing:
        name, target = f"3. refresh fails, N={n:,}", None
    else:
        name = f"2. burst on expired token, N={n:,}"
        target = TARGET_AT_1000 if n == 1000 else None
    return Comparison(
        name=name,
        metric="seconds",
        rx=median(rx_times),
        baseline=median(baseline_times),
        ratio=median_ratio(rx_times, baseline_times),
        pairs=len(rx_runs),
        target=target,
        checks={
            "rx_auth": _side_summary(rx_runs, failing),
            "baseline": _side_summary(baseline_runs, failing),
        },
        samples={
            "rx_auth": [asdict(run) for run in rx_runs],
            "baseline": [asdict(run) for run in baseline_runs],
        },
        note="baseline: aiohttp + asyncio.Lock, double-checked single flight",
    )


def _side_summary(runs: list[BurstRun], failing: bool) -> dict[str, Any]:
    """One side's CPU and collector time, and the counts every run must show
    (`as_expected` says whether all did)."""
    expected_outcomes = [run.failures if failing else run.successes for run in runs]
    return {
        "cpu_s": median([run.cpu for run in runs]),
        "gc_cpu_s": median([run.gc for run in runs]),
        "refresh_calls": sorted({run.refresh_calls for run in runs}),
        "outcomes": "failures" if failing else "successes",
        "min_outcomes": min(expected_outcomes),
        "n": runs[0].n,
        "as_expected": all(
            run.refresh_calls == 1
            and run.reused_refresh_tokens == 0
            and outcome == run.n
            for run, outcome in zip(runs, expected_outcomes, strict=True)
        ),
    }

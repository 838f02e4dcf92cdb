"""Benchmark 1: steady throughput with a valid token.

rx_auth's `HttpClient`, with `AuthInterceptor` between two light
interceptors, against plain `session.get(...)` and `await resp.json()`.
Both run the same number of requests from the same number of workers,
each worker sending its requests one after another, so the only
difference is what happens in the client for each request.

A third side, `AiohttpBackend` awaited alone with a request built
beforehand, splits the difference: what the backend adds to aiohttp, and
what the client and its interceptors add to the backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from rx_auth import AiohttpBackend, HttpRequest

from .clients import open_session, raw_get_json, rx_client
from .profiles import Profile, profiling, write_profile
from .remote import ServerControl, TokenPair
from .results import Comparison, CountMismatch, Target
from .sampling import median, median_ratio, rotate, stopwatch

__all__ = ["ThroughputRun", "measure_throughput"]

TARGET: Final = Target("ratio", ">=", 0.90)
_RUN_BOUND: Final = 120.0  # seconds for one run

Fetch = Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class ThroughputRun:
    """One timed run: `requests` answered in `wall` seconds, using `cpu`."""

    requests: int
    wall: float
    cpu: float
    gc: float

    @property
    def rate(self) -> float:
        return self.requests / self.wall

    @property
    def cpu_us_per_request(self) -> float:
        return 1e6 * self.cpu / self.requests


async def measure_throughput(
    control: ServerControl,
    *,
    pairs: int,
    requests: int,
    workers: int,
    profile_to: Path | None = None,
) -> tuple[Comparison, Profile | None]:
    """Requests per second of both clients; optionally profile one more rx run."""
    tokens = await control.issue()

    async def rx_run() -> ThroughputRun:
        return await rx_throughput(control, tokens, requests, workers)

    async def raw_run() -> ThroughputRun:
        return await raw_throughput(control, tokens, requests, workers)

    async def backend_run() -> ThroughputRun:
        return await backend_throughput(control, tokens, requests, workers)

    rx_runs, raw_runs, backend_runs = await rotate(
        pairs, [rx_run, raw_run, backend_run]
    )
    profile = None
    if profile_to is not None:
        profile = await _profile_rx(control, tokens, requests, workers, profile_to)
    return _compare(rx_runs, raw_runs, backend_runs, workers), profile


async def rx_throughput(
    control: ServerControl, tokens: TokenPair, requests: int, workers: int
) -> ThroughputRun:
    async with open_session() as session:
        client = rx_client(session, control.base, tokens)

        def fetch() -> Awaitable[Any]:
            return client.http.get(control.data_url)

        run = await _timed_run(control, fetch, requests, workers)
    if client.tally.responses != requests + workers:
        raise CountMismatch(f"the counting interceptor saw {client.tally.responses}")
    return run


async def raw_throughput(
    control: ServerControl, tokens: TokenPair, requests: int, workers: int
) -> ThroughputRun:
    async with open_session() as session:

        def fetch() -> Awaitable[Any]:
            return raw_get_json(session, control.data_url, tokens.access_token)

        return await _timed_run(control, fetch, requests, workers)


async def backend_throughput(
    control: ServerControl, tokens: TokenPair, requests: int, workers: int
) -> ThroughputRun:
    """`AiohttpBackend` alone: no client, no interceptor, the token set by hand."""
    authorization = {"Authorization": f"Bearer {tokens.access_token}"}
    request = HttpRequest("GET", control.data_url, headers=authorization)
    async with open_session() as session:
        backend = AiohttpBackend(session)

        def fetch() -> Awaitable[Any]:
            return backend.handle(request)

        return await _timed_run(control, fetch, requests, workers)


async def _timed_run(
    control: ServerControl, fetch: Fetch, requests: int, workers: int
) -> ThroughputRun:
    # One request per worker first: every connection is open, and rx_auth
    # has read its token store, before the clock starts.
    await _workers(fetch, workers, workers)
    before = await control.stats()
    with stopwatch() as watch:
        await asyncio.wait_for(_workers(fetch, requests, workers), _RUN_BOUND)
    served = await control.stats() - before

    if served.ok != requests or served.unauthorized or served.refresh_calls:
        raise CountMismatch(f"expected {requests} answers of 200, got {served}")
    return ThroughputRun(requests, watch.wall, watch.cpu, watch.gc)


async def _workers(fetch: Fetch, requests: int, workers: int) -> None:
    """`requests` fetches in all, by `workers` workers each fetching in turn."""
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await fetch()

    await asyncio.gather(*(worker() for _ in range(workers)))


async def _profile_rx(
    control: ServerControl,
    tokens: TokenPair,
    requests: int,
    workers: int,
    path: Path,
) -> Profile:
    title = f"rx_auth throughput, {requests} GETs by {workers} workers, real server"
    with profiling(title, requests) as profile:
        await rx_throughput(control, tokens, requests, workers)
    write_profile(profile, path)
    return profile


def _compare(
    rx_runs: list[ThroughputRun],
    raw_runs: list[ThroughputRun],
    backend_runs: list[ThroughputRun],
    workers: int,
) -> Comparison:
    rx_rates = [run.rate for run in rx_runs]
    raw_rates = [run.rate for run in raw_runs]
    rx_cpu = [run.cpu_us_per_request for run in rx_runs]
    raw_cpu = [run.cpu_us_per_request for run in raw_runs]
    backend_rates = [run.rate for run in backend_runs]
    backend_cpu = [run.cpu_us_per_request for run in backend_runs]
    return Comparison(
        name="1. throughput, valid token",
        metric="requests/s",
        rx=median(rx_rates),
        baseline=median(raw_rates),
        ratio=median_ratio(rx_rates, raw_rates),
        pairs=len(rx_runs),
        target=TARGET,
        checks={
            "requests_per_run": rx_runs[0].requests,
            "workers": workers,
            "client_cpu_us_per_request": {
                "rx_auth": median(rx_cpu),
                "baseline": median(raw_cpu),
                "ratio": median_ratio(rx_cpu, raw_cpu),
                "backend_alone": median(backend_cpu),
            },
            "backend_alone_requests_per_s": {
                "rate": median(backend_rates),
                "ratio_to_baseline": median_ratio(backend_rates, raw_rates),
            },
            "gc_share_of_cpu": {
                "rx_auth": median([run.gc / run.cpu for run in rx_runs]),
                "baseline": median([run.gc / run.cpu for run in raw_runs]),
            },
        },
        samples={
            "rx_auth": [asdict(run) for run in rx_runs],
            "baseline": [asdict(run) for run in raw_runs],
            "backend_alone": [asdict(run) for run in backend_runs],
        },
        note="baseline: raw aiohttp session.get + resp.json()",
    )

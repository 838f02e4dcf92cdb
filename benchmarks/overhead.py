"""Benchmark 5: what the pipeline costs per request, with no network at all.

The backend here answers every request at once, on the subscribing thread,
so what is left to time is rx_auth itself: `HttpClient` building the
request, the three interceptors (request id, auth, response counter) and
the subscriptions they chain. It is compared with subscribing to the
backend directly with a request built beforehand, and both are measured
once more as an asyncio program does it, with `await`. Each rx_auth run
also times the client with no interceptor and with each of the three
alone, which tells what every layer adds.

Times are process CPU time, which a busy neighbour on the machine disturbs
less than wall time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy
from reactivex import Observable, abc
from reactivex.disposable import Disposable

from rx_auth import HttpClient, HttpEvent, HttpRequest, HttpResponse, HttpSentEvent

from .clients import RxClient, rx_chain
from .profiles import Profile, profiling, write_profile
from .remote import TokenPair
from .results import Comparison, CountMismatch
from .sampling import alternate, median, median_ratio

__all__ = ["InstantBackend", "OverheadRun", "measure_overhead"]

_BASE: Final = "http://api.invalid"
_URL: Final = f"{_BASE}/api/data"
_BODY: Final = {"items": [1, 2, 3], "ok": True}
_HEADERS: Final = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))
_LAYERS: Final = ("request id", "auth", "counter")  # as in `rx_chain`, in order


class InstantBackend:
    """An `HttpHandler` that answers 200 at once, on the subscriber's thread."""

    def handle(self, request: HttpRequest) -> Observable[HttpEvent]:
        return Observable(partial(_answer, request))


def _answer(
    request: HttpRequest,
    observer: abc.ObserverBase[HttpEvent],
    scheduler: abc.SchedulerBase | None = None,
) -> abc.DisposableBase:
    observer.on_next(HttpSentEvent(request))
    observer.on_next(HttpResponse(200, "OK", request.url, _HEADERS, _BODY))
    observer.on_completed()
    return Disposable()


@dataclass(frozen=True)
class OverheadRun:
    """CPU microseconds per request, subscribed to and awaited.

    `layers_us` (rx_auth runs only) holds the subscribed cost of the client
    with no interceptor, and with each interceptor alone.
    """

    requests: int
    subscribed_us: float
    awaited_us: float
    layers_us: dict[str, float] = field(default_factory=dict)


@dataclass
class _Sink:
    """Counts what arrives, so that a run proves every request was answered."""

    received: int = 0

    def take(self, value: object) -> None:
        self.received += 1


async def _stub_client() -> RxClient:
    client = rx_chain(InstantBackend(), _BASE, TokenPair("access", "refresh"))
    # The first request reads the token store, in a task of the running loop.
    await client.http.get(_URL)
    return client


def _authorized_request() -> HttpRequest:
    return HttpRequest("GET", _URL, headers={"Authorization": "Bearer access"})


async def chain_run(requests: int) -> OverheadRun:
    """rx_auth's client and its three interceptors over the instant backend."""
    client = await _stub_client()

    async def await_each() -> None:
        for _ in range(requests):
            await client.http.get(_URL)
            await _let_the_loop_run()

    return OverheadRun(
        requests,
        _subscribed_us(client.http, requests),
        await _cpu_us_async(await_each, requests),
        _layer_costs(client, requests // 2),
    )


def _subscribed_us(http: HttpClient, requests: int) -> float:
    def subscribe() -> None:
        sink = _Sink()
        for _ in range(requests):
            http.get(_URL).subscribe(sink.take)
        _expect(sink.received, requests)

    return _cpu_us(subscribe, requests)


def _layer_costs(client: RxClient, requests: int) -> dict[str, float]:
    """The client with no interceptor, then with each of the three alone."""
    backend = InstantBackend()
    costs = {"no interceptor": _subscribed_us(HttpClient(backend), requests)}
    for name, interceptor in zip(_LAYERS, client.interceptors, strict=True):
        layered = HttpClient(backend, [interceptor])
        costs[f"{name} alone"] = _subscribed_us(layered, requests)
    return costs


async def direct_run(requests: int) -> OverheadRun:
    """The instant backend alone, with a request built beforehand."""
    backend = InstantBackend()
    request = _authorized_request()

    def subscribe() -> None:
        sink = _Sink()
        for _ in range(requests):
            backend.handle(request).subscribe(sink.take)
        _expect(sink.received, 2 * requests)  # sent, then the response

    async def await_each() -> None:
        for _ in range(requests):
            await backend.handle(request)
            await _let_the_loop_run()

    return OverheadRun(
        requests,
        _cpu_us(subscribe, requests),
        await _cpu_us_async(await_each, requests),
    )


async def _let_the_loop_run() -> None:
    # Awaiting an observable that answers at once never suspends, yet it
    # leaves callbacks on the loop (reactivex schedules on it). A program
    # lets the loop run them; a tight loop that never yields would pile
    # them up, with everything they hold, and time the garbage collector.
    await asyncio.sleep(0)


def _expect(received: int, wanted: int) -> None:
    if received != wanted:
        raise CountMismatch(f"expected {wanted} values, received {received}")


def _cpu_us(work: Callable[[], None], requests: int) -> float:
    start = time.process_time()
    work()
    return 1e6 * (time.process_time() - start) / requests


async def _cpu_us_async(work: Callable[[], Awaitable[None]], requests: int) -> float:
    start = time.process_time()
    await work()
    return 1e6 * (time.process_time() - start) / requests


async def measure_overhead(
    *, requests: int, pairs: int, profile_to: Path | None = None
) -> tuple[Comparison, Profile | None]:
    """Pipeline cost per request; optionally a profile of the awaited chain."""

    async def chain() -> OverheadRun:
        return await chain_run(requests)

    async def direct() -> OverheadRun:
        return await direct_run(requests)

    chain_runs, direct_runs = await alternate(pairs, chain, direct)
    profile = None
    if profile_to is not None:
        profile = await _profile_chain(requests, profile_to)
    return _compare(chain_runs, direct_runs), profile


async def _profile_chain(requests: int, path: Path) -> Profile:
    client = await _stub_client()
    title = f"rx_auth pipeline, {requests} awaited GETs, instant backend (no network)"
    with profiling(title, requests) as profile:
        for _ in range(requests):
            await client.http.get(_URL)
            await _let_the_loop_run()
    write_profile(profile, path)
    return profile


def _compare(
    chain_runs: list[OverheadRun], direct_runs: list[OverheadRun]
) -> Comparison:
    chain_sub = [run.subscribed_us for run in chain_runs]
    direct_sub = [run.subscribed_us for run in direct_runs]
    chain_await = [run.awaited_us for run in chain_runs]
    direct_await = [run.awaited_us for run in direct_runs]
    return Comparison(
        name="5. pipeline cost per request, no network",
        metric="us CPU",
        rx=median(chain_sub),
        baseline=median(direct_sub),
        ratio=median_ratio(chain_sub, direct_sub),
        pairs=len(chain_runs),
        checks={
            "requests_per_run": chain_runs[0].requests,
            "added_us_subscribed": median(chain_sub) - median(direct_sub),
            "layers_us_subscribed": _median_layers(chain_runs),
            "awaited_us": {
                "rx_auth": median(chain_await),
                "baseline": median(direct_await),
                "ratio": median_ratio(chain_await, direct_await),
                "added_us": median(chain_await) - median(direct_await),
            },
        },
        samples={
            "rx_auth": [asdict(run) for run in chain_runs],
            "baseline": [asdict(run) for run in direct_runs],
        },
        note="baseline: the backend's observable subscribed directly",
    )


def _median_layers(runs: list[OverheadRun]) -> dict[str, float]:
    names = runs[0].layers_us.keys()
    return {name: median([run.layers_us[name] for run in runs]) for name in names}

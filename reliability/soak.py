"""A soak run: many requests, expiring tokens, failing refreshes, leaving callers.

    python3 tasks.py soak                        # 100,000 requests, 300 in flight
    python3 tasks.py soak --requests 5000 --concurrency 100

A local auth server (`examples/auth_server.py`) expires every access token
after `--ttl` seconds and answers every tenth refresh with a 503. The client
fires `--requests` requests, `--concurrency` at a time; one caller in twenty
gives up on its request while it is in flight. At the end it reports:

- hangs: requests that neither ended nor were given up within the bound
  (must be 0);
- what each request ended with, by type;
- refresh calls against the number of token lifetimes the run lasted;
- asyncio tasks and subscriptions to the service's state left over (must be
  what they were at the start);
- the process's resident memory at the start and at the end.

Every wait is bounded, and the run stops at `--time-limit` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

# Run as a script, Python puts reliability/ on the path but not the root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples.auth_server import AuthServer
from rx_auth import (
    AiohttpBackend,
    AuthInterceptor,
    AuthService,
    HttpClient,
    HttpErrorResponse,
    JsonRefreshEndpoint,
    MemoryTokenStore,
    RefreshError,
)

ROUTES = ("user", "notifications", "settings")


@dataclass(frozen=True)
class Settings:
    requests: int = 100_000
    concurrency: int = 300
    ttl: float = 3.0
    fail_every_nth_refresh: int = 10
    cancel_every: int = 20
    hang_bound: float = 30.0
    time_limit: float = 900.0


@dataclass
class Report:
    settings: Settings
    seconds: float = 0.0
    sent: int = 0
    endings: Counter[str] = field(default_factory=Counter)
    hangs: int = 0
    refresh_calls: int = 0
    refresh_failures_injected: int = 0
    reused_refresh_tokens: int = 0
    tasks_before: int = 0
    tasks_after: int = 0
    waiters_before: int = 0
    waiters_after: int = 0
    rss_before: int = 0
    rss_after: int = 0
    untyped_errors: list[str] = field(default_factory=list)

    @property
    def token_lifetimes(self) -> float:
        return self.seconds / self.settings.ttl

    def lines(self) -> list[str]:
        s = self.settings
        endings = ", ".join(f"{k} {v}" for k, v in sorted(self.endings.items()))
        return [
            f"{self.sent} requests, {s.concurrency} in flight, in {self.seconds:.1f} s",
            f"ended: {endings}",
            f"hangs: {self.hangs}",
            f"refresh calls: {self.refresh_calls}"
            f" ({self.refresh_failures_injected} answered 503 on purpose)"
            f" over {self.token_lifetimes:.0f} token lifetimes of {s.ttl} s",
            f"reused refresh tokens: {self.reused_refresh_tokens}",
            f"asyncio tasks: {self.tasks_before} before, {self.tasks_after} after",
            f"waiting on the service: {self.waiters_before} before,"
            f" {self.waiters_after} after",
            f"resident memory: {self.rss_before / 2**20:.1f} MiB before,"
            f" {self.rss_after / 2**20:.1f} MiB after",
        ]


async def soak(settings: Settings) -> Report:
    """Play the run described by `settings` and report what happened."""
    report = Report(settings)
    server = AuthServer(
        access_ttl=settings.ttl, fail_every_nth_refresh=settings.fail_every_nth_refresh
    )
    connector = aiohttp.TCPConnector(limit=settings.concurrency)
    async with (
        server.running() as base,
        aiohttp.ClientSession(connector=connector) as session,
    ):
        auth = AuthService(
            JsonRefreshEndpoint(f"{base}/api/auth/refresh"),
            MemoryTokenStore(server.issue()),
            skew=settings.ttl / 4,
            refresh_timeout=settings.hang_bound / 3,
        )
        client = HttpClient(
            AiohttpBackend(session), [AuthInterceptor(auth, allowed_origins=[base])]
        )
        await client.get(f"{base}/api/user")  # warm up: the store is read

        report.tasks_before = _client_tasks()
        report.waiters_before = _waiters(auth)
        report.rss_before = _resident_memory()
        started = time.monotonic()

        await _fire(client, base, settings, report)

        report.seconds = time.monotonic() - started
        await _settle_down()
        report.tasks_after = _client_tasks()
        report.waiters_after = _waiters(auth)

    gc.collect()
    report.rss_after = _resident_memory()
    report.refresh_calls = server.counters.refresh_calls
    report.refresh_failures_injected = server.counters.refresh_failures_injected
    report.reused_refresh_tokens = server.counters.reused_refresh_tokens
    return report


async def _fire(
    client: HttpClient, base: str, settings: Settings, report: Report
) -> None:
    deadline = time.monotonic() + settings.time_limit
    numbers = iter(range(settings.requests))

    async def worker() -> None:
        for number in numbers:
            if time.monotonic() > deadline:
                return
            report.sent += 1
            url = f"{base}/api/{ROUTES[number % len(ROUTES)]}"
            leaves = settings.cancel_every and number % settings.cancel_every == 0
            ending = await _one(
                client, url, settings, leaves_after=number % 4 if leaves else None
            )
            report.endings[ending] += 1
            if ending == "hang":
                report.hangs += 1
            elif ending.startswith("untyped"):
                report.untyped_errors.append(ending)

    await asyncio.gather(*(worker() for _ in range(settings.concurrency)))


async def _one(
    client: HttpClient, url: str, settings: Settings, *, leaves_after: int | None
) -> str:
    """How one request ended: a status, an error type, "left" or "hang"."""
    call: asyncio.Task[Any] = asyncio.ensure_future(_get(client, url))
    if leaves_after is not None:
        for _ in range(leaves_after + 1):  # give up at a varying point
            await asyncio.sleep(0)
        call.cancel()
    done, _ = await asyncio.wait([call], timeout=settings.hang_bound)
    if not done:
        call.cancel()
        return "hang"
    if call.cancelled():
        return "left"
    error = call.exception()
    if error is None:
        return "ok"
    if isinstance(error, HttpErrorResponse):
        return f"HttpErrorResponse {error.status}"
    if isinstance(error, RefreshError):
        return type(error).__name__
    return f"untyped {type(error).__name__}"


async def _get(client: HttpClient, url: str) -> Any:
    return await client.get(url)


async def _settle_down() -> None:
    # Callbacks of calls that ended last (connection release, a cancelled
    # call's cleanup) run on the loop's next turns; a few are enough.
    for _ in range(10):
        await asyncio.sleep(0)


def _client_tasks() -> int:
    """Tasks on the loop but the server's own (one per open connection)."""
    names = (
        getattr(task.get_coro(), "__qualname__", "") for task in asyncio.all_tasks()
    )
    return sum(not name.startswith("RequestHandler.") for name in names)


def _waiters(auth: AuthService) -> int:
    return len(auth._refresh_token_subject.observers)


def _resident_memory() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    defaults = Settings()
    parser.add_argument("--requests", type=int, default=defaults.requests)
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument("--ttl", type=float, default=defaults.ttl)
    parser.add_argument("--time-limit", type=float, default=defaults.time_limit)
    args = parser.parse_args(argv)
    settings = Settings(
        requests=args.requests,
        concurrency=args.concurrency,
        ttl=args.ttl,
        time_limit=args.time_limit,
    )
    report = asyncio.run(soak(settings))
    print("\n".join(report.lines()))
    healthy = (
        report.hangs == 0
        and not report.untyped_errors
        and report.tasks_after == report.tasks_before
        and report.waiters_after == report.waiters_before
        and report.reused_refresh_tokens == 0
    )
    print("healthy" if healthy else "NOT healthy")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

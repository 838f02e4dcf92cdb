"""Logging, timeout and retry interceptors at work against a local server.

Run it from the project root:

```console
$ python examples/interceptors_demo.py
```

It starts an aiohttp server on 127.0.0.1 with three routes, `/hello`
(answers at once), `/flaky` (503 twice, then 200) and `/slow` (never
answers in time), calls each through one `HttpClient`, prints what came
back, and stops the server.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiohttp import web
from reactivex.scheduler.eventloop import AsyncIOScheduler

# Run as a script, Python puts examples/ on the path but not the project
# root; add it so this file imports the interceptors as the tests do.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples.interceptors import (
    LoggingInterceptor,
    RetryInterceptor,
    TimeoutInterceptor,
)
from rx_auth import AiohttpBackend, HttpClient, HttpErrorResponse

TIMEOUT: Final = 1.0
FLAKY_FAILURES: Final = 2


@dataclass
class Hits:
    """How many requests `/flaky` has seen."""

    count: int = 0


FLAKY_HITS: Final = web.AppKey("flaky_hits", Hits)


# The server


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"greeting": "hello"})


async def flaky(request: web.Request) -> web.Response:
    request.app[FLAKY_HITS].count += 1
    hits = request.app[FLAKY_HITS].count
    if hits <= FLAKY_FAILURES:
        print(f"  server: /flaky request {hits} -> 503")
        return web.json_response({"error": "try again"}, status=503)
    print(f"  server: /flaky request {hits} -> 200")
    return web.json_response({"served_on_request": hits})


async def slow(request: web.Request) -> web.Response:
    # Far past the client's timeout: the client hangs up first, and the
    # server cancels this handler when it does.
    try:
        await asyncio.sleep(30 * TIMEOUT)
    except asyncio.CancelledError:
        print("  server: /slow cancelled, the client hung up")
        raise
    return web.json_response({"finally": True})


@asynccontextmanager
async def local_server() -> AsyncIterator[str]:
    """Serve the three routes on a free port of 127.0.0.1; yield the base URL."""
    app = web.Application()
    app[FLAKY_HITS] = Hits()
    app.router.add_get("/hello", hello)
    app.router.add_get("/flaky", flaky)
    app.router.add_get("/slow", slow)

    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


# The client


def make_client(session: aiohttp.ClientSession) -> HttpClient:
    scheduler = AsyncIOScheduler(asyncio.get_running_loop())
    return HttpClient(
        AiohttpBackend(session),
        interceptors=[
            # Outermost: one log line per call, as the caller sees it.
            LoggingInterceptor(),
            # Before the retry: the deadline covers every attempt and wait.
            TimeoutInterceptor(TIMEOUT, scheduler=scheduler),
            RetryInterceptor(
                max_attempts=3, base_delay=0.05, factor=2, scheduler=scheduler
            ),
        ],
    )


async def show(client: HttpClient, base_url: str, path: str) -> None:
    print(f"GET {path}")
    try:
        body: Any = await client.get(base_url + path)
    except HttpErrorResponse as failure:
        print(f"  failed with status {failure.status}: {failure.__cause__!r}")
    else:
        print(f"  ok: {body}")


async def main() -> None:
    # Only the interceptor's lines; the server's access log would drown them.
    logging.basicConfig(format="  log: %(message)s", stream=sys.stdout)
    logging.getLogger("examples.interceptors").setLevel(logging.INFO)
    async with local_server() as base_url, aiohttp.ClientSession() as session:
        print(f"server listening on {base_url}")
        client = make_client(session)
        for path in ("/hello", "/flaky", "/slow"):
            await show(client, base_url, path)
    print("done")


if __name__ == "__main__":
    asyncio.run(main())

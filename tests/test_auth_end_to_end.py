"""Auth against a real server on 127.0.0.1 that rotates refresh tokens."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from examples.auth_server import AuthServer
from rx_auth import (
    AiohttpBackend,
    AuthInterceptor,
    AuthService,
    HttpClient,
    HttpErrorResponse,
    JsonRefreshEndpoint,
    MemoryTokenStore,
    OAuth2RefreshTokenGrant,
    RefreshRejected,
    RefreshTimeout,
    Tokens,
)

# A bound on every wait, so that a hang fails the test instead of stalling it.
BOUND = 20.0


@dataclass
class Client:
    http: HttpClient
    auth: AuthService
    base: str


@asynccontextmanager
async def client_for(
    server: AuthServer,
    tokens: Tokens | None,
    *,
    oauth: bool = False,
    refresh_timeout: float = 10.0,
) -> AsyncIterator[Client]:
    async with server.running() as base, aiohttp.ClientSession() as session:
        refresher = (
            OAuth2RefreshTokenGrant(f"{base}/oauth/token")
            if oauth
            else JsonRefreshEndpoint(f"{base}/api/auth/refresh")
        )
        auth = AuthService(
            refresher, MemoryTokenStore(tokens), refresh_timeout=refresh_timeout
        )
        interceptor = AuthInterceptor(auth, allowed_origins=[base])
        yield Client(HttpClient(AiohttpBackend(session), [interceptor]), auth, base)


async def gather_bounded(calls: list[Awaitable[Any]]) -> list[Any]:
    return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), BOUND)


@pytest.mark.parametrize("oauth", [False, True], ids=["json", "oauth2"])
async def test_a_burst_of_1000_on_an_expired_token_refreshes_once(oauth: bool) -> None:
    server = AuthServer()
    async with client_for(server, server.issue(expired=True), oauth=oauth) as c:
        urls = [f"{c.base}/api/{name}" for name in ("user", "notifications")] * 500
        results = await gather_bounded([c.http.get(url) for url in urls])

    assert [r for r in results if isinstance(r, BaseException)] == []
    assert len(results) == 1000
    assert server.counters.refresh_calls == 1
    assert server.counters.reused_refresh_tokens == 0
    assert server.counters.api_ok == 1000


async def test_early_revocation_the_client_cannot_see_costs_one_refresh() -> None:
    server = AuthServer()
    tokens = server.issue()
    async with client_for(server, tokens) as c:
        assert await c.http.get(f"{c.base}/api/user") == {
            "name": "Ada Lovelace",
            "id": 1815,
        }
        server.revoke_access_tokens()
        results = await gather_bounded(
            [c.http.get(f"{c.base}/api/settings") for _ in range(1000)]
        )

    assert all(r == {"theme": "dark"} for r in results)
    assert server.counters.refresh_calls == 1


async def test_invalid_grant_fails_all_100_waiters_after_one_refresh_call() -> None:
    server = AuthServer(refresh_mode="invalid_grant")
    async with client_for(server, server.issue(expired=True)) as c:
        results = await gather_bounded(
            [c.http.get(f"{c.base}/api/user") for _ in range(100)]
        )
        assert c.auth.tokens is None

    assert all(isinstance(r, RefreshRejected) for r in results)
    assert server.counters.refresh_calls == 1


async def test_a_token_known_to_be_expiring_is_refreshed_before_sending() -> None:
    server = AuthServer()
    issued = server.issue(expired=True)
    tokens = Tokens(issued.access_token, issued.refresh_token, expires_at=0.0)
    async with client_for(server, tokens) as c:
        results = await gather_bounded(
            [c.http.get(f"{c.base}/api/user") for _ in range(50)]
        )

    assert all(r == {"name": "Ada Lovelace", "id": 1815} for r in results)
    assert server.counters.refresh_calls == 1
    assert server.counters.api_unauthorized == 0


async def test_a_refresh_that_never_answers_times_out_for_every_waiter() -> None:
    server = AuthServer(refresh_mode="hang")
    async with client_for(server, server.issue(expired=True), refresh_timeout=0.2) as c:
        results = await gather_bounded(
            [c.http.get(f"{c.base}/api/user") for _ in range(20)]
        )
        assert c.auth.tokens is not None  # kept: the server may come back

    assert all(isinstance(r, RefreshTimeout) for r in results)
    assert server.counters.refresh_calls == 1


async def test_a_retry_refused_again_reaches_the_caller_as_401() -> None:
    server = AuthServer(access_ttl=0.0)  # every new token is dead on arrival
    async with client_for(server, server.issue(expired=True)) as c:
        (result,) = await gather_bounded([c.http.get(f"{c.base}/api/user")])

    assert isinstance(result, HttpErrorResponse)
    assert result.status == 401
    assert server.counters.refresh_calls == 1
    assert server.counters.api_unauthorized == 2


async def test_a_redirect_to_another_origin_carries_no_token() -> None:
    seen: list[str | None] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response({"ok": True})

    elsewhere = web.Application()
    elsewhere.router.add_get("/landing", record)
    async with _serve(elsewhere) as other:

        async def bounce(request: web.Request) -> web.Response:
            seen.append(request.headers.get("Authorization"))
            raise web.HTTPFound(f"{other}/landing")

        api = web.Application()
        api.router.add_get("/jump", bounce)
        async with _serve(api) as base, aiohttp.ClientSession() as session:
            auth = AuthService(
                JsonRefreshEndpoint(f"{base}/refresh"),
                MemoryTokenStore(Tokens("the-access-token", "r")),
            )
            client = HttpClient(
                AiohttpBackend(session),
                [AuthInterceptor(auth, allowed_origins=[base])],
            )
            assert await client.get(f"{base}/jump") == {"ok": True}

    assert seen == ["Bearer the-access-token", None]


async def test_debug_logs_of_a_whole_refresh_name_no_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = AuthServer()
    issued = server.issue(expired=True)
    caplog.set_level(logging.DEBUG)
    async with client_for(server, issued) as c:
        await gather_bounded([c.http.get(f"{c.base}/api/user") for _ in range(3)])
        fresh = c.auth.tokens
    assert fresh is not None
    assert fresh.refresh_token is not None

    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "refresh started" in text
    for secret in (issued.access_token, issued.refresh_token, fresh.access_token):
        assert secret is not None
        assert secret not in text


@asynccontextmanager
async def _serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


class ServerThread:
    """The auth server on an event loop of its own thread, for sync tests."""

    def __init__(self, server: AuthServer) -> None:
        self.server = server
        self.base = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()))

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(BOUND), "the server did not start"
        return self

    def __exit__(self, *_: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(BOUND)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self.server.running() as base:
            self.base = base
            self._ready.set()
            await self._stop.wait()


def test_a_program_without_an_event_loop_refreshes_once_for_its_burst() -> None:
    server = AuthServer()
    with ServerThread(server) as running, AiohttpBackend.in_thread() as backend:
        base = running.base
        auth = AuthService(
            JsonRefreshEndpoint(f"{base}/api/auth/refresh"),
            MemoryTokenStore(server.issue(expired=True)),
        )
        client = HttpClient(backend, [AuthInterceptor(auth, allowed_origins=[base])])
        results: list[Any] = []
        all_in = threading.Event()

        def collect(value: Any) -> None:
            results.append(value)
            if len(results) == 3:
                all_in.set()

        for name in ("user", "notifications", "settings"):
            client.get(f"{base}/api/{name}").subscribe(collect, collect)
        assert all_in.wait(BOUND)
        again = client.get(f"{base}/api/settings").run()

    assert sorted(map(str, results)) == sorted(
        map(
            str,
            [{"name": "Ada Lovelace", "id": 1815}, {"unread": 3}, {"theme": "dark"}],
        )
    )
    assert again == {"theme": "dark"}
    assert server.counters.refresh_calls == 1


async def test_requests_through_the_chain_leave_no_reference_cycles() -> None:
    # Cycles are what the garbage collector must find and free; a burst
    # holding a thousand requests' chains pays for each collection. One
    # reactivex operator in the chain leaves about ten objects a request.
    server = AuthServer()
    async with client_for(server, server.issue(expired=True)) as c:
        url = f"{c.base}/api/user"
        await c.http.get(url)  # the first read of the store, and one refresh
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            await gather_bounded([c.http.get(url) for _ in range(100)])
            server.revoke_access_tokens()  # the next ones go through a refresh
            await gather_bounded([c.http.get(url) for _ in range(100)])
            gc.collect()
            left_in_cycles = len(gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()

    assert server.counters.refresh_calls == 2
    assert left_in_cycles < 200  # under one object a request

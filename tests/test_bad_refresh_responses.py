"""Every way a token endpoint can answer badly, against a real server.

Each answer gives every waiting request one clear, typed error: rejected
(sign in again; the tokens are gone) or unavailable (try later; the tokens
are kept). Nobody is left waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from rx_auth import (
    AiohttpBackend,
    AuthInterceptor,
    AuthService,
    HttpClient,
    JsonRefreshEndpoint,
    MemoryTokenStore,
    RefreshError,
    RefreshRejected,
    RefreshTimeout,
    RefreshUnavailable,
    Tokens,
)

WAITERS = 5
BOUND = 20.0
STALE = Tokens("stale-access", "the-refresh-token")

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


def status(code: int, body: Any = None, **headers: str) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        if body is None:
            return web.Response(status=code, headers=headers)
        return web.json_response(body, status=code, headers=headers)

    return answer


def text(code: int, content: str, content_type: str) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, text=content, content_type=content_type)

    return answer


def token_body(**fields: Any) -> Answer:
    return status(200, {"access_token": "fresh", "refresh_token": "next", **fields})


async def reset_mid_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Length": "1000"})
    response.content_type = "application/json"
    await response.prepare(request)
    await response.write(b'{"access_token": "fr')
    assert request.transport is not None
    request.transport.abort()  # the connection drops before the body ends
    return response


async def never_finishes(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Length": "1000"})
    await response.prepare(request)
    await response.write(b'{"access_token": ')
    await asyncio.Event().wait()  # ended by the client leaving (cancellation)
    return response


def huge_body() -> Answer:
    padding = "x" * (4 * 1024 * 1024)
    return token_body(padding=padding)


CASES: list[tuple[str, Answer, type[RefreshError]]] = [
    ("not JSON", text(200, "hello", "text/plain"), RefreshUnavailable),
    (
        "an HTML error page",
        text(200, "<html>oops</html>", "text/html"),
        RefreshUnavailable,
    ),
    ("an empty body", status(200), RefreshUnavailable),
    ("a JSON array", status(200, [1, 2]), RefreshUnavailable),
    ("no access_token", status(200, {"refresh_token": "r"}), RefreshUnavailable),
    ("access_token not a string", status(200, {"access_token": 5}), RefreshUnavailable),
    ("a negative expires_in", token_body(expires_in=-5), RefreshUnavailable),
    ("a huge expires_in", token_body(expires_in=10**12), RefreshUnavailable),
    ("a non-numeric expires_in", token_body(expires_in="soon"), RefreshUnavailable),
    ("an unknown token_type", token_body(token_type="MAC"), RefreshUnavailable),
    ("a 200 carrying an error", token_body(error="server_error"), RefreshUnavailable),
    ("400 invalid_grant", status(400, {"error": "invalid_grant"}), RefreshRejected),
    (
        "400 invalid_request",
        status(400, {"error": "invalid_request"}),
        RefreshUnavailable,
    ),
    ("401", status(401, {"error": "invalid_client"}), RefreshRejected),
    (
        "429 with Retry-After",
        status(429, None, **{"Retry-After": "30"}),
        RefreshUnavailable,
    ),
    ("500", status(500, {"error": "server_error"}), RefreshUnavailable),
    ("503", status(503), RefreshUnavailable),
    ("a reset mid-body", reset_mid_body, RefreshUnavailable),
    ("a body that never finishes", never_finishes, RefreshTimeout),
]


@asynccontextmanager
async def api_with_token_endpoint(
    answer: Answer,
) -> AsyncIterator[tuple[str, list[int]]]:
    refresh_calls: list[int] = []

    async def refresh(request: web.Request) -> web.StreamResponse:
        refresh_calls.append(1)
        return await answer(request)

    async def api(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "invalid_token"}, status=401)

    app = web.Application()
    app.router.add_post("/refresh", refresh)
    app.router.add_get("/api", api)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", refresh_calls
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [pytest.param(answer, expected, id=name) for name, answer, expected in CASES],
)
async def test_a_bad_answer_fails_every_waiter_with_a_typed_error(
    answer: Answer, expected: type[RefreshError]
) -> None:
    async with api_with_token_endpoint(answer) as (base, refresh_calls):
        store = MemoryTokenStore(STALE)
        auth = AuthService(
            JsonRefreshEndpoint(f"{base}/refresh"), store, refresh_timeout=1.0
        )
        async with aiohttp.ClientSession() as session:
            client = HttpClient(
                AiohttpBackend(session),
                [AuthInterceptor(auth, allowed_origins=[base])],
            )
            results = await asyncio.wait_for(
                asyncio.gather(
                    *[client.get(f"{base}/api") for _ in range(WAITERS)],
                    return_exceptions=True,
                ),
                BOUND,
            )

        assert [type(r) for r in results] == [expected] * WAITERS
        assert refresh_calls == [1]
        for result in results:
            assert "the-refresh-token" not in str(result)
            assert "stale-access" not in str(result)
        stored = await store.load()
        if expected is RefreshRejected:
            assert stored is None
        else:
            assert stored == STALE


async def test_a_multi_megabyte_token_response_is_refused() -> None:
    async with api_with_token_endpoint(huge_body()) as (base, refresh_calls):
        store = MemoryTokenStore(STALE)
        auth = AuthService(JsonRefreshEndpoint(f"{base}/refresh"), store)
        async with aiohttp.ClientSession() as session:
            client = HttpClient(
                AiohttpBackend(session),
                [AuthInterceptor(auth, allowed_origins=[base])],
            )
            with pytest.raises(RefreshUnavailable, match="too large"):
                await asyncio.wait_for(_get(client, f"{base}/api"), BOUND)
        assert await store.load() == STALE
        assert refresh_calls == [1]


async def _get(client: HttpClient, url: str) -> Any:
    return await client.get(url)

"""The two clients under comparison, built the same way on the same server.

Both get a fresh `aiohttp.ClientSession` with the same connection limit, so
neither can open more connections than the other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import aiohttp
from reactivex import Observable
from reactivex import operators as ops

from rx_auth import (
    AiohttpBackend,
    AuthInterceptor,
    AuthService,
    HttpClient,
    HttpEvent,
    HttpHandler,
    HttpInterceptor,
    HttpInterceptorFn,
    HttpRequest,
    HttpResponse,
    JsonRefreshEndpoint,
    MemoryTokenStore,
    Tokens,
)

from .remote import TokenPair

__all__ = [
    "CONNECTION_LIMIT",
    "Interceptor",
    "RxClient",
    "Tally",
    "add_request_id",
    "open_session",
    "raw_get_json",
    "rx_chain",
    "rx_client",
]

CONNECTION_LIMIT: Final = 100
_CALL_BOUND: Final = 120.0  # seconds for one call, queueing for a connection included


@asynccontextmanager
async def open_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A session with `CONNECTION_LIMIT` connections, as both clients get."""
    connector = aiohttp.TCPConnector(limit=CONNECTION_LIMIT)
    timeout = aiohttp.ClientTimeout(total=_CALL_BOUND)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield session


async def raw_get_json(session: aiohttp.ClientSession, url: str, access: str) -> Any:
    """One GET the plain aiohttp way: the baseline of the throughput run."""
    headers = {"Authorization": f"Bearer {access}"}
    async with session.get(url, headers=headers) as response:
        return await response.json()


@dataclass
class Tally:
    """How many complete responses passed the counting interceptor."""

    responses: int = 0

    def see(self, event: HttpEvent) -> None:
        if isinstance(event, HttpResponse):
            self.responses += 1


Interceptor: TypeAlias = HttpInterceptor | HttpInterceptorFn


@dataclass
class RxClient:
    """An `HttpClient` with auth and two light interceptors, and its parts."""

    http: HttpClient
    auth: AuthService
    tally: Tally
    interceptors: list[Interceptor]


def add_request_id(request: HttpRequest, next: HttpHandler) -> Observable[HttpEvent]:
    """A plain-function interceptor that tags each request for the logs."""
    tagged = request.clone(set_headers={"X-Request-Id": str(request.id)})
    return next.handle(tagged)


def _counting(tally: Tally) -> HttpInterceptorFn:
    def count_responses(
        request: HttpRequest, next: HttpHandler
    ) -> Observable[HttpEvent]:
        return next.handle(request).pipe(ops.do_action(tally.see))

    return count_responses


def rx_client(
    session: aiohttp.ClientSession,
    base: str,
    tokens: TokenPair,
    *,
    refresh_timeout: float = _CALL_BOUND,
) -> RxClient:
    """rx_auth as an application would set it up, over `session`."""
    backend = AiohttpBackend(session)
    return rx_chain(backend, base, tokens, refresh_timeout=refresh_timeout)


def rx_chain(
    backend: HttpHandler,
    base: str,
    tokens: TokenPair,
    *,
    refresh_timeout: float = _CALL_BOUND,
) -> RxClient:
    """The client every benchmark measures, in front of `backend`.

    The chain is `[add_request_id, AuthInterceptor, count_responses]`: the
    request id outermost, so a retry keeps it; the counter innermost, so
    it also sees the refresh call.
    """
    store = MemoryTokenStore(Tokens(tokens.access_token, tokens.refresh_token))
    refresher = JsonRefreshEndpoint(f"{base}/api/auth/refresh")
    auth = AuthService(refresher, store, refresh_timeout=refresh_timeout)
    tally = Tally()
    interceptors: list[Interceptor] = [
        add_request_id,
        AuthInterceptor(auth, allowed_origins=[base]),
        _counting(tally),
    ]
    return RxClient(HttpClient(backend, interceptors), auth, tally, interceptors)

"""What the shared-store tests have in common: tokens, bad contents, clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aiohttp

from rx_auth import (
    AiohttpBackend,
    AuthEvent,
    AuthInterceptor,
    AuthService,
    HttpClient,
    JsonRefreshEndpoint,
    RefreshStarted,
    Tokens,
    TokenStore,
)

# A bound on every wait, so that a hang fails the test instead of stalling it.
BOUND = 20.0

SECRET = "s3cret-refresh-token-never-shown"
FULL = Tokens("access-1", "refresh-1", expires_at=1700000000.5, scope="read write")
OTHER = Tokens("access-2", "refresh-2", expires_at=1700003600.0)

# Stored contents no store may accept, each with a secret it must not repeat.
UNREADABLE = {
    "empty": b"",
    "not JSON": f'{{"version": 1, "tokens": {{"access_token": "{SECRET}"'.encode(),
    "not UTF-8": f'{{"version": 1, "tokens": "{SECRET}\xff"}}'.encode("latin-1"),
    "an array": f'["{SECRET}"]'.encode(),
    "a newer version": f'{{"version": 2, "tokens": {{"at": "{SECRET}"}}}}'.encode(),
    "a secret for a version": f'{{"version": "{SECRET}"}}'.encode(),
    "no tokens object": f'{{"version": 1, "token": "{SECRET}"}}'.encode(),
    "no access token": (
        f'{{"version": 1, "tokens": {{"refresh_token": "{SECRET}",'
        f' "token_type": "Bearer"}}}}'
    ).encode(),
    "a text expiry": (
        f'{{"version": 1, "tokens": {{"access_token": "{SECRET}",'
        f' "expires_at": "{SECRET}", "token_type": "Bearer"}}}}'
    ).encode(),
}


@dataclass
class Client:
    """An HTTP client with auth, and an event set when it starts a refresh."""

    http: HttpClient
    refresh_started: asyncio.Event


@asynccontextmanager
async def clients(
    base: str, stores: Callable[[], TokenStore], count: int
) -> AsyncIterator[list[Client]]:
    """`count` clients as separate processes have them: a store and session each.

    ```python
    async with clients(base, lambda: FileTokenStore(path), 3) as three:
        await three[0].http.get(f"{base}/api/user")
    ```
    """
    async with AsyncExitStack() as stack:
        made = []
        for _ in range(count):
            session = await stack.enter_async_context(aiohttp.ClientSession())
            refresher = JsonRefreshEndpoint(f"{base}/api/auth/refresh")
            auth = AuthService(refresher, stores())
            interceptor = AuthInterceptor(auth, allowed_origins=[base])
            client = Client(
                HttpClient(AiohttpBackend(session), [interceptor]), asyncio.Event()
            )
            subscription = auth.events.subscribe(_set_on_start(client.refresh_started))
            stack.callback(subscription.dispose)
            made.append(client)
        yield made


async def all_started(clients: list[Client]) -> None:
    """Wait until every client has started a refresh (each waits on the lock)."""
    for client in clients:
        await client.refresh_started.wait()


def _set_on_start(started: asyncio.Event) -> Callable[[AuthEvent], None]:
    def on_event(event: AuthEvent) -> None:
        if isinstance(event, RefreshStarted):
            started.set()

    return on_event

"""A small auth server and API to try the client against, on 127.0.0.1.

It behaves as strict servers do: access tokens live `access_ttl` seconds;
each refresh rotates the refresh token, and presenting a used one again is
refused (`400 invalid_grant`), as it would be for a stolen token. It counts
what happens, so a demo or a test can say what the client did.

Endpoints:

- `POST /api/auth/refresh`: the lesson's JSON refresh endpoint, taking
  `{"refresh_token": ...}` or `{"refreshToken": ...}`.
- `POST /oauth/token`: the same, as an RFC 6749 refresh token grant.
- `GET /api/user`, `/api/notifications`, `/api/settings`: need a valid
  bearer token, else `401`.
- `GET /api/slow`: the same check, but the answer is held back until
  `release_slow()` is called (or the server stops). A demo uses it to make
  a `401` reach the client after a refresh the request never waited for.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from aiohttp import web

from rx_auth import Tokens

RefreshMode: TypeAlias = Literal["rotate", "invalid_grant", "unavailable", "hang"]

_API_ANSWERS: dict[str, dict[str, Any]] = {
    "user": {"name": "Ada Lovelace", "id": 1815},
    "notifications": {"unread": 3},
    "settings": {"theme": "dark"},
}
_SLOW_ANSWER: dict[str, Any] = {"report": "ready"}


@dataclass
class Counters:
    """What the server saw."""

    refresh_calls: int = 0
    refresh_failures_injected: int = 0
    reused_refresh_tokens: int = 0
    api_ok: int = 0
    api_unauthorized: int = 0


class AuthServer:
    """The server's state, and the aiohttp application that serves it.

    `refresh_mode` says how refreshes are answered: `"rotate"` (normally),
    `"invalid_grant"` (every refresh token refused), `"unavailable"` (503)
    or `"hang"` (no answer until the server stops). With
    `fail_every_nth_refresh=n`, every n-th refresh call answers 503 before
    looking at the token, as a briefly overloaded server would.
    """

    def __init__(
        self,
        *,
        access_ttl: float = 60.0,
        refresh_mode: RefreshMode = "rotate",
        fail_every_nth_refresh: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.access_ttl = access_ttl
        self.refresh_mode: RefreshMode = refresh_mode
        self.fail_every_nth_refresh = fail_every_nth_refresh
        self.counters = Counters()
        self._clock = clock
        self._access: dict[str, float] = {}  # token -> expiry on self._clock
        self._refresh_live: set[str] = set()
        self._refresh_used: set[str] = set()
        self._stopping = asyncio.Event()
        self._slow_released = asyncio.Event()

    def issue(self, *, expired: bool = False) -> Tokens:
        """Tokens as a sign-in would give them; `expired` ones are dead now."""
        access, refresh = self._new_pair(ttl=0.0 if expired else self.access_ttl)
        return Tokens(access, refresh)

    def revoke_access_tokens(self) -> None:
        """End every access token now, before its time (the client can't tell)."""
        self._access.clear()

    def release_slow(self) -> None:
        """Let `/api/slow` send the answers it holds, and answer at once from now."""
        self._slow_released.set()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/auth/refresh", self._json_refresh)
        app.router.add_post("/oauth/token", self._oauth_refresh)
        for name in _API_ANSWERS:
            app.router.add_get(f"/api/{name}", self._api)
        app.router.add_get("/api/slow", self._slow_api)
        return app

    @asynccontextmanager
    async def running(self, host: str = "127.0.0.1") -> AsyncIterator[str]:
        """Serve on a free port of `host`; yields the base URL."""
        runner = web.AppRunner(self.app(), handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield f"http://{host}:{port}"
        finally:
            self._stopping.set()
            await runner.cleanup()

    async def _json_refresh(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _oauth_error("invalid_request", 400)
        presented = body.get("refresh_token") or body.get("refreshToken")
        return await self._refresh(presented)

    async def _oauth_refresh(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "refresh_token":
            return _oauth_error("unsupported_grant_type", 400)
        presented = form.get("refresh_token")
        return await self._refresh(presented if isinstance(presented, str) else None)

    async def _refresh(self, presented: str | None) -> web.Response:
        self.counters.refresh_calls += 1
        if self.refresh_mode == "hang":
            await self._stopping.wait()
        nth = self.fail_every_nth_refresh
        injected = nth > 0 and self.counters.refresh_calls % nth == 0
        if injected:
            self.counters.refresh_failures_injected += 1
        if self.refresh_mode == "unavailable" or injected:
            return web.json_response({"error": "temporarily_unavailable"}, status=503)
        if self.refresh_mode == "invalid_grant" or presented not in self._refresh_live:
            if presented in self._refresh_used:
                self.counters.reused_refresh_tokens += 1
            return _oauth_error("invalid_grant", 400)

        self._refresh_live.discard(presented)
        self._refresh_used.add(presented)
        access, refresh = self._new_pair(ttl=self.access_ttl)
        return web.json_response(
            {
                "access_token": access,
                "refresh_token": refresh,
                "token_type": "Bearer",
                "expires_in": self.access_ttl,
            }
        )

    async def _api(self, request: web.Request) -> web.Response:
        name = request.path.rsplit("/", 1)[-1]
        return self._answer(request, _API_ANSWERS[name])

    async def _slow_api(self, request: web.Request) -> web.Response:
        # The token is judged on arrival, as it was sent; only the answer
        # travels slowly, so a 401 can land after the client has refreshed.
        answer = self._answer(request, _SLOW_ANSWER)
        await _first_of(self._slow_released, self._stopping)
        return answer

    def _answer(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        if not self._authorized(request.headers.get("Authorization", "")):
            self.counters.api_unauthorized += 1
            return web.json_response({"error": "invalid_token"}, status=401)
        self.counters.api_ok += 1
        return web.json_response(body)

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        expiry = self._access.get(token)
        return scheme == "Bearer" and expiry is not None and self._clock() < expiry

    def _new_pair(self, *, ttl: float) -> tuple[str, str]:
        access = "at-" + secrets.token_urlsafe(16)
        refresh = "rt-" + secrets.token_urlsafe(16)
        self._access[access] = self._clock() + ttl
        self._refresh_live.add(refresh)
        return access, refresh


async def _first_of(*events: asyncio.Event) -> None:
    """Wait until any of `events` is set."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def _oauth_error(code: str, status: int) -> web.Response:
    return web.json_response({"error": code}, status=status)

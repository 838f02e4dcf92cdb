"""The hand-written way to do what rx_auth does: aiohttp and an `asyncio.Lock`.

This is the yardstick the reactive pipeline is measured against, written
the way a careful asyncio programmer would, without reactivex:

- every request is sent with the access token current at that moment;
- a 401 takes the lock; under it, the token is refreshed only if the one
  the request was sent with is still the current one (double-checked, so
  the first holder refreshes and the others find it done), then the
  request is retried once with the current token;
- a refresh that fails is remembered for the token it tried to replace,
  so the requests queued behind it fail at once instead of each trying
  the spent refresh token again.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import aiohttp

from .remote import TokenPair

__all__ = ["BaselineHttpError", "BaselineRefreshFailed", "LockedRefreshClient"]

_OK: Final = 200
_UNAUTHORIZED: Final = 401


class BaselineHttpError(Exception):
    """A request that ended with a status other than 200."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the server answered {status}, expected 200")
        self.status = status


class BaselineRefreshFailed(Exception):
    """The token endpoint refused the refresh; the request was not retried."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the token endpoint answered {status}, expected 200")
        self.status = status


class LockedRefreshClient:
    """GETs JSON with a bearer token, refreshing it once for many 401s.

    `waiting` counts the requests queued on the lock right now: those that
    got a 401 and wait while another request refreshes.
    """

    def __init__(
        self, session: aiohttp.ClientSession, refresh_url: str, tokens: TokenPair
    ) -> None:
        self.waiting = 0
        self._session = session
        self._refresh_url = refresh_url
        self._access = tokens.access_token
        self._refresh = tokens.refresh_token
        self._lock = asyncio.Lock()
        # The access token whose refresh failed, and the status it failed with.
        self._failed: tuple[str, int] | None = None

    async def get_json(self, url: str) -> Any:
        """The JSON body of `url`, refreshing and retrying once after a 401."""
        sent_with = self._access
        status, body = await self._get(url, sent_with)
        if status == _UNAUTHORIZED:
            await self._refresh_unless_done(sent_with)
            status, body = await self._get(url, self._access)
        if status != _OK:
            raise BaselineHttpError(status)
        return body

    async def _get(self, url: str, access: str) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {access}"}
        async with self._session.get(url, headers=headers) as response:
            if response.status == _OK:
                return response.status, await response.json()
            # Read the error body all the same, so the connection is reused.
            await response.read()
            return response.status, None

    async def _refresh_unless_done(self, sent_with: str) -> None:
        self.waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self.waiting -= 1
        try:
            if self._access != sent_with:
                return  # refreshed while this request was out, or queued
            if self._failed is not None and self._failed[0] == sent_with:
                raise BaselineRefreshFailed(self._failed[1])
            await self._refresh_tokens(sent_with)
        finally:
            self._lock.release()

    async def _refresh_tokens(self, replacing: str) -> None:
        body = {"refresh_token": self._refresh}
        async with self._session.post(self._refresh_url, json=body) as response:
            answer = await response.json()
            if response.status != _OK:
                self._failed = (replacing, response.status)
                raise BaselineRefreshFailed(response.status)
        self._access = answer["access_token"]
        self._refresh = answer["refresh_token"]

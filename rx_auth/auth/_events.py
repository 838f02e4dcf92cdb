"""What `AuthService.events` emits: the life of each refresh, as it happens.

Every event has `at`, a `time.monotonic()` reading, and, where a request is
concerned, its `request_id` (`HttpRequest.id`). No event carries a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = [
    "AuthEvent",
    "LoggedOut",
    "RefreshFailed",
    "RefreshReason",
    "RefreshStarted",
    "RefreshSucceeded",
    "RequestQueued",
    "RequestRetried",
]

RefreshReason: TypeAlias = Literal["unauthorized", "expired"]


@dataclass(frozen=True, slots=True)
class RefreshStarted:
    """A request found no refresh in flight and started one.

    `reason` is `"unauthorized"` after a 401, `"expired"` when the token
    was known to be expiring before the request was sent.
    """

    at: float
    request_id: int | None
    reason: RefreshReason


@dataclass(frozen=True, slots=True)
class RequestQueued:
    """A request waits for the refresh in flight instead of starting one."""

    at: float
    request_id: int


@dataclass(frozen=True, slots=True)
class RefreshSucceeded:
    """New tokens are stored; the waiting requests are released.

    `refreshed` is false when no refresh call was made because the store
    already held newer tokens (another process refreshed first).
    """

    at: float
    refreshed: bool = True


@dataclass(frozen=True, slots=True)
class RefreshFailed:
    """The refresh failed; every waiting request fails with `error`.

    `error` names the `RefreshError` subclass; `message` is its text.
    """

    at: float
    error: str
    message: str


@dataclass(frozen=True, slots=True)
class RequestRetried:
    """A request that got a 401 is sent again, with the current token."""

    at: float
    request_id: int


@dataclass(frozen=True, slots=True)
class LoggedOut:
    """The refresh token was rejected; the stored tokens are gone."""

    at: float


AuthEvent: TypeAlias = (
    RefreshStarted
    | RequestQueued
    | RefreshSucceeded
    | RefreshFailed
    | RequestRetried
    | LoggedOut
)

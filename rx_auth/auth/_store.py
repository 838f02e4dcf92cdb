"""Where tokens live between refreshes: the `TokenStore` protocol."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Protocol, final, runtime_checkable

from ._tokens import Tokens

__all__ = ["MemoryTokenStore", "TokenStore"]


@runtime_checkable
class TokenStore(Protocol):
    """Keeps the current tokens, and a lock to refresh them under.

    `AuthService` refreshes like this: enter `lock()`, `load()` again, and
    use what it finds if another holder of the lock has refreshed already;
    otherwise refresh, `save()`, and leave the lock. A store shared by many
    processes (a file, Redis) makes its lock span them all, so that one
    refresh serves every process.
    """

    async def load(self) -> Tokens | None:
        """The stored tokens, or `None` when there are none."""
        ...

    async def save(self, tokens: Tokens) -> None:
        """Replace the stored tokens."""
        ...

    async def clear(self) -> None:
        """Forget the stored tokens (the user is logged out)."""
        ...

    def lock(self) -> AbstractAsyncContextManager[object]:
        """A lock held while refreshing, across every user of the store."""
        ...


@final
class MemoryTokenStore:
    """Tokens in this process's memory; its lock spans this process only."""

    def __init__(self, tokens: Tokens | None = None) -> None:
        self._tokens = tokens
        self._lock = asyncio.Lock()

    async def load(self) -> Tokens | None:
        return self._tokens

    async def save(self, tokens: Tokens) -> None:
        self._tokens = tokens

    async def clear(self) -> None:
        self._tokens = None

    def lock(self) -> AbstractAsyncContextManager[object]:
        return self._lock

    def __repr__(self) -> str:
        return f"MemoryTokenStore({self._tokens!r})"

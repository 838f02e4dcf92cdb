"""`RedisTokenStore`: tokens in Redis, shared by processes on many machines.

The tokens are one JSON value at `key`, in the format `FileTokenStore`
writes. The refresh lock is redis-py's `Lock` at `f"{key}:lock"`: a value
set only if absent (`SET NX PX`), released by a script that deletes it only
if it still holds this holder's random token.

The lock expires `lock_timeout` seconds after it was last renewed, so a
holder that dies (SIGKILL, power loss, a lost network) blocks the others for
at most that long. While the holder lives, a renewal task resets the expiry
every third of `lock_timeout`, so a refresh slower than `lock_timeout` does
not lose the lock to a second refresher, which would present the rotated
refresh token again and be refused. Only a holder whose event loop stalls
for longer than `lock_timeout` can lose it; that is logged as a warning.

Waiters poll for the lock (a Redis key has no wake-up on delete), and learn
the new tokens the way every store's users do: `AuthService` reads the
store again once it holds the lock.

An unreadable value is handled as `FileTokenStore` handles an unreadable
file: `TokenStoreError` naming the key, `save()` refuses to replace it, and
`clear()` renames it to `f"{key}:corrupt"`.

This module needs the `redis` package (`pip install 'rx_auth[redis]'`);
`rx_auth` itself imports it only when `RedisTokenStore` is used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final, final

from ._persisted import (
    TokenStoreError,
    decode_tokens,
    encode_tokens,
    finish_despite_cancel,
)
from ._tokens import Tokens

try:
    from redis.asyncio import Redis
    from redis.asyncio.lock import Lock
    from redis.exceptions import LockNotOwnedError, RedisError, WatchError
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "RedisTokenStore needs the redis package: pip install 'rx_auth[redis]'"
    ) from error

__all__ = ["RedisTokenStore"]

logger = logging.getLogger("rx_auth")

# How often a waiter asks for the lock again. A refresh takes milliseconds;
# a fleet of waiters polling this often costs Redis little.
_POLL: Final = 0.02

# A save retries when another client changes the key between its read and
# its write (Redis WATCH); more than this many in a row is not contention.
_SAVE_ATTEMPTS: Final = 10


@final
class RedisTokenStore:
    """Tokens in Redis, with a lock that spans every process using `key`.

    ```python
    redis = redis.asyncio.Redis.from_url("redis://tokens.internal:6379/0")
    store = RedisTokenStore(redis, "app:tokens:alice")
    auth = AuthService(JsonRefreshEndpoint(f"{api}/auth/refresh"), store)
    ```

    `lock_timeout` is how long, in seconds, a dead holder can keep the lock;
    a live one renews it. Keep it below `AuthService`'s `refresh_timeout`
    (10 s by default), so that the waiters take over from a dead holder
    within one refresh rather than time out. `lock()` waits up to
    `wait_timeout` seconds for another holder, then raises `TokenStoreError`.
    The store does not close `redis`; its owner does.
    """

    def __init__(
        self,
        redis: Redis,
        key: str,
        *,
        lock_timeout: float = 5.0,
        wait_timeout: float = 30.0,
    ) -> None:
        if not key:
            raise ValueError("key must be a non-empty string")
        for name, value in (
            ("lock_timeout", lock_timeout),
            ("wait_timeout", wait_timeout),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        self.key = key
        self.lock_timeout = lock_timeout
        self.wait_timeout = wait_timeout
        self._redis = redis
        self._lock_key = f"{key}:lock"
        self._corrupt_key = f"{key}:corrupt"

    async def load(self) -> Tokens | None:
        """The stored tokens; `None` if the key does not exist."""
        return self._decode(await self._redis.get(self.key))

    async def save(self, tokens: Tokens) -> None:
        """Replace the value; refuse if the value there now is unreadable.

        A save that has begun finishes even if the caller is cancelled.
        """
        await finish_despite_cancel(self._save(encode_tokens(tokens)))

    async def clear(self) -> None:
        """Delete the key, or rename it to `f"{key}:corrupt"` if unreadable."""
        try:
            self._decode(await self._redis.get(self.key))
        except TokenStoreError:
            await self._redis.rename(self.key, self._corrupt_key)
            logger.warning(
                "renamed the unreadable Redis key %r to %r", self.key, self._corrupt_key
            )
            return
        await self._redis.delete(self.key)

    def lock(self) -> AbstractAsyncContextManager[object]:
        """The lock at `f"{key}:lock"`, renewed while held."""
        return self._locked()

    def __repr__(self) -> str:
        return f"RedisTokenStore(key={self.key!r}, lock_timeout={self.lock_timeout})"

    async def _save(self, data: bytes) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for _ in range(_SAVE_ATTEMPTS):
                # WATCH makes the write fail if the key changes after it was
                # checked, so an unreadable value is never overwritten.
                await pipe.watch(self.key)
                self._refuse_if_unreadable(await pipe.get(self.key))
                pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it bare
                pipe.set(self.key, data)
                try:
                    await pipe.execute()
                    return
                except WatchError:
                    continue
        raise TokenStoreError(
            f"could not save to the Redis key {self.key!r}: it changed during"
            f" each of {_SAVE_ATTEMPTS} attempts"
        )

    def _decode(self, value: bytes | str | None) -> Tokens | None:
        if value is None:
            return None
        return decode_tokens(value, where=f"the Redis key {self.key!r}")

    def _refuse_if_unreadable(self, value: bytes | str | None) -> None:
        try:
            self._decode(value)
        except TokenStoreError as error:
            raise TokenStoreError(
                f"{error}; refusing to overwrite it, as it may hold the only copy"
                f" of a refresh token: call clear() to rename it to"
                f" {self._corrupt_key!r}, then save again"
            ) from error

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        lock = self._redis.lock(
            self._lock_key,
            timeout=self.lock_timeout,
            sleep=_POLL,
            blocking_timeout=self.wait_timeout,
            # One Lock object per holding, so its token needs no thread-local
            # slot; with one, a release from another thread would fail.
            thread_local=False,
        )
        if not await lock.acquire():
            raise TokenStoreError(
                f"could not take the lock {self._lock_key!r} within"
                f" {self.wait_timeout} s: another holder has it"
            )
        renewal = asyncio.create_task(_renew(lock, self.lock_timeout / 3))
        try:
            yield
        finally:
            try:
                await _stop(renewal)
            finally:
                await _release(lock)


async def _renew(lock: Lock, every: float) -> None:
    """Reset the lock's expiry every `every` seconds until cancelled."""
    while True:
        await asyncio.sleep(every)
        try:
            await lock.reacquire()
        except LockNotOwnedError:
            logger.warning(
                "lost the lock %r before the refresh finished: it expired while"
                " this process could not renew it; raise lock_timeout",
                lock.name,
            )
            return
        except RedisError as error:
            # The next turn tries again; the lock lasts until it expires.
            logger.warning("could not renew the lock %r: %s", lock.name, error)


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.wait([task])


async def _release(lock: Lock) -> None:
    """Release the lock; a lock that can't be released expires on its own."""
    try:
        await lock.release()
    except LockNotOwnedError:
        logger.warning(
            "the lock %r expired before it was released; another process may"
            " have refreshed at the same time; raise lock_timeout",
            lock.name,
        )
    except RedisError as error:
        logger.warning(
            "could not release the lock %r (%s); it expires in at most %s s",
            lock.name,
            error,
            lock.timeout,
        )

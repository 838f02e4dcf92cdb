"""What the child processes of the store tests do, until they are killed.

Each function runs in a process of its own, started by `Child` from
multiprocessing's "forkserver" (a clean process that has imported this
module once, and forks a child from it in milliseconds). It tells the test
through `conn` how far it got. None of them ends on its own before
`CHILD_BOUND` seconds: the test kills them with SIGKILL.

```python
with Child(hold_file_lock, str(path)) as holder:
    assert holder.receive(BOUND) == b"held"
    holder.kill()
```
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from rx_auth import FileTokenStore
from rx_auth.auth._tokens import Tokens

if TYPE_CHECKING:  # imported where used, so that the file tests need no redis
    from rx_auth import RedisTokenStore

# A child whose test has gone away stops by itself after this long.
CHILD_BOUND = 30.0
# The most saves a saving child makes before it stops by itself.
MOST_SAVES = 100_000


def save_file_in_a_loop(
    path: str, pair: tuple[Tokens, Tokens], conn: Connection
) -> None:
    """Save the two tokens in turn, sending a byte after every save."""
    asyncio.run(_save_in_a_loop(FileTokenStore(path), pair, conn))


def save_redis_in_a_loop(
    url: str, key: str, pair: tuple[Tokens, Tokens], conn: Connection
) -> None:
    """As `save_file_in_a_loop`, to a `RedisTokenStore`."""
    asyncio.run(_save_redis_in_a_loop(url, key, pair, conn))


def hold_file_lock(path: str, conn: Connection) -> None:
    """Take the file store's lock, say `held`, and keep it."""
    asyncio.run(_hold(FileTokenStore(path).lock(), conn))


def hold_redis_lock(url: str, key: str, lock_timeout: float, conn: Connection) -> None:
    """Take the Redis store's lock, say `held`, and keep it (renewing it)."""
    asyncio.run(_hold_redis_lock(url, key, lock_timeout, conn))


async def _save_in_a_loop(
    store: FileTokenStore | RedisTokenStore,
    pair: tuple[Tokens, Tokens],
    conn: Connection,
) -> None:
    deadline = time.monotonic() + CHILD_BOUND
    for turn in range(MOST_SAVES):
        if time.monotonic() > deadline:
            return
        await store.save(pair[turn % 2])
        conn.send_bytes(b".")


async def _save_redis_in_a_loop(
    url: str, key: str, pair: tuple[Tokens, Tokens], conn: Connection
) -> None:
    from redis.asyncio import Redis

    from rx_auth import RedisTokenStore

    async with Redis.from_url(url) as redis:
        await _save_in_a_loop(RedisTokenStore(redis, key), pair, conn)


async def _hold(lock: AbstractAsyncContextManager[object], conn: Connection) -> None:
    async with lock:
        conn.send_bytes(b"held")
        await asyncio.sleep(CHILD_BOUND)


async def _hold_redis_lock(
    url: str, key: str, lock_timeout: float, conn: Connection
) -> None:
    from redis.asyncio import Redis

    from rx_auth import RedisTokenStore

    async with Redis.from_url(url) as redis:
        store = RedisTokenStore(redis, key, lock_timeout=lock_timeout)
        await _hold(store.lock(), conn)


class Child:
    """A child process running one of the functions above, seen from the test."""

    def __init__(self, target: Callable[..., None], *args: object) -> None:
        context = multiprocessing.get_context("forkserver")
        # Fork from a process that has imported rx_auth (and redis, where it
        # is installed) once: a child then starts in milliseconds, which lets
        # a test kill hundreds of them.
        context.set_forkserver_preload([__name__, "rx_auth.auth._redis_store"])
        self._messages, sender = context.Pipe(duplex=False)
        self.process = context.Process(target=target, args=(*args, sender))
        self.process.start()
        sender.close()

    def receive(self, bound: float) -> bytes:
        """The child's next message, waiting at most `bound` seconds."""
        if not self._messages.poll(bound):
            raise TimeoutError(f"the child sent nothing within {bound} s")
        try:
            return self._messages.recv_bytes()
        except EOFError:
            self.process.join(bound)
            code = self.process.exitcode
            raise ChildProcessError(f"the child ended (exit code {code})") from None

    def kill(self) -> None:
        """SIGKILL: no cleanup runs in the child, as in a crash."""
        self.process.kill()
        self.process.join(CHILD_BOUND)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *_: object) -> None:
        self.kill()
        self._messages.close()

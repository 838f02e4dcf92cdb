"""`RedisTokenStore` against a real `redis-server`: values, lock, expiry."""

from __future__ import annotations

import asyncio
import json
import random
import time
import traceback

import pytest

pytest.importorskip("redis", reason="the redis package is not installed")

from redis.asyncio import Redis

from examples.auth_server import AuthServer
from rx_auth import Tokens, TokenStore, TokenStoreError
from rx_auth.auth._redis_store import RedisTokenStore
from tests.store_children import Child, hold_redis_lock, save_redis_in_a_loop
from tests.store_support import (
    BOUND,
    FULL,
    OTHER,
    SECRET,
    UNREADABLE,
    all_started,
    clients,
)

# One redis-server for the session: see tests/redis_server.py.
pytest_plugins = ["tests.redis_server"]


# Round trip and protocol


@pytest.mark.parametrize("tokens", [FULL, Tokens("access-only")], ids=repr)
async def test_saved_tokens_load_back_equal(
    redis_client: Redis, redis_key: str, tokens: Tokens
) -> None:
    await RedisTokenStore(redis_client, redis_key).save(tokens)

    assert await RedisTokenStore(redis_client, redis_key).load() == tokens


async def test_a_client_that_decodes_responses_reads_the_same_tokens(
    redis_url: str, redis_client: Redis, redis_key: str
) -> None:
    await RedisTokenStore(redis_client, redis_key).save(FULL)

    async with Redis.from_url(redis_url, decode_responses=True) as decoding:
        assert await RedisTokenStore(decoding, redis_key).load() == FULL


async def test_a_missing_key_loads_as_no_tokens(
    redis_client: Redis, redis_key: str
) -> None:
    assert await RedisTokenStore(redis_client, redis_key).load() is None


async def test_clear_deletes_the_key_and_a_second_clear_is_harmless(
    redis_client: Redis, redis_key: str
) -> None:
    store = RedisTokenStore(redis_client, redis_key)
    await store.save(FULL)

    await store.clear()
    await store.clear()

    assert await redis_client.exists(redis_key) == 0
    assert await store.load() is None


async def test_the_value_is_json_with_a_format_version(
    redis_client: Redis, redis_key: str
) -> None:
    await RedisTokenStore(redis_client, redis_key).save(FULL)

    value = await redis_client.get(redis_key)
    assert value is not None
    stored = json.loads(value)
    assert stored["version"] == 1
    assert stored["tokens"]["refresh_token"] == "refresh-1"


async def test_the_store_satisfies_the_protocol_and_its_repr_shows_no_token(
    redis_client: Redis, redis_key: str
) -> None:
    store = RedisTokenStore(redis_client, redis_key, lock_timeout=5.0)
    await store.save(Tokens(SECRET, SECRET))

    assert isinstance(store, TokenStore)
    assert repr(store) == f"RedisTokenStore(key={redis_key!r}, lock_timeout=5.0)"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lock_timeout": 0}, "lock_timeout must be a positive number"),
        ({"wait_timeout": -1}, "wait_timeout must be a positive number"),
        ({"key": ""}, "key must be a non-empty string"),
    ],
)
async def test_bad_arguments_are_refused_naming_the_argument(
    redis_client: Redis, options: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"key": "k", **options}
    with pytest.raises(ValueError, match=message):
        RedisTokenStore(redis_client, **arguments)  # type: ignore[arg-type]


# Unreadable values


@pytest.mark.parametrize("content", UNREADABLE.values(), ids=UNREADABLE.keys())
async def test_an_unreadable_value_raises_an_error_naming_the_key_not_the_value(
    redis_client: Redis, redis_key: str, content: bytes
) -> None:
    await redis_client.set(redis_key, content)

    with pytest.raises(TokenStoreError) as caught:
        await RedisTokenStore(redis_client, redis_key).load()

    assert repr(redis_key) in str(caught.value)
    assert SECRET not in "".join(traceback.format_exception(caught.value))


async def test_save_refuses_to_overwrite_an_unreadable_value(
    redis_client: Redis, redis_key: str
) -> None:
    content = UNREADABLE["a newer version"]
    await redis_client.set(redis_key, content)

    with pytest.raises(TokenStoreError, match=r"refusing to overwrite.*clear\(\)"):
        await RedisTokenStore(redis_client, redis_key).save(FULL)

    assert await redis_client.get(redis_key) == content


async def test_clear_renames_an_unreadable_value_and_save_works_again(
    redis_client: Redis, redis_key: str
) -> None:
    content = UNREADABLE["not JSON"]
    await redis_client.set(redis_key, content)
    store = RedisTokenStore(redis_client, redis_key)

    await store.clear()
    await store.save(FULL)

    assert await redis_client.get(f"{redis_key}:corrupt") == content
    assert await store.load() == FULL


async def test_a_save_killed_at_any_moment_leaves_the_old_or_the_new_tokens(
    redis_url: str, redis_client: Redis, redis_key: str
) -> None:
    store = RedisTokenStore(redis_client, redis_key)
    await store.save(FULL)
    seen: list[Tokens | None] = []
    deadline = time.monotonic() + BOUND

    for _ in range(50):
        assert time.monotonic() < deadline, f"only {len(seen)} kills within {BOUND} s"
        pair = (OTHER, FULL)
        with Child(save_redis_in_a_loop, redis_url, redis_key, pair) as child:
            for _ in range(random.randint(1, 3)):
                await asyncio.to_thread(child.receive, BOUND)
            # A random pause picks where in the save the kill lands; no
            # outcome depends on it: every moment must leave whole tokens.
            await asyncio.sleep(random.uniform(0, 0.003))
            child.kill()
        seen.append(await store.load())

    assert set(seen) <= {FULL, OTHER}
    assert len(seen) == 50


async def test_a_save_cancelled_midway_finishes_before_the_cancel_is_raised(
    redis_client: Redis, redis_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A refresh's timeout may cancel it while it saves; the lock must not
    # pass on before the rotated tokens are stored.
    saving_began, go_on = asyncio.Event(), asyncio.Event()
    save = RedisTokenStore._save

    async def gated_save(store: RedisTokenStore, data: bytes) -> None:
        saving_began.set()
        await go_on.wait()
        await save(store, data)

    monkeypatch.setattr(RedisTokenStore, "_save", gated_save)
    store = RedisTokenStore(redis_client, redis_key)
    saving = asyncio.create_task(store.save(FULL))
    await asyncio.wait_for(saving_began.wait(), BOUND)

    saving.cancel()
    try:
        done, _ = await asyncio.wait([saving], timeout=0.2)
    finally:
        go_on.set()
    assert not done  # it waited for the save
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(saving, BOUND)
    assert await store.load() == FULL


# The lock


async def test_a_second_holder_waits_for_the_first(
    redis_client: Redis, redis_key: str
) -> None:
    async with RedisTokenStore(redis_client, redis_key).lock():
        other = RedisTokenStore(redis_client, redis_key, wait_timeout=0.1)
        with pytest.raises(
            TokenStoreError, match=f"could not take the lock '{redis_key}:lock'"
        ):
            async with other.lock():
                pass

    async with RedisTokenStore(redis_client, redis_key, wait_timeout=0.1).lock():
        pass
    assert await redis_client.exists(f"{redis_key}:lock") == 0


async def test_a_live_holder_keeps_the_lock_past_its_timeout(
    redis_client: Redis, redis_key: str
) -> None:
    holder = RedisTokenStore(redis_client, redis_key, lock_timeout=0.3)
    other = RedisTokenStore(redis_client, redis_key, wait_timeout=1.0)

    async with holder.lock():
        # The other waits more than three lock timeouts: only renewal can
        # keep it out that long.
        with pytest.raises(TokenStoreError, match="could not take the lock"):
            async with other.lock():
                pass

    async with other.lock():
        pass


async def test_a_lock_lost_before_release_is_logged_not_raised(
    redis_client: Redis, redis_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with RedisTokenStore(redis_client, redis_key).lock():
        await redis_client.delete(f"{redis_key}:lock")  # as if it had expired

    assert "expired before it was released" in caplog.text


async def test_when_the_refreshing_process_dies_one_survivor_refreshes_after_expiry(
    redis_url: str, redis_client: Redis, redis_key: str
) -> None:
    server = AuthServer()
    await RedisTokenStore(redis_client, redis_key).save(server.issue())

    def store() -> RedisTokenStore:
        return RedisTokenStore(redis_client, redis_key, lock_timeout=1.0)

    async with server.running() as base, clients(base, store, 3) as three:
        for client in three:  # each reads the store, and needs no refresh
            await client.http.get(f"{base}/api/user")
        with Child(hold_redis_lock, redis_url, redis_key, 1.0) as holder:
            assert await asyncio.to_thread(holder.receive, BOUND) == b"held"
            server.revoke_access_tokens()
            calls = [c.http.get(f"{base}/api/user") for c in three for _ in range(20)]
            pending = asyncio.gather(*calls, return_exceptions=True)
            await asyncio.wait_for(all_started(three), BOUND)

            holder.kill()
            killed_at = time.monotonic()
            left = await redis_client.pttl(f"{redis_key}:lock") / 1000
            assert server.counters.refresh_calls == 0
            assert left > 0  # the lock outlives its dead holder...
            results = await asyncio.wait_for(pending, BOUND)

    assert time.monotonic() - killed_at >= left - 0.05  # ...until it expires
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert server.counters.refresh_calls == 1
    assert server.counters.reused_refresh_tokens == 0

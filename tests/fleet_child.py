"""One process of a fleet that shares a token store: fires requests on a word.

    python -m tests.fleet_child BASE_URL STORE REQUESTS

`STORE` is `file:PATH` or `redis:URL#KEY`. The child builds its client,
prints `ready`, waits for `go` on stdin, fires `REQUESTS` concurrent GETs
at `BASE_URL/api/user`, prints one JSON line (`{"ok": n, "errors": [...]}`)
and exits. Every wait is bounded, so a child whose test has gone ends.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from rx_auth import (
    AiohttpBackend,
    AuthInterceptor,
    AuthService,
    FileTokenStore,
    HttpClient,
    JsonRefreshEndpoint,
    TokenStore,
)

BOUND = 20.0
# The first child up waits for the last to start, which can take a while.
START_BOUND = 60.0
USER = {"name": "Ada Lovelace", "id": 1815}


async def main(base: str, store_spec: str, requests: int) -> dict[str, Any]:
    async with opened(store_spec) as store, aiohttp.ClientSession() as session:
        auth = AuthService(JsonRefreshEndpoint(f"{base}/api/auth/refresh"), store)
        interceptor = AuthInterceptor(auth, allowed_origins=[base])
        client = HttpClient(AiohttpBackend(session), [interceptor])

        await wait_for_go()
        calls = [client.get(f"{base}/api/user") for _ in range(requests)]
        results = await asyncio.wait_for(
            asyncio.gather(*calls, return_exceptions=True), BOUND
        )

    errors = [f"{type(r).__name__}: {r}" for r in results if r != USER]
    return {"ok": len(results) - len(errors), "errors": errors[:5]}


@asynccontextmanager
async def opened(spec: str) -> AsyncIterator[TokenStore]:
    kind, _, where = spec.partition(":")
    if kind == "file":
        yield FileTokenStore(where)
        return
    from redis.asyncio import Redis

    from rx_auth import RedisTokenStore

    url, _, key = where.partition("#")
    async with Redis.from_url(url) as redis:
        yield RedisTokenStore(redis, key)


async def wait_for_go() -> None:
    """Say `ready`, then wait for the parent's `go` (all children start at once)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    print("ready", flush=True)
    word = await asyncio.wait_for(reader.readline(), START_BOUND)
    if word.strip() != b"go":
        raise SystemExit(f"expected go, got {word!r}")


if __name__ == "__main__":
    base, store_spec, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
    report = asyncio.run(main(base, store_spec, requests))
    print(json.dumps(report), flush=True)

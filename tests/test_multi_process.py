"""Eight processes, one expired token, one shared store: one refresh in all.

Each process is `tests/fleet_child.py`, with its own event loop, session,
`AuthService` and store object; only the file or the Redis key is shared.
They hit one real `AuthServer` that rotates refresh tokens and refuses a
used one, so a second refresh anywhere in the fleet would log a process out.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from examples.auth_server import AuthServer
from rx_auth import Tokens
from tests.fleet_child import opened
from tests.store_support import BOUND

# One redis-server for the session: see tests/redis_server.py.
pytest_plugins = ["tests.redis_server"]

FLEET = 8
REQUESTS = 100
# Eight interpreters starting at once on a busy machine can take a while.
START_BOUND = 60.0
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["file", "redis"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where the fleet keeps its tokens, as `tests/fleet_child.py` reads it."""
    if request.param == "file":
        yield f"file:{tmp_path / 'tokens.json'}"
        return

    redis = pytest.importorskip("redis", reason="the redis package is not installed")
    url: str = request.getfixturevalue("redis_url")
    key = f"rx_auth-test:{uuid.uuid4().hex}:tokens"
    yield f"redis:{url}#{key}"
    with redis.Redis.from_url(url) as client:
        client.delete(key, f"{key}:lock")


@pytest.mark.parametrize("known", [False, True], ids=["401", "known-expired"])
async def test_eight_processes_on_one_expired_token_share_one_refresh(
    store_spec: str, known: bool
) -> None:
    """`401`: only the server knows the token is dead, so every process
    learns it from 401s. `known-expired`: the stored `expires_at` has
    passed, so each process refreshes before sending (and sees no 401)."""
    server = AuthServer()
    expired = server.issue(expired=True)
    if known:
        expired = Tokens(expired.access_token, expired.refresh_token, expires_at=0.0)
    async with opened(store_spec) as store:
        await store.save(expired)

    async with server.running() as base, _fleet(base, store_spec) as children:
        everyone_ready = asyncio.gather(*(c.ready() for c in children))
        await asyncio.wait_for(everyone_ready, START_BOUND)
        for child in children:
            child.go()
        reports = await asyncio.wait_for(
            asyncio.gather(*(c.report() for c in children)), BOUND
        )

    async with opened(store_spec) as store:
        final = await store.load()
    assert [report["errors"] for report in reports] == [[]] * FLEET
    assert sum(report["ok"] for report in reports) == FLEET * REQUESTS
    assert server.counters.refresh_calls == 1
    assert server.counters.reused_refresh_tokens == 0
    assert server.counters.api_ok == FLEET * REQUESTS
    if known:
        assert server.counters.api_unauthorized == 0
    assert final is not None
    assert final != expired


class _Child:
    """A running `tests/fleet_child.py`, spoken to through its stdin and stdout."""

    def __init__(self, process: asyncio.subprocess.Process, stderr: BinaryIO) -> None:
        self.process = process
        self._stderr = stderr

    async def ready(self) -> None:
        await self._expect(b"ready")

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")

    async def report(self) -> dict[str, Any]:
        line = await self._line()
        try:
            report: dict[str, Any] = json.loads(line)
        except ValueError:
            raise AssertionError(self._describe(line)) from None
        return report

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await asyncio.wait_for(self.process.wait(), BOUND)

    async def _expect(self, word: bytes) -> None:
        line = await self._line()
        assert line.strip() == word, self._describe(line)

    async def _line(self) -> bytes:
        assert self.process.stdout is not None
        return await self.process.stdout.readline()

    def _describe(self, line: bytes) -> str:
        self._stderr.seek(0)
        errors = self._stderr.read().decode(errors="replace")[-2000:]
        return f"child {self.process.pid} said {line!r}; its stderr:\n{errors}"


@asynccontextmanager
async def _fleet(base: str, store_spec: str) -> AsyncIterator[list[_Child]]:
    """Start `FLEET` children; kill whichever still run when the block ends."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    async with AsyncExitStack() as stack:
        children: list[_Child] = []
        stack.push_async_callback(_stop_all, children)
        for _ in range(FLEET):
            stderr = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.fleet_child",
                base,
                store_spec,
                str(REQUESTS),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                cwd=ROOT,
                env=environment,
            )
            children.append(_Child(process, stderr))
        yield children


async def _stop_all(children: list[_Child]) -> None:
    await asyncio.gather(*(child.stop() for child in children))

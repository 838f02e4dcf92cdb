"""The benchmark server seen from the benchmarks: start it, steer it, stop it.

The server runs in a separate process (`benchmarks/server.py`), so that its
work never shares an event loop, or the interpreter lock, with the client
being measured.
"""

from __future__ import annotations

import selectors
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp

__all__ = ["ServerControl", "ServerStats", "TokenPair", "running_server", "server"]

_SCRIPT: Final = Path(__file__).with_name("server.py")
_START_BOUND: Final = 20.0  # seconds for the server to print its port
_STOP_BOUND: Final = 5.0  # seconds for it to stop before it is killed


@dataclass(frozen=True)
class TokenPair:
    """An access token and the refresh token that renews it, as issued."""

    access_token: str
    refresh_token: str


@dataclass(frozen=True)
class ServerStats:
    """The server's counters since its last reset."""

    refresh_calls: int
    reused: int
    ok: int
    unauthorized: int

    def __sub__(self, earlier: ServerStats) -> ServerStats:
        """What the server counted between `earlier` and this reading."""
        return ServerStats(
            self.refresh_calls - earlier.refresh_calls,
            self.reused - earlier.reused,
            self.ok - earlier.ok,
            self.unauthorized - earlier.unauthorized,
        )


@contextmanager
def running_server(*options: str) -> Iterator[str]:
    """Start `server.py` on a free port of 127.0.0.1; yields its base URL.

    The process is stopped on the way out, whatever happened inside.
    """
    process = subprocess.Popen(
        [sys.executable, str(_SCRIPT), *options],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = _read_port(process)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


def _read_port(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=_START_BOUND):
            raise RuntimeError(
                f"the benchmark server printed no port in {_START_BOUND} s"
            )
    line = process.stdout.readline().strip()
    if not line.isdigit():
        raise RuntimeError(
            f"the benchmark server should print its port, printed {line!r}"
            f" (exit code {process.poll()})"
        )
    return int(line)


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=_STOP_BOUND)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=_STOP_BOUND)
    if process.stdout is not None:
        process.stdout.close()


class ServerControl:
    """Talks to the server's control endpoints, on a session of its own.

    Its connections are not those of the clients being measured, so steering
    the server never takes a connection a benchmark is counting on.
    """

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base = base
        self.data_url = f"{base}/api/data"
        self.refresh_url = f"{base}/api/auth/refresh"
        self._session = session

    async def reset(self) -> None:
        """Forget every token, zero the counters, restore the default settings."""
        await self._post("/reset", {})

    async def configure(self, **settings: Any) -> dict[str, Any]:
        """Send `settings` to `/control`; see the server's `_control`."""
        return await self._post("/control", settings)

    async def issue(self, *, expired: bool = False, **settings: Any) -> TokenPair:
        """A fresh pair; with `expired`, every access token is refused from now."""
        answer = await self.configure(issue=True, expire_all=expired, **settings)
        tokens = answer["tokens"]
        return TokenPair(tokens["access_token"], tokens["refresh_token"])

    async def expire_all(self) -> None:
        """Refuse every access token issued so far."""
        await self.configure(expire_all=True)

    async def stats(self) -> ServerStats:
        async with self._session.get(f"{self.base}/stats") as response:
            response.raise_for_status()
            return ServerStats(**await response.json())

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self._session.post(f"{self.base}{path}", json=body) as response:
            response.raise_for_status()
            answer: dict[str, Any] = await response.json()
            return answer


@asynccontextmanager
async def server(base: str) -> AsyncIterator[ServerControl]:
    """A `ServerControl` for the server at `base`, reset and ready."""
    async with aiohttp.ClientSession() as session:
        control = ServerControl(base, session)
        await control.reset()
        yield control

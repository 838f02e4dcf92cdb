"""The API and token server the benchmarks talk to, run in a process of its own.

Run as a script (it imports nothing from this project, only aiohttp). It
listens on 127.0.0.1, prints the port it got on a line of its own once it
accepts connections, and stops on SIGTERM, SIGINT, or when the process that
started it is gone.

Endpoints:

- `GET /api/data`: 200 and a small JSON body for a current access token in
  `Authorization: Bearer <token>`, 401 otherwise.
- `POST /api/auth/refresh` with `{"refresh_token": ...}`: rotates the pair;
  a refresh token presented twice is refused with `400 invalid_grant`.
- `POST /control`: changes the settings and returns them, see `_control`.
- `GET /stats`: the counters since the last reset.
- `POST /reset`: forgets every token, zeroes the counters, default settings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from aiohttp import web

_DATA: Final = json.dumps({"items": [1, 2, 3], "ok": True}).encode()
_INVALID_TOKEN: Final = json.dumps({"error": "invalid_token"}).encode()
_INVALID_GRANT: Final = json.dumps({"error": "invalid_grant"}).encode()
_REFRESH_MODES: Final = ("rotate", "invalid_grant")
_ACCESS_TTL: Final = 3600


@dataclass
class Counters:
    """What the server answered since the last reset."""

    refresh_calls: int = 0
    reused: int = 0
    ok: int = 0
    unauthorized: int = 0


@dataclass
class Settings:
    """How refreshes are answered: after `refresh_delay` seconds, as `refresh_mode`.

    A delayed refresh answers early when `/control` is sent `{"release": true}`.
    """

    refresh_delay: float = 0.0
    refresh_mode: str = "rotate"


@dataclass
class TokenServer:
    """The tokens, the counters and the settings, behind the aiohttp handlers."""

    defaults: Settings
    settings: Settings = field(default_factory=Settings)
    counters: Counters = field(default_factory=Counters)
    access: dict[str, bool] = field(default_factory=dict)
    live_refresh: set[str] = field(default_factory=set)
    used_refresh: set[str] = field(default_factory=set)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def reset(self) -> None:
        self.settings = Settings(**asdict(self.defaults))
        self.counters = Counters()
        self.access.clear()
        self.live_refresh.clear()
        self.used_refresh.clear()
        self.released = asyncio.Event()

    def issue(self) -> dict[str, str]:
        access = "at-" + secrets.token_urlsafe(12)
        refresh = "rt-" + secrets.token_urlsafe(12)
        self.access[access] = True
        self.live_refresh.add(refresh)
        return {"access_token": access, "refresh_token": refresh}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/data", self._data)
        app.router.add_post("/api/auth/refresh", self._refresh)
        app.router.add_post("/control", self._control)
        app.router.add_get("/stats", self._stats)
        app.router.add_post("/reset", self._reset)
        return app

    async def _data(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme == "Bearer" and token in self.access:
            self.counters.ok += 1
            return _json_bytes(_DATA, 200)
        self.counters.unauthorized += 1
        return _json_bytes(_INVALID_TOKEN, 401)

    async def _refresh(self, request: web.Request) -> web.Response:
        self.counters.refresh_calls += 1
        body = await request.json()
        presented = body.get("refresh_token") if isinstance(body, dict) else None
        await self._hold_refresh()

        if self.settings.refresh_mode == "invalid_grant":
            return _json_bytes(_INVALID_GRANT, 400)
        if presented not in self.live_refresh:
            if presented in self.used_refresh:
                self.counters.reused += 1
            return _json_bytes(_INVALID_GRANT, 400)
        self.live_refresh.discard(presented)
        self.used_refresh.add(presented)
        pair = self.issue()
        return web.json_response(
            {**pair, "token_type": "Bearer", "expires_in": _ACCESS_TTL}
        )

    async def _hold_refresh(self) -> None:
        delay = self.settings.refresh_delay
        if delay > 0 and not self.released.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.released.wait(), delay)

    async def _control(self, request: web.Request) -> web.Response:
        """Apply, in this order: `release`, the settings, `issue`, `expire_all`.

        So `{"release": true, "refresh_delay": 0}` lets the held refreshes
        answer and holds no more, and `{"issue": true, "expire_all": true}`
        hands back a pair whose access token is already refused.
        """
        body: dict[str, Any] = await request.json()
        if body.get("release"):
            self.released.set()
        if "refresh_delay" in body:
            self.settings.refresh_delay = float(body["refresh_delay"])
            if self.settings.refresh_delay > 0:
                self.released = asyncio.Event()  # a new hold, for later refreshes
        if "refresh_mode" in body:
            if body["refresh_mode"] not in _REFRESH_MODES:
                raise web.HTTPBadRequest(text=f"refresh_mode in {_REFRESH_MODES}")
            self.settings.refresh_mode = body["refresh_mode"]
        answer: dict[str, Any] = {"settings": asdict(self.settings)}
        if body.get("issue"):
            answer["tokens"] = self.issue()
        if body.get("expire_all"):
            self.access.clear()
        return web.json_response(answer)

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(asdict(self.counters))

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response(asdict(self.counters))


def _json_bytes(body: bytes, status: int) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


async def serve(settings: Settings, port: int) -> None:
    """Serve until a signal arrives or the parent process goes away."""
    server = TokenServer(defaults=settings)
    server.reset()
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    print(runner.addresses[0][1], flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await _until_orphaned_or(stop)
    finally:
        await runner.cleanup()


async def _until_orphaned_or(stop: asyncio.Event) -> None:
    # A parent killed hard cannot stop us; noticing it gone keeps a
    # crashed benchmark run from leaving a server behind.
    parent = os.getppid()
    while not stop.is_set() and os.getppid() == parent:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--refresh-delay", type=float, default=0.0)
    parser.add_argument("--refresh-mode", choices=_REFRESH_MODES, default="rotate")
    args = parser.parse_args(argv)
    settings = Settings(args.refresh_delay, args.refresh_mode)
    asyncio.run(serve(settings, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

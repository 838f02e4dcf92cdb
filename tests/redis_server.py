"""A Redis for the tests: the one `REDIS_URL` names, or a private `redis-server`.

A private server listens on a free port of 127.0.0.1, keeps nothing on disk
(`--save "" --appendonly no`), runs in a temporary folder and stops with the
test session. Where neither is possible the Redis tests skip, saying why,
except under CI (`CI=true`), where they fail: a CI job that silently skips
them proves nothing.

The test modules request the fixtures below through
`pytest_plugins = ["tests.redis_server"]`, so that one server serves them all.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from redis.asyncio import Redis

# How long a private server may take to answer its first PING.
_START_BOUND = 10.0
_START_ATTEMPTS = 3  # a free port can be taken by someone else before use


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it under CI, where a skip would hide the gap."""
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"{reason}; CI is set, so the Redis tests may not be skipped")
    pytest.skip(reason)


@contextmanager
def redis_for_tests() -> Iterator[str]:
    """The URL of a Redis to test against, for as long as the block runs."""
    try:
        import redis  # noqa: F401
    except ImportError:
        unavailable("the redis package is not installed (pip install redis)")

    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    program = shutil.which("redis-server")
    if program is None:
        unavailable("no redis-server on PATH and REDIS_URL not set")
    with tempfile.TemporaryDirectory(prefix="rx_auth-redis-") as folder:
        process, port = _start(program, folder)
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """One Redis for the whole test session."""
    with redis_for_tests() as url:
        yield url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    """A client on the test's event loop."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def redis_key(redis_client: Redis) -> AsyncIterator[str]:
    """A key prefix of this test's own; every key under it is deleted after."""
    prefix = f"rx_auth-test:{uuid.uuid4().hex}"
    try:
        yield f"{prefix}:tokens"
    finally:
        keys = [key async for key in redis_client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis_client.delete(*keys)


def _start(program: str, folder: str) -> tuple[subprocess.Popen[bytes], int]:
    for _ in range(_START_ATTEMPTS):
        port = _free_port()
        options = {
            "--port": str(port),
            "--bind": "127.0.0.1",
            "--save": "",  # nothing on disk
            "--appendonly": "no",
            "--dir": folder,
            "--logfile": "redis.log",
        }
        process = subprocess.Popen(
            [program, *(part for pair in options.items() for part in pair)],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        if _answers_ping(process, port):
            return process, port
        _stop(process)
    unavailable(f"redis-server did not start; its log ends:\n{_log_tail(folder)}")


def _log_tail(folder: str) -> str:
    try:
        with open(os.path.join(folder, "redis.log"), errors="replace") as log:
            return "".join(log.readlines()[-5:])
    except OSError as error:
        return f"(no log: {error})"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers_ping(process: subprocess.Popen[bytes], port: int) -> bool:
    """Whether the server answers PING before it exits or the bound passes."""
    deadline = time.monotonic() + _START_BOUND
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return True
        except OSError:
            pass
        time.sleep(0.01)  # waiting for a process to start, not ordering a race
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5.0)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5.0)

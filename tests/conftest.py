"""Fixtures shared by the tests: servers on 127.0.0.1 and a client to call them."""

from collections.abc import AsyncIterator, Awaitable
from typing import Protocol

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from rx_auth import AiohttpBackend, HttpClient


class Serve(Protocol):
    """Starts a server on 127.0.0.1 that answers the given routes."""

    def __call__(self, *routes: web.RouteDef) -> Awaitable[TestServer]: ...


@pytest.fixture
def serve(aiohttp_server: AiohttpServer) -> Serve:
    async def start(*routes: web.RouteDef) -> TestServer:
        app = web.Application()
        app.add_routes(routes)
        return await aiohttp_server(app)

    return start


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def client(session: aiohttp.ClientSession) -> HttpClient:
    # Async only so that the backend is made on the test's running loop.
    return HttpClient(AiohttpBackend(session))

"""`AiohttpBackend` against real aiohttp servers on 127.0.0.1.

Where an order of events matters, the server and the test hand over with
`asyncio.Event`s, and every wait is bounded so that a bug fails, not hangs.
"""

import asyncio
import socket
import threading
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from reactivex import abc
from yarl import URL

from rx_auth import (
    AiohttpBackend,
    HttpClient,
    HttpDownloadProgressEvent,
    HttpErrorResponse,
    HttpHeaderResponse,
    HttpResponse,
    HttpSentEvent,
)

from .conftest import Serve

WAIT = 5.0


def url(server: TestServer, path: str) -> str:
    return str(server.make_url(path))


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"hi": True})


async def echo_json(request: web.Request) -> web.Response:
    return web.json_response(
        {"content_type": request.content_type, "body": await request.json()}
    )


async def echo_form(request: web.Request) -> web.Response:
    form = await request.post()
    return web.json_response(
        {
            "content_type": request.content_type,
            "body": {k: str(v) for k, v in form.items()},
        }
    )


async def echo_bytes(request: web.Request) -> web.Response:
    return web.Response(body=await request.read())


async def echo_query(request: web.Request) -> web.Response:
    return web.json_response(list(request.query.items()))


async def echo_headers(request: web.Request) -> web.Response:
    names = ("X-Trace", "Authorization")
    return web.json_response({name: request.headers.get(name) for name in names})


class Hanging:
    """A handler that answers only once released, and notes a cancellation."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return web.Response(text="released")


class Collector:
    """An observer that may be fed from any thread; `done` is set on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.values: list[Any] = []
        self.errors: list[Exception] = []
        self.threads: set[int] = set()
        self.done = asyncio.Event()
        self._loop = loop

    def on_next(self, value: Any) -> None:
        self.threads.add(threading.get_ident())
        self.values.append(value)

    def on_error(self, error: Exception) -> None:
        self.threads.add(threading.get_ident())
        self.errors.append(error)
        self._loop.call_soon_threadsafe(self.done.set)

    def on_completed(self) -> None:
        self.threads.add(threading.get_ident())
        self._loop.call_soon_threadsafe(self.done.set)

    def subscribe_to(self, client: HttpClient, target: str) -> abc.DisposableBase:
        return client.get(target, observe="events").subscribe(
            self.on_next, self.on_error, self.on_completed
        )


async def test_await_gives_the_parsed_json_body(
    serve: Serve, client: HttpClient
) -> None:
    server = await serve(web.get("/hello", hello))

    assert await client.get(url(server, "/hello")) == {"hi": True}


async def test_a_json_body_arrives_as_sent(serve: Serve, client: HttpClient) -> None:
    server = await serve(web.post("/echo", echo_json))
    sent = {"name": "Ada", "langs": ["en", "fr"], "age": 36}

    answer = await client.post(url(server, "/echo"), json=sent)

    assert answer == {"content_type": "application/json", "body": sent}


@pytest.mark.parametrize("wrap", [dict, MappingProxyType], ids=["dict", "read-only"])
async def test_form_fields_arrive_as_sent(
    serve: Serve, client: HttpClient, wrap: Any
) -> None:
    server = await serve(web.post("/echo", echo_form))
    fields = {"name": "Ada Lovelace", "note": "a&b=c"}

    answer = await client.post(url(server, "/echo"), data=wrap(fields))

    assert answer == {
        "content_type": "application/x-www-form-urlencoded",
        "body": fields,
    }


async def test_a_bytes_body_arrives_as_sent(serve: Serve, client: HttpClient) -> None:
    server = await serve(web.put("/echo", echo_bytes))
    sent = bytes(range(256))

    answer = await client.put(url(server, "/echo"), data=sent, response_type="bytes")

    assert answer == sent


async def test_params_are_added_to_the_query_already_in_the_url(
    serve: Serve, client: HttpClient
) -> None:
    server = await serve(web.get("/search", echo_query))
    params = [("tag", "b c"), ("tag", "a&z"), ("page", "2")]

    answer = await client.get(url(server, "/search?sort=new"), params=params)

    assert answer == [["sort", "new"], ["tag", "b c"], ["tag", "a&z"], ["page", "2"]]


async def test_headers_arrive_as_sent(serve: Serve, client: HttpClient) -> None:
    server = await serve(web.get("/headers", echo_headers))
    headers = {"x-trace": "abc-123", "Authorization": "Bearer t0ken"}

    answer = await client.get(url(server, "/headers"), headers=headers)

    assert answer == {"X-Trace": "abc-123", "Authorization": "Bearer t0ken"}


async def test_response_type_text_decodes_with_the_charset_sent(
    serve: Serve, client: HttpClient
) -> None:
    async def latin(request: web.Request) -> web.Response:
        return web.Response(
            body="café".encode("latin-1"),
            headers={"Content-Type": "text/plain; charset=latin-1"},
        )

    server = await serve(web.get("/text", latin))

    assert await client.get(url(server, "/text"), response_type="text") == "café"


async def test_response_type_bytes_gives_the_body_untouched(
    serve: Serve, client: HttpClient
) -> None:
    async def binary(request: web.Request) -> web.Response:
        return web.Response(body=b"\x00\xff{not json")

    server = await serve(web.get("/raw", binary))

    assert await client.get(url(server, "/raw"), response_type="bytes") == (
        b"\x00\xff{not json"
    )


@pytest.mark.parametrize("status", [200, 204])
async def test_an_empty_2xx_body_read_as_json_is_none(
    serve: Serve, client: HttpClient, status: int
) -> None:
    async def empty(request: web.Request) -> web.Response:
        return web.Response(status=status)

    server = await serve(web.get("/empty", empty))

    response = await client.get(url(server, "/empty"), observe="response")

    assert (response.status, response.body) == (status, None)


async def test_a_2xx_body_that_is_not_json_fails_keeping_status_and_text(
    serve: Serve, client: HttpClient
) -> None:
    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    server = await serve(web.get("/page", html))

    with pytest.raises(HttpErrorResponse) as caught:
        await client.get(url(server, "/page"))

    failure = caught.value
    assert (failure.status, failure.status_text) == (200, "OK")
    assert failure.error == "<html>maintenance</html>"
    assert isinstance(failure.__cause__, ValueError)
    assert "not valid json" in str(failure)


async def test_a_non_2xx_answer_fails_with_status_headers_url_and_json_error(
    serve: Serve, client: HttpClient
) -> None:
    async def invalid(request: web.Request) -> web.Response:
        return web.json_response(
            {"field": "email"},
            status=422,
            reason="Bad Email",
            headers={"X-Request-Id": "r-7"},
        )

    server = await serve(web.post("/users", invalid))
    target = url(server, "/users")

    with pytest.raises(HttpErrorResponse) as caught:
        await client.post(target, json={"email": "nope"})

    failure = caught.value
    assert (failure.status, failure.status_text) == (422, "Bad Email")
    assert failure.headers["x-request-id"] == "r-7"
    assert failure.url == target
    assert failure.error == {"field": "email"}
    assert failure.request.json == {"email": "nope"}


async def test_a_non_2xx_answer_with_a_text_body_keeps_the_text(
    serve: Serve, client: HttpClient
) -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=503, text="try later")

    server = await serve(web.get("/busy", broken))

    with pytest.raises(HttpErrorResponse) as caught:
        await client.get(url(server, "/busy"))

    assert (caught.value.status, caught.value.error) == (503, "try later")


async def test_a_session_that_raises_for_status_still_gives_the_error_body(
    serve: Serve,
) -> None:
    async def missing(request: web.Request) -> web.Response:
        return web.json_response({"detail": "no such user"}, status=404)

    server = await serve(web.get("/users/9", missing))

    async with aiohttp.ClientSession(raise_for_status=True) as session:
        client = HttpClient(AiohttpBackend(session))
        with pytest.raises(HttpErrorResponse) as caught:
            await client.get(url(server, "/users/9"))

    assert (caught.value.status, caught.value.error) == (
        404,
        {"detail": "no such user"},
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_a_refused_connection_fails_with_status_0_and_the_cause(
    client: HttpClient,
) -> None:
    with pytest.raises(HttpErrorResponse) as caught:
        await client.get(f"http://127.0.0.1:{_closed_port()}/")

    assert caught.value.status == 0
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)
    assert "ClientConnectorError" in str(caught.value)


async def test_the_backend_timeout_fails_with_status_0_caused_by_timeout_error(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    hanging = Hanging()
    server = await serve(web.get("/slow", hanging.handle))
    client = HttpClient(AiohttpBackend(session, timeout=0.1))

    try:
        with pytest.raises(HttpErrorResponse) as caught:
            await client.get(url(server, "/slow"))
    finally:
        hanging.release.set()

    assert hanging.started.is_set()
    assert caught.value.status == 0
    assert isinstance(caught.value.__cause__, TimeoutError)


async def test_disposing_mid_call_cancels_the_handler_on_the_server(
    serve: Serve, client: HttpClient
) -> None:
    hanging = Hanging()
    server = await serve(web.get("/slow", hanging.handle))
    collector = Collector(asyncio.get_running_loop())

    subscription = collector.subscribe_to(client, url(server, "/slow"))
    await asyncio.wait_for(hanging.started.wait(), WAIT)
    subscription.dispose()

    await asyncio.wait_for(hanging.cancelled.wait(), WAIT)
    assert [type(event) for event in collector.values] == [HttpSentEvent]
    assert collector.errors == []
    assert not collector.done.is_set()


async def test_cancelling_an_awaiting_task_cancels_the_handler_on_the_server(
    serve: Serve, client: HttpClient
) -> None:
    hanging = Hanging()
    server = await serve(web.get("/slow", hanging.handle))

    task = asyncio.ensure_future(client.get(url(server, "/slow")))
    await asyncio.wait_for(hanging.started.wait(), WAIT)
    task.cancel()

    await asyncio.wait_for(hanging.cancelled.wait(), WAIT)
    assert task.cancelled()


async def test_observe_events_reports_each_chunk_while_the_body_streams(
    serve: Serve, client: HttpClient
) -> None:
    parts = [b"first", b"-second", b"-third"]
    marks = [len(b"".join(parts[: i + 1])) for i in range(len(parts))]
    reached = [asyncio.Event() for _ in parts]

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        # Each part is written only once the client has reported the one
        # before, so the parts cannot reach it as one read.
        for part, seen in zip(parts, reached, strict=True):
            await response.write(part)
            await asyncio.wait_for(seen.wait(), WAIT)
        await response.write_eof()
        return response

    server = await serve(web.get("/stream", stream))
    collector = Collector(asyncio.get_running_loop())

    def on_next(event: Any) -> None:
        collector.on_next(event)
        if isinstance(event, HttpDownloadProgressEvent):
            for mark, seen in zip(marks, reached, strict=True):
                if event.loaded >= mark:
                    seen.set()

    client.get(
        url(server, "/stream"), observe="events", response_type="text"
    ).subscribe(on_next, collector.on_error, collector.on_completed)
    await asyncio.wait_for(collector.done.wait(), WAIT)

    sent, header, *progress, response = collector.values
    assert collector.errors == []
    assert isinstance(sent, HttpSentEvent)
    assert isinstance(header, HttpHeaderResponse)
    assert header.status == 200
    assert len(progress) >= len(parts)
    assert all(isinstance(event, HttpDownloadProgressEvent) for event in progress)
    loaded = [event.loaded for event in progress]
    assert loaded == sorted(set(loaded))
    assert loaded[-1] == marks[-1]
    assert {event.total for event in progress} == {None}
    assert b"".join(event.chunk for event in progress) == b"".join(parts)
    assert isinstance(response, HttpResponse)
    assert response.body == "first-second-third"


async def test_a_subscription_from_another_thread_is_served_on_the_loop(
    serve: Serve, client: HttpClient
) -> None:
    server = await serve(web.get("/hello", hello))
    loop = asyncio.get_running_loop()
    collector = Collector(loop)

    def subscribe() -> int:
        collector.subscribe_to(client, url(server, "/hello"))
        return threading.get_ident()

    subscriber = await loop.run_in_executor(None, subscribe)
    await asyncio.wait_for(collector.done.wait(), WAIT)

    assert subscriber != threading.get_ident()
    assert collector.errors == []
    assert collector.values[-1].body == {"hi": True}
    assert collector.threads == {threading.get_ident()}


@pytest.mark.parametrize("subscribe_in_thread", [False, True])
async def test_disposing_from_another_thread_cancels_the_handler_on_the_server(
    serve: Serve, client: HttpClient, subscribe_in_thread: bool
) -> None:
    hanging = Hanging()
    server = await serve(web.get("/slow", hanging.handle))
    loop = asyncio.get_running_loop()
    collector = Collector(loop)

    def subscribe() -> abc.DisposableBase:
        return collector.subscribe_to(client, url(server, "/slow"))

    if subscribe_in_thread:
        subscription = await loop.run_in_executor(None, subscribe)
    else:
        subscription = subscribe()
    await asyncio.wait_for(hanging.started.wait(), WAIT)
    await loop.run_in_executor(None, subscription.dispose)

    await asyncio.wait_for(hanging.cancelled.wait(), WAIT)
    assert collector.errors == []
    assert not collector.done.is_set()


async def test_a_redirect_to_another_origin_drops_the_authorization_header(
    serve: Serve, client: HttpClient
) -> None:
    other = await serve(web.get("/landing", echo_headers))

    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound(url(other, "/landing"))

    server = await serve(web.get("/away", away))
    headers = {"Authorization": "Bearer t0ken", "X-Trace": "abc"}

    response = await client.get(
        url(server, "/away"), headers=headers, observe="response"
    )

    assert response.url == url(other, "/landing")
    assert response.body == {"X-Trace": "abc", "Authorization": None}


async def test_a_redirect_within_the_origin_keeps_the_authorization_header(
    serve: Serve, client: HttpClient
) -> None:
    async def here(request: web.Request) -> web.Response:
        raise web.HTTPFound("/landing")

    server = await serve(web.get("/here", here), web.get("/landing", echo_headers))
    headers = {"Authorization": "Bearer t0ken", "X-Trace": "abc"}

    response = await client.get(
        url(server, "/here"), headers=headers, observe="response"
    )

    assert response.url == url(server, "/landing")
    assert response.body == {"X-Trace": "abc", "Authorization": "Bearer t0ken"}


@pytest.mark.parametrize("seconds", [0, -1.5])
async def test_a_timeout_that_is_not_positive_raises(
    session: aiohttp.ClientSession, seconds: float
) -> None:
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        AiohttpBackend(session, timeout=seconds)


async def _open_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()


def test_a_backend_made_outside_a_loop_needs_the_loop_named() -> None:
    loop = asyncio.new_event_loop()
    try:
        session = loop.run_until_complete(_open_session())
        with pytest.raises(
            ValueError, match="needs the event loop its session runs on"
        ):
            AiohttpBackend(session)
        assert AiohttpBackend(session, loop=loop).loop is loop
        loop.run_until_complete(session.close())
    finally:
        loop.close()


@pytest.fixture
def server_on_a_thread() -> Iterator[URL]:
    """A server with its own loop on a thread, for tests with no loop running."""

    async def missing(request: web.Request) -> web.Response:
        return web.json_response({"detail": "gone"}, status=410)

    app = web.Application()
    app.add_routes([web.get("/hello", hello), web.get("/gone", missing)])
    server = TestServer(app, host="127.0.0.1")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start_server(), loop).result(WAIT)
        yield server.make_url("/")
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(WAIT)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WAIT)
        loop.close()


def test_in_thread_serves_synchronous_code_that_blocks_on_run(
    server_on_a_thread: URL,
) -> None:
    with AiohttpBackend.in_thread(timeout=WAIT) as backend:
        client = HttpClient(backend)

        assert client.get(str(server_on_a_thread / "hello")).run() == {"hi": True}
        with pytest.raises(HttpErrorResponse) as caught:
            client.get(str(server_on_a_thread / "gone")).run()

    assert (caught.value.status, caught.value.error) == (410, {"detail": "gone"})


async def _current_thread() -> threading.Thread:
    return threading.current_thread()


def test_leaving_in_thread_stops_its_loop_and_thread() -> None:
    with AiohttpBackend.in_thread() as backend:
        loop = backend.loop
        future = asyncio.run_coroutine_threadsafe(_current_thread(), loop)
        thread = future.result(WAIT)
        assert thread is not threading.current_thread()
        assert thread.is_alive()

    assert not thread.is_alive()
    assert loop.is_closed()


def test_subscribing_after_in_thread_has_closed_fails_with_an_error() -> None:
    with AiohttpBackend.in_thread() as backend:
        client = HttpClient(backend)
    errors: list[Exception] = []

    client.get(f"http://127.0.0.1:{_closed_port()}/").subscribe(on_error=errors.append)

    [error] = errors
    assert isinstance(error, RuntimeError)
    assert "closed" in str(error)

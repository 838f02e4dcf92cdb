"""`AiohttpBackend`: the handler at the end of every chain, over aiohttp."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, final

import aiohttp
from reactivex import Observable, abc

from ._direct import Call, DirectObservable
from ._events import (
    HttpDownloadProgressEvent,
    HttpErrorResponse,
    HttpEvent,
    HttpHeaderResponse,
    HttpResponse,
    HttpSentEvent,
    no_response,
)
from ._request import HttpRequest

__all__ = ["AiohttpBackend"]

# What "no response arrived" looks like: the call fails with status 0.
_NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


@final
class AiohttpBackend:
    """Sends requests with an `aiohttp.ClientSession`, one call per subscription.

    The observable it returns may be subscribed, and disposed, from any
    thread: the call itself always runs on the session's event loop, and
    events are delivered on that loop's thread.

    ```python
    async with aiohttp.ClientSession() as session:
        client = HttpClient(AiohttpBackend(session, timeout=10))
        user = await client.get("https://api.example.com/user")
    ```

    `timeout` bounds each call in seconds (connect, send and the whole
    body); when it runs out the call fails with `HttpErrorResponse` of
    status 0 whose `__cause__` is the `TimeoutError`. `loop` is the loop
    the session runs on; it defaults to the running loop, so a backend
    made outside any loop needs it (`AiohttpBackend.in_thread` does that
    for synchronous programs).
    """

    __slots__ = ("_chunk_size", "_loop", "_options", "_session")

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout: float | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        chunk_size: int = 64 * 1024,
    ) -> None:
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise ValueError(
                    "AiohttpBackend needs the event loop its session runs on:"
                    " create the backend inside that loop, or pass loop="
                ) from None
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be a positive number, got {timeout!r}")
        self._session = session
        self._loop = loop
        # A session made with raise_for_status=True would turn a 404 into a
        # ClientResponseError, which reads as no response (status 0) here.
        self._options: dict[str, Any] = {"raise_for_status": False}
        if timeout is not None:
            self._options["timeout"] = aiohttp.ClientTimeout(total=timeout)
        self._chunk_size = chunk_size

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def handle(self, request: HttpRequest) -> Observable[HttpEvent]:
        return _AiohttpCall(self, request)

    @classmethod
    @contextmanager
    def in_thread(
        cls, *, timeout: float | None = None, **session_options: Any
    ) -> Iterator[AiohttpBackend]:
        """A backend whose event loop runs on a thread of its own.

        For programs without an event loop: subscribe from any thread, or
        block on a result with `run()`. Leaving the block closes the session
        and stops the thread.

        ```python
        with AiohttpBackend.in_thread(timeout=10) as backend:
            client = HttpClient(backend)
            user = client.get("https://api.example.com/user").run()
        ```

        `session_options` are passed to `aiohttp.ClientSession`.
        """
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=loop.run_forever, name="rx_auth-aiohttp", daemon=True
        )
        thread.start()
        session: aiohttp.ClientSession | None = None
        try:
            session = asyncio.run_coroutine_threadsafe(
                _open_session(session_options), loop
            ).result()
            yield cls(session, timeout=timeout, loop=loop)
        finally:
            if session is not None:
                asyncio.run_coroutine_threadsafe(session.close(), loop).result()
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

    async def _send(
        self, request: HttpRequest, observer: abc.ObserverBase[HttpEvent]
    ) -> None:
        observer.on_next(HttpSentEvent(request))
        try:
            async with self._session.request(
                request.method,
                request.url,
                params=request.params or None,
                headers=request.headers,
                json=request.json,
                data=request.data,
                **self._options,
            ) as response:
                if request.report_progress:
                    raw = await self._read_reporting(request, response, observer)
                else:
                    raw = await response.read()
        except _NETWORK_ERRORS as cause:
            observer.on_error(no_response(request, cause))
            return
        except Exception as error:  # a body aiohttp cannot send, and the like
            observer.on_error(error)
            return

        # Built, not raised: a raised error would carry a traceback, and with
        # it this frame and the whole response, for as long as anyone holds
        # the error (a request waiting for a refresh holds its 401).
        try:
            result = _to_result(request, response, raw)
        except Exception as error:
            observer.on_error(error)
            return
        if isinstance(result, HttpErrorResponse):
            observer.on_error(result)
        else:
            observer.on_next(result)
            observer.on_completed()

    async def _read_reporting(
        self,
        request: HttpRequest,
        response: aiohttp.ClientResponse,
        observer: abc.ObserverBase[HttpEvent],
    ) -> bytes:
        observer.on_next(
            HttpHeaderResponse(
                response.status,
                response.reason or "",
                str(response.url),
                response.headers,
            )
        )
        body = bytearray()
        async for chunk in response.content.iter_chunked(self._chunk_size):
            body += chunk
            observer.on_next(
                HttpDownloadProgressEvent(len(body), response.content_length, chunk)
            )
        return bytes(body)


@final
class _AiohttpCall(DirectObservable[HttpEvent]):
    """One call, made when subscribed and cancelled when disposed."""

    def __init__(self, backend: AiohttpBackend, request: HttpRequest) -> None:
        super().__init__()
        self._backend = backend
        self._request = request

    def _subscribe_core(
        self,
        observer: abc.ObserverBase[HttpEvent],
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        loop = self._backend.loop
        call = self._backend._send(self._request, observer)
        if _running_loop() is loop:
            task = loop.create_task(call)
            return Call(partial(_cancel, loop, task))
        try:
            future = asyncio.run_coroutine_threadsafe(call, loop)
        except RuntimeError:  # the loop is closed: the call will never run
            call.close()
            raise
        # Cancelling this future cancels the task on its own loop, safely
        # from any thread.
        return Call(future.cancel)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _cancel(loop: asyncio.AbstractEventLoop, task: asyncio.Task[None]) -> None:
    if _running_loop() is loop:
        task.cancel()
    elif not loop.is_closed():
        loop.call_soon_threadsafe(task.cancel)


async def _open_session(options: dict[str, Any]) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(**options)


def _to_result(
    request: HttpRequest, response: aiohttp.ClientResponse, raw: bytes
) -> HttpResponse[Any] | HttpErrorResponse:
    """The parsed 2xx response, or the `HttpErrorResponse` to fail with."""
    status_text = response.reason or ""
    url = str(response.url)
    if not 200 <= response.status < 300:
        return HttpErrorResponse(
            request,
            status=response.status,
            status_text=status_text,
            url=url,
            headers=response.headers,
            error=_error_body(response, raw),
        )
    try:
        body = _parse_body(request, response, raw)
    except (ValueError, LookupError) as cause:
        # As Angular does: a 2xx whose body cannot be read as asked is a
        # failure that keeps the status and the text that came back.
        failure = HttpErrorResponse(
            request,
            status=response.status,
            status_text=status_text,
            url=url,
            headers=response.headers,
            error=raw.decode("utf-8", "replace"),
            reason=f"the {response.status} body is not valid {request.response_type}",
        )
        failure.__cause__ = cause
        return failure
    return HttpResponse(response.status, status_text, url, response.headers, body)


def _parse_body(
    request: HttpRequest, response: aiohttp.ClientResponse, raw: bytes
) -> Any:
    if request.response_type == "bytes":
        return raw
    text = raw.decode(_encoding(response))
    if request.response_type == "text":
        return text
    return json.loads(text) if text.strip() else None


def _error_body(response: aiohttp.ClientResponse, raw: bytes) -> Any:
    if not raw:
        return None
    try:
        text = raw.decode(_encoding(response))
    except (UnicodeDecodeError, LookupError):
        return raw
    if "json" in response.content_type:
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _encoding(response: aiohttp.ClientResponse) -> str:
    return response.charset or "utf-8"

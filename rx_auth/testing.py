"""A backend for tests: requests wait until the test answers them.

In the spirit of Angular's `HttpTestingController`. Everything happens on the
caller's thread at the moment the test calls `flush` or `error`, so a test
can step a flow by hand, alone or under `reactivex.testing.TestScheduler`:

```python
backend = HttpTestingBackend()
client = HttpClient(backend, interceptors=[auth])
results = []
client.get("https://api.example.com/user").subscribe(results.append)

backend.expect_one("https://api.example.com/user").flush({"name": "Ada"})
assert results == [{"name": "Ada"}]
backend.verify()
```
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any, final

from multidict import CIMultiDict, CIMultiDictProxy
from reactivex import Observable, abc
from reactivex.disposable import Disposable

from .http import (
    HttpDownloadProgressEvent,
    HttpErrorResponse,
    HttpEvent,
    HttpHeaderResponse,
    HttpRequest,
    HttpResponse,
    HttpSentEvent,
)
from .http._events import no_response

__all__ = ["HttpTestingBackend", "TestRequest"]

_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@final
class TestRequest:
    """A request the code under test sent, waiting for the test to answer."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        backend: HttpTestingBackend,
        request: HttpRequest,
        observer: abc.ObserverBase[HttpEvent],
    ) -> None:
        self.request = request
        self.cancelled = False
        self.answered = False
        self._backend = backend
        self._observer = observer

    def flush(
        self,
        body: Any = None,
        *,
        status: int = 200,
        status_text: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer with `body`; a status outside 2xx fails the request.

        The body reaches the caller as a server's would for the request's
        `response_type`: as it is for `"json"`; for `"text"` and `"bytes"`,
        a value that is not already text or bytes is sent as JSON.
        """
        observer = self._take()
        text = status_text if status_text is not None else _REASONS.get(status, "")
        frozen = CIMultiDictProxy(CIMultiDict(headers or {}))
        url = self.request.url
        if not 200 <= status < 300:
            failure = HttpErrorResponse(
                self.request,
                status=status,
                status_text=text,
                headers=frozen,
                error=body,
            )
            observer.on_error(failure)
            return
        if self.request.report_progress:
            observer.on_next(HttpHeaderResponse(status, text, url, frozen))
            if isinstance(body, bytes) and body:
                observer.on_next(HttpDownloadProgressEvent(len(body), len(body), body))
        content = _as_response_type(body, self.request.response_type)
        observer.on_next(HttpResponse(status, text, url, frozen, content))
        observer.on_completed()

    def error(self, error: Exception | None = None) -> None:
        """Fail as a network failure does: `HttpErrorResponse` of status 0.

        `error` becomes its `__cause__`, as a real connection error would.
        """
        observer = self._take()
        cause = error if error is not None else ConnectionResetError("reset by test")
        observer.on_error(no_response(self.request, cause))

    def _take(self) -> abc.ObserverBase[HttpEvent]:
        if self.cancelled:
            raise AssertionError(
                f"{self.request!r} was cancelled; it cannot be answered"
            )
        if self.answered:
            raise AssertionError(f"{self.request!r} was already answered")
        self.answered = True
        self._backend._forget(self)
        return self._observer

    def __repr__(self) -> str:
        return f"<TestRequest {self.request!r}>"


@final
class HttpTestingBackend:
    """An `HttpHandler` that holds each request until the test answers it.

    `expect_one` finds the one pending request for a URL, `match` takes all
    that fit, and `verify` fails if any request is still waiting. Disposing
    a subscription marks its request `cancelled` and takes it off the list.
    `requests` keeps every request ever sent, answered or not, in order.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[TestRequest] = []
        self.requests: list[HttpRequest] = []

    def handle(self, request: HttpRequest) -> Observable[HttpEvent]:
        def subscribe(
            observer: abc.ObserverBase[HttpEvent],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            pending = TestRequest(self, request, observer)
            with self._lock:
                self._pending.append(pending)
                self.requests.append(request)
            observer.on_next(HttpSentEvent(request))
            return Disposable(lambda: self._cancel(pending))

        return Observable(subscribe)

    @property
    def pending(self) -> list[TestRequest]:
        """The requests waiting for an answer, oldest first."""
        with self._lock:
            return list(self._pending)

    def match(
        self,
        url: str | None = None,
        method: str | None = None,
        *,
        where: Callable[[HttpRequest], bool] | None = None,
    ) -> list[TestRequest]:
        """Every pending request that fits, oldest first.

        `url` is compared with the URL, with or without its params.
        """
        return [
            pending
            for pending in self.pending
            if _fits(pending.request, url, method, where)
        ]

    def expect_one(self, url: str, method: str | None = None) -> TestRequest:
        """The one pending request for `url` (and `method`); fail otherwise."""
        found = self.match(url, method)
        if len(found) != 1:
            wanted = f"{method or 'any method'} {url}"
            raise AssertionError(
                f"expected one pending request for {wanted}, found {len(found)};"
                f" pending: {self._describe()}"
            )
        return found[0]

    def expect_none(self, url: str, method: str | None = None) -> None:
        """Fail if any request for `url` (and `method`) is pending."""
        found = self.match(url, method)
        if found:
            raise AssertionError(
                f"expected no pending request for {url}, found {len(found)}"
            )

    def verify(self) -> None:
        """Fail if any request is still waiting for an answer."""
        if self.pending:
            raise AssertionError(f"requests left unanswered: {self._describe()}")

    def _forget(self, pending: TestRequest) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._pending.remove(pending)

    def _cancel(self, pending: TestRequest) -> None:
        if not pending.answered:
            pending.cancelled = True
            self._forget(pending)

    def _describe(self) -> str:
        names = [f"{p.request.method} {p.request.url}" for p in self.pending]
        return ", ".join(names) or "none"


def _fits(
    request: HttpRequest,
    url: str | None,
    method: str | None,
    where: Callable[[HttpRequest], bool] | None,
) -> bool:
    if url is not None and url not in (request.url, request.url_with_params):
        return False
    if method is not None and method.upper() != request.method:
        return False
    return where is None or where(request)


def _as_response_type(body: Any, response_type: str) -> Any:
    if response_type == "text" and not isinstance(body, str):
        return body.decode() if isinstance(body, bytes) else json.dumps(body)
    if response_type == "bytes" and not isinstance(body, bytes):
        text = body if isinstance(body, str) else json.dumps(body)
        return text.encode()
    return body

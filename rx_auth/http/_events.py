"""What a request observable emits, and the error it fails with.

A backend emits, in order: one `HttpSentEvent` when the call goes out; then,
for a request made with `report_progress=True`, one `HttpHeaderResponse` when
the status line and headers arrive and an `HttpDownloadProgressEvent` per
chunk of the body; last, one `HttpResponse` with the parsed body. A non-2xx
answer, or no answer at all, ends the observable with `HttpErrorResponse`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias, TypeVar

from multidict import CIMultiDict, CIMultiDictProxy

from ._request import HttpRequest

__all__ = [
    "HttpDownloadProgressEvent",
    "HttpErrorResponse",
    "HttpEvent",
    "HttpHeaderResponse",
    "HttpResponse",
    "HttpSentEvent",
]

T = TypeVar("T")


def _no_headers() -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict())


@dataclass(frozen=True, slots=True)
class HttpSentEvent:
    """The request went out (or, in a test backend, was taken by the test)."""

    request: HttpRequest = field(repr=False)


@dataclass(frozen=True, slots=True)
class HttpHeaderResponse:
    """The status line and headers arrived; the body has not been read yet."""

    status: int
    status_text: str
    url: str
    headers: CIMultiDictProxy[str] = field(default_factory=_no_headers, repr=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class HttpDownloadProgressEvent:
    """One more chunk of the body arrived: `loaded` bytes so far of `total`.

    `total` is the Content-Length, or `None` when the server did not say.
    """

    loaded: int
    total: int | None
    chunk: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class HttpResponse(Generic[T]):
    """A complete 2xx response with its body parsed as the request asked."""

    status: int
    status_text: str
    url: str
    headers: CIMultiDictProxy[str] = field(default_factory=_no_headers, repr=False)
    body: T = field(default=None, repr=False)  # type: ignore[assignment]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


HttpEvent: TypeAlias = (
    HttpSentEvent | HttpHeaderResponse | HttpDownloadProgressEvent | HttpResponse[Any]
)


class HttpErrorResponse(Exception):
    """The call failed: a non-2xx answer, or no usable answer at all.

    `status` is 0 when no response arrived (connection refused or reset, a
    timeout, a cancelled DNS lookup); the underlying exception is then the
    `__cause__`. `error` holds the parsed error body: JSON when the server
    sent JSON, otherwise text, or `None` when there was no body.

    The message names the method, URL and status, never a header value.
    """

    def __init__(
        self,
        request: HttpRequest,
        *,
        status: int,
        status_text: str = "",
        url: str | None = None,
        headers: CIMultiDictProxy[str] | None = None,
        error: Any = None,
        reason: str | None = None,
    ) -> None:
        self.request = request
        self.status = status
        self.status_text = status_text
        self.url = url if url is not None else request.url
        self.headers = headers if headers is not None else _no_headers()
        self.error = error
        if reason is None:
            reason = f"{status} {status_text}".rstrip()
        super().__init__(f"Http failure for {request.method} {self.url}: {reason}")

    @property
    def ok(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"HttpErrorResponse(status={self.status}, url={self.url!r})"


def no_response(request: HttpRequest, cause: BaseException) -> HttpErrorResponse:
    """The failure for a call that got no usable response: status 0."""
    failure = HttpErrorResponse(
        request, status=0, reason=f"{type(cause).__name__}: {cause}"
    )
    failure.__cause__ = cause
    return failure

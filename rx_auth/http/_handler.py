"""`HttpHandler`, `HttpInterceptor`, and the chain that joins them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeAlias, final, runtime_checkable

from reactivex import Observable

from ._events import HttpEvent
from ._request import HttpRequest

__all__ = [
    "HttpHandler",
    "HttpInterceptor",
    "HttpInterceptorFn",
    "InterceptorLike",
    "chain_interceptors",
]


@runtime_checkable
class HttpHandler(Protocol):
    """Turns a request into a cold observable of `HttpEvent`.

    Nothing is sent until the observable is subscribed; each subscription
    sends the request once, and disposing it cancels the call.
    """

    def handle(self, request: HttpRequest) -> Observable[HttpEvent]: ...


@runtime_checkable
class HttpInterceptor(Protocol):
    """Sees every request on its way out and every event on its way back.

    `intercept` may change the request (by cloning it), hand it on with
    `next.handle(request)`, and transform what comes back with operators;
    it may also answer without calling `next` at all, or call it again to
    retry.
    """

    def intercept(
        self, request: HttpRequest, next: HttpHandler
    ) -> Observable[HttpEvent]: ...


HttpInterceptorFn: TypeAlias = Callable[
    [HttpRequest, HttpHandler], Observable[HttpEvent]
]
"""An interceptor written as a plain function of `(request, next)`."""

InterceptorLike: TypeAlias = HttpInterceptor | HttpInterceptorFn


@final
class _InterceptorHandler:
    """The handler that one interceptor sees as the rest of the chain."""

    __slots__ = ("_intercept", "_next")

    def __init__(self, interceptor: InterceptorLike, next: HttpHandler) -> None:
        if isinstance(interceptor, HttpInterceptor):
            self._intercept: HttpInterceptorFn = interceptor.intercept
        elif callable(interceptor):
            self._intercept = interceptor
        else:
            raise TypeError(
                "an interceptor must have an intercept(request, next) method or be"
                f" a function of (request, next), got {type(interceptor).__name__}"
            )
        self._next = next

    def handle(self, request: HttpRequest) -> Observable[HttpEvent]:
        return self._intercept(request, self._next)


def chain_interceptors(
    backend: HttpHandler, interceptors: Sequence[InterceptorLike]
) -> HttpHandler:
    """Join `interceptors` in front of `backend`, the first one outermost.

    With `[a, b, c]`, a request passes a, then b, then c, then the backend;
    events come back through c, then b, then a. So an interceptor sees the
    changes made by those before it, and its operators apply to what those
    after it return: put logging first to log what the caller gets, or
    after auth to log each retry and the refresh call as well.
    """
    handler = backend
    # Built from the backend outwards, so that the first interceptor wraps
    # all the others; built once, so a request pays no set-up cost.
    for interceptor in reversed(interceptors):
        handler = _InterceptorHandler(interceptor, handler)
    return handler

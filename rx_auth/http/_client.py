"""`HttpClient`: builds requests and sends them through the interceptor chain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeAlias, final, overload

from reactivex import Observable, abc

from ._context import HttpContext
from ._direct import DirectObservable
from ._events import HttpEvent, HttpResponse
from ._handler import HttpHandler, InterceptorLike, chain_interceptors
from ._request import FormData, HeadersLike, HttpRequest, ParamsLike, ResponseType

__all__ = ["HttpClient", "Observe"]

Observe: TypeAlias = Literal["body", "response", "events"]


@final
class HttpClient:
    """Makes requests as cold observables that pass through interceptors.

    ```python
    client = HttpClient(backend, interceptors=[logging, auth, retry])
    user = await client.get("https://api.example.com/user")
    client.get(url).subscribe(on_next=show, on_error=report)
    ```

    `interceptors[0]` is outermost: it sees each request first and each
    response last (see `chain_interceptors`). Nothing is sent until the
    observable is subscribed; every subscription runs the whole chain
    again, so `retry()` resends with whatever the interceptors attach now.

    `observe` picks what the observable emits: `"body"` (the default) the
    parsed body of the response; `"response"` the whole `HttpResponse`;
    `"events"` every `HttpEvent`, including the headers and each chunk of
    the body as it arrives.
    """

    __slots__ = ("_handler",)

    def __init__(
        self, backend: HttpHandler, interceptors: Sequence[InterceptorLike] = ()
    ) -> None:
        self._handler = chain_interceptors(backend, interceptors)

    @overload
    def request(
        self,
        method: str,
        url: str,
        *,
        headers: HeadersLike | None = ...,
        params: ParamsLike | None = ...,
        json: Any = ...,
        data: bytes | FormData | None = ...,
        context: HttpContext | None = ...,
        observe: Literal["body"] = ...,
        response_type: ResponseType = ...,
    ) -> Observable[Any]: ...

    @overload
    def request(
        self,
        method: str,
        url: str,
        *,
        headers: HeadersLike | None = ...,
        params: ParamsLike | None = ...,
        json: Any = ...,
        data: bytes | FormData | None = ...,
        context: HttpContext | None = ...,
        observe: Literal["response"],
        response_type: ResponseType = ...,
    ) -> Observable[HttpResponse[Any]]: ...

    @overload
    def request(
        self,
        method: str,
        url: str,
        *,
        headers: HeadersLike | None = ...,
        params: ParamsLike | None = ...,
        json: Any = ...,
        data: bytes | FormData | None = ...,
        context: HttpContext | None = ...,
        observe: Literal["events"],
        response_type: ResponseType = ...,
    ) -> Observable[HttpEvent]: ...

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: HeadersLike | None = None,
        params: ParamsLike | None = None,
        json: Any = None,
        data: bytes | FormData | None = None,
        context: HttpContext | None = None,
        observe: Observe = "body",
        response_type: ResponseType = "json",
    ) -> Observable[Any]:
        """A cold observable of one `method` request to `url`."""
        request = HttpRequest(
            method,
            url,
            headers=headers,
            params=params,
            json=json,
            data=data,
            context=context,
            response_type=response_type,
            report_progress=observe == "events",
        )
        return self.send(request, observe=observe)

    def send(
        self, request: HttpRequest, *, observe: Observe = "body"
    ) -> Observable[Any]:
        """A cold observable of `request` as built, through the chain."""
        if observe not in ("body", "response", "events"):
            raise ValueError(
                f'observe must be "body", "response" or "events", got {observe!r}'
            )
        return _Exchange(self._handler, request, observe)

    def get(self, url: str, **options: Any) -> Observable[Any]:
        return self.request("GET", url, **options)

    def head(self, url: str, **options: Any) -> Observable[Any]:
        return self.request("HEAD", url, **options)

    def delete(self, url: str, **options: Any) -> Observable[Any]:
        return self.request("DELETE", url, **options)

    def post(self, url: str, **options: Any) -> Observable[Any]:
        return self.request("POST", url, **options)

    def put(self, url: str, **options: Any) -> Observable[Any]:
        return self.request("PUT", url, **options)

    def patch(self, url: str, **options: Any) -> Observable[Any]:
        return self.request("PATCH", url, **options)


@final
class _Exchange(DirectObservable[Any]):
    """Runs the chain for one request at each subscription.

    The chain is entered inside `subscribe`, not when the observable is
    made, so that a resubscription (a `retry`, say) passes through every
    interceptor again.
    """

    def __init__(self, handler: HttpHandler, request: HttpRequest, observe: Observe):
        super().__init__()
        self._handler = handler
        self._request = request
        self._observe = observe

    def _subscribe_core(
        self,
        observer: abc.ObserverBase[Any],
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        events = self._handler.handle(self._request)
        if self._observe == "events":
            return events.subscribe(observer, scheduler=scheduler)
        pick = _Pick(observer, take_body=self._observe == "body")
        return events.subscribe(pick, scheduler=scheduler)


@final
class _Pick(abc.ObserverBase[HttpEvent]):
    """Passes on the response, or its body, and nothing of the other events."""

    __slots__ = ("_downstream", "_take_body")

    def __init__(self, downstream: abc.ObserverBase[Any], *, take_body: bool) -> None:
        self._downstream = downstream
        self._take_body = take_body

    def on_next(self, event: HttpEvent) -> None:
        if isinstance(event, HttpResponse):
            self._downstream.on_next(event.body if self._take_body else event)

    def on_error(self, error: Exception) -> None:
        self._downstream.on_error(error)

    def on_completed(self) -> None:
        self._downstream.on_completed()

"""The lesson's interceptor and service, ported line by line: BROKEN ON PURPOSE.

This is the baseline the demo measures `rx_auth` against. It is what you
get by translating the lesson's TypeScript into Python and stopping there:
a boolean flag, a `BehaviorSubject` holding an access token or `None`, and
the waiters' `filter(not None)`, `take(1)`, `switch_map` into the retry.
When a few requests fail together and nothing else goes wrong, it
refreshes once, as the lesson promises. It breaks in three ways, each
shown by `python3 tasks.py demo --scenario ...`:

- `refresh-fails`: the refresh error resets the flag and reaches only the
  request that started the refresh. The subject still holds `None`, so
  every queued request waits forever.
- `cancel-first`: the refresh runs inside the first caller's subscription.
  When that caller goes away, the refresh call is cancelled with it, the
  flag stays `True`, and every later 401 queues behind a refresh that no
  longer exists.
- `late-401`: nothing records which token a request was sent with, so a
  401 that arrives after the refresh has finished starts another one.
  (With `--requests 1000` this happens without any slow endpoint: the
  requests that wait for a free connection get their 401s late.)

Do not use this code; use `rx_auth.AuthService` and `AuthInterceptor`.

Two things here are not in the lesson. The refresh call goes to `next`,
the rest of the chain, rather than through the whole client, so that it
skips this interceptor (as an Angular app does with a context flag) and the
demo's recorder still sees it. And the service emits the same events as
`rx_auth` (`events`), so that one narrator can tell both stories; the
events only observe, they change nothing.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import reactivex as rx
from reactivex import Observable
from reactivex import operators as ops
from reactivex.subject import BehaviorSubject, Subject

from rx_auth import (
    AuthEvent,
    HttpErrorResponse,
    HttpEvent,
    HttpHandler,
    HttpRequest,
    HttpResponse,
    RefreshFailed,
    RefreshStarted,
    RefreshSucceeded,
    RequestQueued,
    RequestRetried,
    Tokens,
)

__all__ = ["NaiveAuthInterceptor", "NaiveAuthService"]


class NaiveAuthService:
    """The lesson's `AuthService`: a flag, a subject, and `handle_401_error`."""

    def __init__(self, refresh_url: str, tokens: Tokens) -> None:
        self.refresh_url = refresh_url
        self.access_token: str | None = tokens.access_token
        self.refresh_token: str | None = tokens.refresh_token
        self.refresh_token_in_progress = False
        self.refresh_token_subject = BehaviorSubject[str | None](None)
        self.events = Subject[AuthEvent]()

    def add_token_to_request(self, request: HttpRequest) -> HttpRequest:
        if self.access_token is None:
            return request
        return request.clone(
            set_headers={"Authorization": f"Bearer {self.access_token}"}
        )

    def handle_401_error(
        self, request: HttpRequest, next: HttpHandler
    ) -> Observable[HttpEvent]:
        if not self.refresh_token_in_progress:
            # The first request: start the refresh.
            self.refresh_token_in_progress = True
            self.refresh_token_subject.on_next(None)
            self.events.on_next(
                RefreshStarted(time.monotonic(), request.id, "unauthorized")
            )
            return self._post_refresh(next).pipe(
                ops.do_action(self._refresh_succeeded),
                ops.catch(self._refresh_failed),
                ops.switch_map(partial(self._retry, request, next)),
            )

        # A refresh is in flight: queue this request behind it.
        self.events.on_next(RequestQueued(time.monotonic(), request.id))
        return self.refresh_token_subject.pipe(
            ops.filter(_is_token),
            ops.take(1),
            ops.switch_map(partial(self._retry, request, next)),
        )

    def _post_refresh(self, next: HttpHandler) -> Observable[Any]:
        """The lesson's `this.http.post('/api/auth/refresh', ...)`: the body."""
        request = HttpRequest(
            "POST", self.refresh_url, json={"refresh_token": self.refresh_token}
        )
        return next.handle(request).pipe(ops.filter(_is_response), ops.map(_body_of))

    def _refresh_succeeded(self, tokens: Any) -> None:
        self.refresh_token_in_progress = False
        self._store_new_tokens(tokens)
        self.events.on_next(RefreshSucceeded(time.monotonic()))
        self.refresh_token_subject.on_next(self.access_token)

    def _refresh_failed(self, error: Exception, _: Observable[Any]) -> Observable[Any]:
        self.refresh_token_in_progress = False
        self.events.on_next(
            RefreshFailed(time.monotonic(), type(error).__name__, str(error))
        )
        # Only the request that started the refresh hears of this.
        return rx.throw(error)

    def _retry(
        self, request: HttpRequest, next: HttpHandler, _: object
    ) -> Observable[HttpEvent]:
        self.events.on_next(RequestRetried(time.monotonic(), request.id))
        return next.handle(self.add_token_to_request(request))

    def _store_new_tokens(self, tokens: Any) -> None:
        self.access_token = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]


class NaiveAuthInterceptor:
    """The lesson's `AuthInterceptor`: add the token, hand 401s to the service."""

    def __init__(self, auth_service: NaiveAuthService) -> None:
        self.auth_service = auth_service

    def intercept(
        self, request: HttpRequest, next: HttpHandler
    ) -> Observable[HttpEvent]:
        authorized_request = self.auth_service.add_token_to_request(request)

        def on_error(
            error: Exception, _: Observable[HttpEvent]
        ) -> Observable[HttpEvent]:
            if isinstance(error, HttpErrorResponse) and error.status == 401:
                return self.auth_service.handle_401_error(authorized_request, next)
            return rx.throw(error)

        return next.handle(authorized_request).pipe(ops.catch(on_error))


def _is_token(token: str | None) -> bool:
    return token is not None


def _is_response(event: HttpEvent) -> bool:
    return isinstance(event, HttpResponse)


def _body_of(event: HttpEvent) -> Any:
    assert isinstance(event, HttpResponse)
    return event.body

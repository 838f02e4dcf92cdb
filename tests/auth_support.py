"""A client with auth over `HttpTestingBackend`, stepped by hand in tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reactivex import Observable, abc
from reactivex.testing import TestScheduler

from rx_auth import (
    AuthEvent,
    AuthInterceptor,
    AuthService,
    HttpClient,
    HttpContext,
    HttpEvent,
    HttpHandler,
    HttpRequest,
    MemoryTokenStore,
    OAuth2RefreshTokenGrant,
    Tokens,
)
from rx_auth.http import HttpInterceptorFn
from rx_auth.testing import HttpTestingBackend, TestRequest

API = "https://api.example.com"
USER = f"{API}/user"
TOKEN_URL = "https://auth.example.com/token"

OLD = Tokens("old-access", "refresh-1")
NEW_BODY = {"access_token": "new-access", "refresh_token": "refresh-2"}


@dataclass
class Outcome:
    """What one subscription received."""

    values: list[Any] = field(default_factory=list)
    error: Exception | None = None
    completed: bool = False

    @property
    def settled(self) -> bool:
        return self.completed or self.error is not None


class Harness:
    """Client, service, store, backend and virtual clock, wired together."""

    def __init__(
        self,
        tokens: Tokens | None = OLD,
        *,
        skew: float = 30.0,
        refresh_timeout: float = 10.0,
        inner: list[HttpInterceptorFn] | None = None,
    ) -> None:
        self.scheduler = TestScheduler()
        self.backend = HttpTestingBackend()
        self.store = MemoryTokenStore(tokens)
        self.auth = AuthService(
            OAuth2RefreshTokenGrant(TOKEN_URL, clock=self.now),
            self.store,
            skew=skew,
            refresh_timeout=refresh_timeout,
            clock=self.now,
            scheduler=self.scheduler,
        )
        self.interceptor = AuthInterceptor(self.auth, allowed_origins=[API])
        self.client = HttpClient(self.backend, [self.interceptor, *(inner or [])])
        self.events: list[AuthEvent] = []
        self.auth.events.subscribe(self.events.append)

    def now(self) -> float:
        return float(self.scheduler.clock)

    def get(self, url: str = USER, context: HttpContext | None = None) -> Outcome:
        outcome = Outcome()
        self.subscribe(self.client.get(url, context=context), outcome)
        return outcome

    def subscribe(
        self, source: Observable[Any], outcome: Outcome
    ) -> abc.DisposableBase:
        def on_error(error: Exception) -> None:
            outcome.error = error

        def on_completed() -> None:
            outcome.completed = True

        return source.subscribe(outcome.values.append, on_error, on_completed)

    def pending(self, url: str = USER) -> list[TestRequest]:
        return self.backend.match(url)

    def refresh_calls(self) -> list[HttpRequest]:
        return [r for r in self.backend.requests if r.url == TOKEN_URL]

    def sent_to(self, url: str = USER) -> list[HttpRequest]:
        return [r for r in self.backend.requests if r.url == url]

    def answer_401(self, url: str = USER) -> int:
        waiting = self.pending(url)
        for request in waiting:
            request.flush({"error": "expired"}, status=401)
        return len(waiting)

    def answer_ok(self, url: str = USER) -> int:
        waiting = self.pending(url)
        for request in waiting:
            auth = request.request.headers.get("Authorization", "")
            request.flush({"seen": auth})
        return len(waiting)

    def refresh_request(self) -> TestRequest:
        return self.backend.expect_one(TOKEN_URL, "POST")


def recording(seen: list[HttpRequest]) -> HttpInterceptorFn:
    """An interceptor that records every request it sees, then passes it on."""

    def intercept(request: HttpRequest, next: HttpHandler) -> Observable[HttpEvent]:
        seen.append(request)
        return next.handle(request)

    return intercept

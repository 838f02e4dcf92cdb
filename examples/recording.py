"""What the race demo observes, and the interceptor that observes the wire.

A run of the demo is told as one ordered list of observations: the
`AuthEvent`s the auth service emits, what `Recorder` sees each call do on
its way to the server and back, and what each caller finally got. The
narration and the timeline are both pure functions of that list, so they
say what happened, not what was meant to happen.

Every observation carries `at`, a `time.monotonic()` reading, like the
events of `rx_auth`. None carries a token: `TokenLabels` turns each
`Authorization` header into a short label such as `"token #2"`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Final, TypeAlias, final

import reactivex as rx
from reactivex import Observable, abc
from reactivex.disposable import Disposable
from yarl import URL

from rx_auth import (
    AuthEvent,
    HttpErrorResponse,
    HttpEvent,
    HttpHandler,
    HttpRequest,
    HttpResponse,
)

__all__ = [
    "REFRESH_LANE",
    "Answered",
    "Began",
    "Done",
    "Dropped",
    "Failed",
    "Left",
    "Observation",
    "Recorder",
    "Sent",
    "StillWaiting",
    "TokenLabels",
]


REFRESH_LANE: Final = "refresh"
"""The name of the lane, in narration and timeline, where refreshes are told."""


@dataclass(frozen=True, slots=True)
class Began:
    """A caller subscribed to a request; `label` names its lane."""

    at: float
    request_id: int
    label: str


@dataclass(frozen=True, slots=True)
class Sent:
    """A call went to the backend: a request, a retry, or a refresh call."""

    at: float
    request_id: int
    method: str
    path: str
    token: str | None  # a label such as "token #1", never the token
    refresh_call: bool


@dataclass(frozen=True, slots=True)
class Answered:
    """The answer to a call arrived; `status` is 0 when none could."""

    at: float
    request_id: int
    status: int
    refresh_call: bool


@dataclass(frozen=True, slots=True)
class Dropped:
    """A call was cancelled before its answer arrived."""

    at: float
    request_id: int
    refresh_call: bool


@dataclass(frozen=True, slots=True)
class Done:
    """The caller got its answer."""

    at: float
    request_id: int


@dataclass(frozen=True, slots=True)
class Failed:
    """The caller got an error: `error` is its class name."""

    at: float
    request_id: int
    error: str
    message: str


@dataclass(frozen=True, slots=True)
class Left:
    """The caller disposed of its subscription before it got an answer."""

    at: float
    request_id: int


@dataclass(frozen=True, slots=True)
class StillWaiting:
    """The caller had no answer when the demo stopped waiting for one."""

    at: float
    request_id: int
    waited: float


Observation: TypeAlias = (
    AuthEvent | Began | Sent | Answered | Dropped | Done | Failed | Left | StillWaiting
)


@final
class TokenLabels:
    """Names each access token by the order it was first seen in: "token #1".

    The header values are kept only as dictionary keys, in memory, so a
    label can be printed where the token never may.
    """

    def __init__(self) -> None:
        self._labels: dict[str, str] = {}

    def of(self, request: HttpRequest) -> str | None:
        header = request.headers.get("Authorization")
        if header is None:
            return None
        if header not in self._labels:
            self._labels[header] = f"token #{len(self._labels) + 1}"
        return self._labels[header]


@final
class Recorder:
    """An interceptor that notes every call it passes on, and its answer.

    Placed after the auth interceptor, it sees what goes over the wire: each
    first attempt, each retry, and the refresh call, which auth sends
    through the rest of the chain.
    """

    def __init__(
        self,
        note: Callable[[Observation], None],
        *,
        refresh_path: str,
        labels: TokenLabels | None = None,
    ) -> None:
        self._note = note
        self._refresh_path = refresh_path
        self._labels = labels or TokenLabels()

    def intercept(
        self, request: HttpRequest, next: HttpHandler
    ) -> Observable[HttpEvent]:
        return rx.create(partial(self._watch, request, next))

    def _watch(
        self,
        request: HttpRequest,
        next: HttpHandler,
        observer: abc.ObserverBase[HttpEvent],
        scheduler: abc.SchedulerBase | None,
    ) -> abc.DisposableBase:
        path = URL(request.url).path
        call = _Call(self._note, request.id, refresh_call=path == self._refresh_path)
        call.sent(request.method, path, self._labels.of(request))

        def on_next(event: HttpEvent) -> None:
            if isinstance(event, HttpResponse):
                call.answered(event.status)
            observer.on_next(event)

        def on_error(error: Exception) -> None:
            status = error.status if isinstance(error, HttpErrorResponse) else 0
            call.answered(status)
            observer.on_error(error)

        subscription = next.handle(request).subscribe(
            on_next, on_error, observer.on_completed, scheduler=scheduler
        )
        return Disposable(partial(_dispose, call, subscription))


class _Call:
    """One call through `Recorder`: answered once, or dropped."""

    __slots__ = ("_note", "_over", "refresh_call", "request_id")

    def __init__(
        self,
        note: Callable[[Observation], None],
        request_id: int,
        *,
        refresh_call: bool,
    ) -> None:
        self._note = note
        self._over = False
        self.request_id = request_id
        self.refresh_call = refresh_call

    def sent(self, method: str, path: str, token: str | None) -> None:
        now = time.monotonic()
        self._note(Sent(now, self.request_id, method, path, token, self.refresh_call))

    def answered(self, status: int) -> None:
        if not self._over:
            self._over = True
            self._note(
                Answered(time.monotonic(), self.request_id, status, self.refresh_call)
            )

    def dropped(self) -> None:
        if not self._over:
            self._over = True
            self._note(Dropped(time.monotonic(), self.request_id, self.refresh_call))


def _dispose(call: _Call, subscription: abc.DisposableBase) -> None:
    # `create` disposes on completion too; only an unanswered call is dropped.
    call.dropped()
    subscription.dispose()

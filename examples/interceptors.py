"""Three interceptors built from reactivex operators: logging, timeout, retry.

Each is a small class with `intercept(request, next)`, so they chain with one
another and with any other interceptor:

```python
scheduler = AsyncIOScheduler(asyncio.get_running_loop())
client = HttpClient(
    AiohttpBackend(session),
    interceptors=[
        LoggingInterceptor(),
        TimeoutInterceptor(10, scheduler=scheduler),
        RetryInterceptor(max_attempts=3, base_delay=0.5, scheduler=scheduler),
    ],
)
```

The order is part of the design, because `interceptors[0]` is outermost. In
the chain above the log has one line per call, as the caller saw it, and the
timeout bounds the whole call, waits between retries included. With
`[LoggingInterceptor(), RetryInterceptor(...), TimeoutInterceptor(...)]`
each attempt gets a deadline of its own instead, and an attempt that runs
out of time is retried like any other lost connection.

`scheduler` is where the timers run: the scheduler of the event loop the
backend delivers on (`AsyncIOScheduler(loop)`), or a `TestScheduler` for
tests in virtual time. Without one, a timer runs on the scheduler the
subscription was made with, and on reactivex's timer threads if there is
none.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final, TypeAlias, final

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops

from rx_auth.http import (
    HttpErrorResponse,
    HttpEvent,
    HttpHandler,
    HttpRequest,
    HttpResponse,
)

__all__ = [
    "IDEMPOTENT_METHODS",
    "LoggingInterceptor",
    "RequestTimeoutError",
    "RetryInterceptor",
    "TimeoutInterceptor",
]

IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""The methods that may be sent twice with the effect of once (RFC 9110 9.2.2)."""

Clock: TypeAlias = Callable[[], float]


# Logging


@final
class LoggingInterceptor:
    """Logs each exchange: method, URL, status and time taken.

    ```python
    client = HttpClient(backend, interceptors=[LoggingInterceptor()])
    # INFO examples.interceptors: GET https://api.example.com/user -> 200 in 42 ms
    ```

    A response is logged at INFO, a failure at WARNING with its status (0
    when no response arrived), and a call given up before its end at DEBUG.
    Header values never reach the log: an `Authorization` or `Cookie` value
    is a secret. Neither do a request's `params`, where API keys often
    travel; a query string written into the URL itself is logged as written.

    `clock` returns seconds; a test passes its own to get exact times.
    """

    __slots__ = ("_clock", "_logger")

    def __init__(
        self, logger: logging.Logger | None = None, *, clock: Clock = time.monotonic
    ) -> None:
        self._logger = logger if logger is not None else logging.getLogger(__name__)
        self._clock = clock

    def intercept(
        self, request: HttpRequest, next: HttpHandler
    ) -> Observable[HttpEvent]:
        # Deferred, so that each subscription (a retry further out, say)
        # starts its own clock.
        def log_one_exchange(_: abc.SchedulerBase) -> Observable[HttpEvent]:
            exchange = _LoggedExchange(self._logger, request, self._clock)
            return next.handle(request).pipe(
                ops.do_action(
                    on_next=exchange.on_event,
                    on_error=exchange.on_error,
                    on_completed=exchange.on_completed,
                ),
                ops.finally_action(exchange.on_end),
            )

        return reactivex.defer(log_one_exchange)


@final
class _LoggedExchange:
    """One exchange on its way: when it started and whether it has ended."""

    __slots__ = ("_clock", "_ended", "_logger", "_request", "_started")

    def __init__(
        self, logger: logging.Logger, request: HttpRequest, clock: Clock
    ) -> None:
        self._logger = logger
        self._request = request
        self._clock = clock
        self._started = clock()
        self._ended = False

    def on_event(self, event: HttpEvent) -> None:
        if isinstance(event, HttpResponse):
            self._ended = True
            self._logger.info(
                "%s %s -> %s in %.0f ms",
                self._request.method,
                self._request.url,
                event.status,
                self._elapsed_ms(),
            )

    def on_error(self, error: Exception) -> None:
        self._ended = True
        # Only the status and a type name: an exception's text is not ours to
        # vouch for, and could quote what it should not.
        self._logger.warning(
            "%s %s failed with status %s (%s) after %.0f ms",
            self._request.method,
            self._request.url,
            _status_of(error),
            _reason_of(error),
            self._elapsed_ms(),
        )

    def on_completed(self) -> None:
        self._ended = True

    def on_end(self) -> None:
        if not self._ended:
            self._logger.debug(
                "%s %s cancelled after %.0f ms",
                self._request.method,
                self._request.url,
                self._elapsed_ms(),
            )

    def _elapsed_ms(self) -> float:
        return (self._clock() - self._started) * 1000


def _status_of(error: Exception) -> str:
    return str(error.status) if isinstance(error, HttpErrorResponse) else "none"


def _reason_of(error: Exception) -> str:
    if isinstance(error, HttpErrorResponse):
        cause = error.__cause__
        if error.status == 0 and cause is not None:
            return type(cause).__name__
        return error.status_text or "no reason given"
    return type(error).__name__


# Timeout


class RequestTimeoutError(TimeoutError):
    """No complete response arrived within `seconds`.

    It is the `__cause__` of the `HttpErrorResponse` that a timed-out
    request fails with (see `TimeoutInterceptor`).
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete response within {seconds:g} s")
        self.seconds = seconds


@final
class TimeoutInterceptor:
    """Fails a request that has not completed within `seconds` of being sent.

    ```python
    client = HttpClient(backend, interceptors=[TimeoutInterceptor(10)])
    client.get(url).subscribe(on_error=report)
    # report(HttpErrorResponse): status 0, __cause__ RequestTimeoutError(10 s)
    ```

    The deadline counts from the subscription to the final response, so a
    slow trickle of body chunks runs out of time as surely as silence does.
    When it passes, the call is disposed, which cancels it in the backend.

    The request fails with `HttpErrorResponse` of status 0, whose
    `__cause__` is a `RequestTimeoutError`. Status 0 is how the backend
    already reports a call with no response (its own `timeout=`, a reset
    connection), so whatever handles those handles a timeout too: a
    caller's error branch, `LoggingInterceptor`, `RetryInterceptor` placed
    outside this one. The cause, a `TimeoutError` that carries the limit,
    tells a timeout apart where that matters. (`ops.timeout` alone would
    fail with a bare `Exception("Timeout")`, and restart its clock at each
    event.)
    """

    __slots__ = ("_scheduler", "_seconds")

    def __init__(
        self, seconds: float, *, scheduler: abc.SchedulerBase | None = None
    ) -> None:
        if not seconds > 0:
            raise ValueError(f"seconds must be a positive number, got {seconds!r}")
        self._seconds = seconds
        self._scheduler = scheduler

    def intercept(
        self, request: HttpRequest, next: HttpHandler
    ) -> Observable[HttpEvent]:
        def fail(_: int) -> Observable[HttpEvent]:
            return reactivex.throw(_timed_out(request, self._seconds))

        # The timer is cold like the request: each subscription has its own
        # deadline, and completing or disposing the call cancels the timer.
        deadline = reactivex.timer(self._seconds, scheduler=self._scheduler).pipe(
            ops.flat_map(fail)
        )
        return next.handle(request).pipe(ops.take_until(deadline))


def _timed_out(request: HttpRequest, seconds: float) -> HttpErrorResponse:
    cause = RequestTimeoutError(seconds)
    failure = HttpErrorResponse(request, status=0, reason=str(cause))
    failure.__cause__ = cause
    return failure


# Retry


@final
class RetryInterceptor:
    """Sends an idempotent request again after a 5xx or a lost connection.

    ```python
    retry = RetryInterceptor(max_attempts=3, base_delay=1, factor=2)
    client = HttpClient(backend, interceptors=[retry])
    ```

    Each attempt that fails waits longer than the one before: `base_delay`
    seconds, then `base_delay * factor`, then `base_delay * factor**2`, and
    so on, never more than `max_delay` if given. The delays are exact, with
    no jitter, which suits one client; many clients retrying one server
    together would want some. A GET answered 503, 503, then 200:

    ```text
    seconds      0       1       2       3
    attempt 1    s-X
    attempt 2            s-X
    attempt 3                            s-r|
    caller       s-------s---------------s-r|

    s: HttpSentEvent   X: 503   r: HttpResponse 200
    ```

    Had attempt 3 failed too, its error would have reached the caller.

    Only methods in `IDEMPOTENT_METHODS` are retried (a POST that timed out
    may have been carried out), and only after a 5xx or status 0 (no
    response at all); a 4xx would come back the same. Each attempt calls
    `next.handle(request)` again when it goes out, so the interceptors
    behind this one run again: an auth interceptor attaches the token it
    holds by then.
    """

    __slots__ = ("_base_delay", "_factor", "_max_attempts", "_max_delay", "_scheduler")

    def __init__(
        self,
        *,
        max_attempts: int = 3,
        base_delay: float = 0.5,
        factor: float = 2.0,
        max_delay: float | None = None,
        scheduler: abc.SchedulerBase | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be 1 or more, got {max_attempts!r}")
        if base_delay < 0:
            raise ValueError(f"base_delay must not be negative, got {base_delay!r}")
        if factor < 1:
            raise ValueError(f"factor must be 1 or more, got {factor!r}")
        if max_delay is not None and max_delay < 0:
            raise ValueError(f"max_delay must not be negative, got {max_delay!r}")
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._factor = factor
        self._max_delay = max_delay
        self._scheduler = scheduler

    def intercept(
        self, request: HttpRequest, next: HttpHandler
    ) -> Observable[HttpEvent]:
        if request.method not in IDEMPOTENT_METHODS:
            return next.handle(request)
        return self._attempt(request, next, number=1)

    def delay_after(self, attempt: int) -> float:
        """The seconds to wait after failed attempt number `attempt` (from 1)."""
        delay: float = self._base_delay * self._factor ** (attempt - 1)
        return delay if self._max_delay is None else min(delay, self._max_delay)

    def _attempt(
        self, request: HttpRequest, next: HttpHandler, number: int
    ) -> Observable[HttpEvent]:
        def retry_or_give_up(
            error: Exception, _: Observable[HttpEvent]
        ) -> Observable[HttpEvent]:
            if number >= self._max_attempts or not _is_transient(error):
                return reactivex.throw(error)
            return self._after_wait(request, next, number)

        return next.handle(request).pipe(ops.catch(retry_or_give_up))

    def _after_wait(
        self, request: HttpRequest, next: HttpHandler, failed: int
    ) -> Observable[HttpEvent]:
        def send_again(_: int) -> Observable[HttpEvent]:
            return self._attempt(request, next, failed + 1)

        wait = reactivex.timer(self.delay_after(failed), scheduler=self._scheduler)
        return wait.pipe(ops.flat_map(send_again))


def _is_transient(error: Exception) -> bool:
    """A failure that the same request may not meet again."""
    if not isinstance(error, HttpErrorResponse):
        return False
    return error.status == 0 or 500 <= error.status < 600

"""The example interceptors, alone and chained.

First in virtual time, each step taken by hand with `HttpTestingBackend` and
a `TestScheduler`; then against a real aiohttp server; last, the demo script
run as a user runs it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import reactivex
from aiohttp import web
from pytest_aiohttp import AiohttpServer
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.testing import TestScheduler

from examples.interceptors import (
    LoggingInterceptor,
    RequestTimeoutError,
    RetryInterceptor,
    TimeoutInterceptor,
)
from rx_auth import (
    AiohttpBackend,
    HttpClient,
    HttpDownloadProgressEvent,
    HttpErrorResponse,
    HttpEvent,
    HttpHandler,
    HttpInterceptor,
    HttpInterceptorFn,
    HttpRequest,
)
from rx_auth.testing import HttpTestingBackend

ROOT = Path(__file__).resolve().parents[1]
URL = "https://api.example.com/items"
LOGGER = "examples.interceptors"

InterceptorLike = HttpInterceptor | HttpInterceptorFn


# Helpers


@dataclass
class Received:
    """What one subscriber saw."""

    values: list[Any] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)
    completed: bool = False

    def complete(self) -> None:
        self.completed = True

    @property
    def error(self) -> Exception:
        assert len(self.errors) == 1, f"expected one error, got {self.errors}"
        return self.errors[0]


def watch(observable: Observable[Any]) -> tuple[Received, abc.DisposableBase]:
    received = Received()
    subscription = observable.subscribe(
        received.values.append, received.errors.append, received.complete
    )
    return received, subscription


def virtual_clock(scheduler: TestScheduler) -> Callable[[], float]:
    def now() -> float:
        return float(scheduler.clock)

    return now


@dataclass
class SendTimes:
    """An innermost interceptor that notes when each request really goes out."""

    scheduler: TestScheduler
    times: list[float] = field(default_factory=list)

    def intercept(
        self, request: HttpRequest, next: HttpHandler
    ) -> Observable[HttpEvent]:
        def stamp(_: abc.SchedulerBase) -> Observable[HttpEvent]:
            self.times.append(float(self.scheduler.clock))
            return next.handle(request)

        return reactivex.defer(stamp)


def client_with(
    backend: HttpTestingBackend, *interceptors: InterceptorLike
) -> HttpClient:
    return HttpClient(backend, interceptors=list(interceptors))


def log_records(captured: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in captured.records if record.name == LOGGER]


def log_messages(captured: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in log_records(captured)]


@pytest.fixture
def backend() -> HttpTestingBackend:
    return HttpTestingBackend()


@pytest.fixture
def scheduler() -> TestScheduler:
    return TestScheduler()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The log records of the interceptors, from DEBUG up."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    return caplog


@asynccontextmanager
async def real_client(*interceptors: InterceptorLike) -> AsyncIterator[HttpClient]:
    async with aiohttp.ClientSession() as session:
        yield HttpClient(AiohttpBackend(session), interceptors=list(interceptors))


# Logging


def test_a_response_is_logged_once_with_method_url_status_and_time(
    backend: HttpTestingBackend,
    scheduler: TestScheduler,
    logs: pytest.LogCaptureFixture,
) -> None:
    client = client_with(backend, LoggingInterceptor(clock=virtual_clock(scheduler)))
    received, _ = watch(client.get(URL))

    scheduler.advance_to(0.25)
    backend.expect_one(URL).flush({"id": 1})

    assert received.values == [{"id": 1}]
    [record] = log_records(logs)
    assert record.levelno == logging.INFO
    assert record.getMessage() == f"GET {URL} -> 200 in 250 ms"


def test_log_lines_are_formatted_lazily_from_their_arguments(
    backend: HttpTestingBackend,
    scheduler: TestScheduler,
    logs: pytest.LogCaptureFixture,
) -> None:
    client = client_with(backend, LoggingInterceptor(clock=virtual_clock(scheduler)))
    watch(client.delete(URL))

    backend.expect_one(URL).flush(None, status=204)

    [record] = log_records(logs)
    assert record.msg == "%s %s -> %s in %.0f ms"
    assert record.args == ("DELETE", URL, 204, 0.0)


def test_a_failure_is_logged_as_a_warning_and_still_reaches_the_caller(
    backend: HttpTestingBackend,
    scheduler: TestScheduler,
    logs: pytest.LogCaptureFixture,
) -> None:
    client = client_with(backend, LoggingInterceptor(clock=virtual_clock(scheduler)))
    received, _ = watch(client.put(URL, json={"name": "Ada"}))

    scheduler.advance_to(0.04)
    backend.expect_one(URL).flush({"error": "no such item"}, status=404)

    assert isinstance(received.error, HttpErrorResponse)
    assert received.error.status == 404
    [record] = log_records(logs)
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"PUT {URL} failed with status 404 (Not Found) after 40 ms"
    )


def test_a_lost_connection_is_logged_with_status_0_and_only_the_cause_type(
    backend: HttpTestingBackend,
    scheduler: TestScheduler,
    logs: pytest.LogCaptureFixture,
) -> None:
    client = client_with(backend, LoggingInterceptor(clock=virtual_clock(scheduler)))
    watch(client.get(URL))

    backend.expect_one(URL).error(ConnectionResetError("peer at 10.0.0.9 left"))

    assert log_messages(logs) == [
        f"GET {URL} failed with status 0 (ConnectionResetError) after 0 ms"
    ]


def test_a_call_given_up_before_its_answer_is_logged_at_debug(
    backend: HttpTestingBackend,
    scheduler: TestScheduler,
    logs: pytest.LogCaptureFixture,
) -> None:
    client = client_with(backend, LoggingInterceptor(clock=virtual_clock(scheduler)))
    _, subscription = watch(client.get(URL))
    pending = backend.expect_one(URL)

    scheduler.advance_to(0.1)
    subscription.dispose()

    assert pending.cancelled
    [record] = log_records(logs)
    assert record.levelno == logging.DEBUG
    assert record.getMessage() == f"GET {URL} cancelled after 100 ms"


@pytest.mark.parametrize("status", [200, 401])
def test_no_header_or_query_value_reaches_the_log(
    backend: HttpTestingBackend, logs: pytest.LogCaptureFixture, status: int
) -> None:
    secrets = ["Bearer s3cr3t-access", "session=c00kie", "k3y-in-query", "r3fresh"]
    client = client_with(backend, LoggingInterceptor())
    watch(
        client.get(
            URL,
            headers={"Authorization": secrets[0], "Cookie": secrets[1]},
            params={"api_key": secrets[2]},
        )
    )

    pending = backend.expect_one(URL)
    pending.flush({}, status=status, headers={"Set-Cookie": secrets[3]})

    [record] = log_records(logs)
    logged = record.getMessage() + repr(record.args)
    assert URL in logged
    for secret in secrets:
        assert secret not in logged


def test_each_subscription_is_timed_from_its_own_start(
    backend: HttpTestingBackend,
    scheduler: TestScheduler,
    logs: pytest.LogCaptureFixture,
) -> None:
    interceptor = LoggingInterceptor(clock=virtual_clock(scheduler))
    exchange = interceptor.intercept(HttpRequest("GET", URL), backend)

    watch(exchange)
    scheduler.advance_to(1.0)
    backend.expect_one(URL).flush("first")
    watch(exchange)
    scheduler.advance_to(1.5)
    backend.expect_one(URL).flush("second")

    assert log_messages(logs) == [
        f"GET {URL} -> 200 in 1000 ms",
        f"GET {URL} -> 200 in 500 ms",
    ]


# Timeout


def test_an_unanswered_request_fails_at_the_deadline_with_a_typed_error(
    backend: HttpTestingBackend, scheduler: TestScheduler
) -> None:
    client = client_with(backend, TimeoutInterceptor(2.0, scheduler=scheduler))
    received, _ = watch(client.get(URL))
    pending = backend.expect_one(URL)

    scheduler.advance_to(1.999)
    assert received.errors == []
    scheduler.advance_to(2.0)

    error = received.error
    assert type(error) is HttpErrorResponse
    assert error.status == 0
    assert error.request is pending.request
    assert str(error) == f"Http failure for GET {URL}: no complete response within 2 s"
    assert isinstance(error.__cause__, RequestTimeoutError)
    assert isinstance(error.__cause__, TimeoutError)
    assert error.__cause__.seconds == 2.0


def test_a_timed_out_request_is_cancelled_in_the_backend(
    backend: HttpTestingBackend, scheduler: TestScheduler
) -> None:
    client = client_with(backend, TimeoutInterceptor(2.0, scheduler=scheduler))
    watch(client.get(URL))
    pending = backend.expect_one(URL)

    scheduler.advance_to(2.0)

    assert pending.cancelled
    backend.verify()


def test_an_answer_before_the_deadline_goes_through_and_the_timer_stops(
    backend: HttpTestingBackend, scheduler: TestScheduler
) -> None:
    client = client_with(backend, TimeoutInterceptor(2.0, scheduler=scheduler))
    received, _ = watch(client.get(URL))

    scheduler.advance_to(1.5)
    backend.expect_one(URL).flush({"id": 1})
    scheduler.advance_to(60.0)

    assert received == Received(values=[{"id": 1}], completed=True)


def test_the_deadline_counts_from_the_send_not_from_the_last_event(
    scheduler: TestScheduler,
) -> None:
    trickle = Trickle(scheduler, every=1.0)
    interceptor = TimeoutInterceptor(2.5, scheduler=scheduler)
    received, _ = watch(interceptor.intercept(HttpRequest("GET", URL), trickle))

    scheduler.advance_to(2.499)
    assert [event.loaded for event in received.values] == [1, 2]
    assert received.errors == []
    scheduler.advance_to(2.5)

    assert isinstance(received.error.__cause__, RequestTimeoutError)
    assert trickle.disposed


def test_disposing_before_the_deadline_cancels_the_request(
    backend: HttpTestingBackend, scheduler: TestScheduler
) -> None:
    client = client_with(backend, TimeoutInterceptor(2.0, scheduler=scheduler))
    received, subscription = watch(client.get(URL))
    pending = backend.expect_one(URL)

    scheduler.advance_to(1.0)
    subscription.dispose()
    scheduler.advance_to(5.0)

    assert pending.cancelled
    assert received == Received()


@pytest.mark.parametrize("seconds", [0, -1.5])
def test_a_timeout_that_is_not_positive_is_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match="seconds must be a positive number"):
        TimeoutInterceptor(seconds)


@dataclass
class Trickle:
    """A handler whose response never ends: one byte of body every `every` s."""

    scheduler: TestScheduler
    every: float
    disposed: bool = False

    def handle(self, request: HttpRequest) -> Observable[HttpEvent]:
        def chunk(index: int) -> HttpEvent:
            return HttpDownloadProgressEvent(index + 1, None, b"x")

        def note_disposed() -> None:
            self.disposed = True

        return reactivex.interval(self.every, scheduler=self.scheduler).pipe(
            ops.map(chunk), ops.finally_action(note_disposed)
        )


# Retry


def retry_on(scheduler: TestScheduler, **settings: Any) -> RetryInterceptor:
    options: dict[str, Any] = {"max_attempts": 3, "base_delay": 1.0, "factor": 2.0}
    return RetryInterceptor(**(options | settings), scheduler=scheduler)


def test_a_get_answered_503_is_sent_again_after_each_backoff(
    backend: HttpTestingBackend, scheduler: TestScheduler
) -> None:
    sent = SendTimes(scheduler)
    client = client_with(backend, retry_on(scheduler), sent)
    received, _ = watch(client.get(URL))

    backend.expect_one(URL).flush(None, status=503)
    scheduler.advance_to(0.999)
    assert backend.pending == []
    scheduler.advance_to(1.0)
    backend.expect_one(URL).flush(None, status=503)
    scheduler.advance_to(2.999)
    assert backend.pending == []
    scheduler.advance_to(3.0)
    backend.expect_one(URL).flush({"id": 1})

    assert received == Received(values=[{"id": 1}], completed=True)
    assert sent.times == [0.0, 1.0, 3.0]


def test_after_the_last_attempt_its_error_reaches_the_caller(
    backend: HttpTestingBackend, scheduler: TestScheduler
) -> None:
    sent = SendTimes(scheduler)
    client = client_with(backend, retry_on(scheduler), sent)
    received, _ = watch(client.get(URL))

    backend.expect_one(URL).flush(None, status=500)
    scheduler.advance_to(1.0)
    backend.expect_one(URL).flush(None, status=502)
    scheduler.advance_to(3.0)
    backend.expect_one(URL).flush(None, status=504)
    scheduler.advance_to(100.0)

    assert isinstance(received.error, HttpErrorResponse)
    assert received.error.status == 504
    assert sent.times == [0.0, 1.0, 3.0]
    backend.verify()


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])
def test_an_idempotent_request_is_sent_again_after_a_lost_connection(
    backend: HttpTestingBackend, scheduler: TestScheduler, method: str
) -> None:
    client = client_with(backend, retry_on(scheduler))
    received, _ = watch(client.request(method, URL))

    backend.expect_one(URL, method).error()
    scheduler.advance_to(1.0)
    backend.expect_one(URL, method).flush("done")

    assert received.values == ["done"]
    assert [request.method for request in backend.requests] == [method, method]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_request_that_is_not_idempotent_is_never_sent_again(
    backend: HttpTestingBackend, scheduler: TestScheduler, method: str
) -> None:
    client = client_with(backend, retry_on(scheduler))
    received, _ = watch(client.request(method, URL, json={"amount": 10}))

    backend.expect_one(URL).flush(None, status=503)
    scheduler.advance_to(100.0)

    assert isinstance(received.error, HttpErrorResponse)
    assert received.error.status == 503
    assert len(backend.requests) == 1


@pytest.mark.parametrize("status", [400, 404])
def test_a_4xx_is_never_retried(
    backend: HttpTestingBackend, scheduler: TestScheduler, status: int
) -> None:
    client = client_with(backend, retry_on(scheduler))
    received, _ = watch(client.get(URL))

    backend.expect_one(URL).flush(None, status=status)

    assert isinstance(received.error, HttpErrorResponse)
    assert received.error.status == status
    scheduler.advance_to(100.0)
    assert len(backend.requests) == 1


def test_the_backoff_grows_no_longer_than_max_delay(
    backend: HttpTestingBackend, scheduler: TestScheduler
) -> None:
    sent = SendTimes(scheduler)
    retry = retry_on(scheduler, max_attempts=4, factor=10.0, max_delay=5.0)
    received, _ = watch(client_with(backend, retry, sent).get(URL))

    backend.expect_one(URL).flush(None, status=503)
    scheduler.advance_to(1.0)
    backend.expect_one(URL).flush(None, status=503)
    scheduler.advance_to(6.0)
    backend.expect_one(URL).flush(None, status=503)
    scheduler.advance_to(11.0)
    backend.expect_one(URL).flush("ok")

    assert received.values == ["ok"]
    assert sent.times == [0.0, 1.0, 6.0, 11.0]
    assert [retry.delay_after(attempt) for attempt in (1, 2, 3)] == [1.0, 5.0, 5.0]


def test_disposing_during_the_backoff_sends_nothing_more(
    backend: HttpTestingBackend, scheduler: TestScheduler
) -> None:
    client = client_with(backend, retry_on(scheduler))
    received, subscription = watch(client.get(URL))

    backend.expect_one(URL).flush(None, status=503)
    scheduler.advance_to(0.5)
    subscription.dispose()
    scheduler.advance_to(100.0)

    assert len(backend.requests) == 1
    assert received == Received()


def test_each_attempt_runs_the_interceptors_behind_the_retry_again(
    backend: HttpTestingBackend, scheduler: TestScheduler
) -> None:
    attempts = itertools.count(1)

    def number_the_attempt(
        request: HttpRequest, handler: HttpHandler
    ) -> Observable[HttpEvent]:
        numbered = request.clone(set_headers={"X-Attempt": str(next(attempts))})
        return handler.handle(numbered)

    client = client_with(backend, retry_on(scheduler), number_the_attempt)
    watch(client.get(URL))

    backend.expect_one(URL).flush(None, status=503)
    scheduler.advance_to(1.0)
    backend.expect_one(URL).flush("ok")

    assert [r.headers["X-Attempt"] for r in backend.requests] == ["1", "2"]


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"base_delay": -1.0}, "base_delay"),
        ({"factor": 0.5}, "factor"),
        ({"max_delay": -1.0}, "max_delay"),
    ],
)
def test_retry_settings_that_make_no_sense_are_refused(
    settings: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        RetryInterceptor(**settings)


# Chained


def chain(
    scheduler: TestScheduler, *, timeout: float, retry_inside_timeout: bool = True
) -> tuple[list[InterceptorLike], SendTimes]:
    """Logging outermost, then timeout and retry in the order asked for."""
    logging_ = LoggingInterceptor(clock=virtual_clock(scheduler))
    deadline = TimeoutInterceptor(timeout, scheduler=scheduler)
    retry = retry_on(scheduler)
    sent = SendTimes(scheduler)
    middle: Sequence[InterceptorLike] = (
        [deadline, retry] if retry_inside_timeout else [retry, deadline]
    )
    return [logging_, *middle, sent], sent


def test_chained_a_retried_call_shows_as_one_log_line_for_the_caller(
    backend: HttpTestingBackend,
    scheduler: TestScheduler,
    logs: pytest.LogCaptureFixture,
) -> None:
    interceptors, sent = chain(scheduler, timeout=10.0)
    received, _ = watch(client_with(backend, *interceptors).get(URL))

    backend.expect_one(URL).flush(None, status=503)
    scheduler.advance_to(1.0)
    backend.expect_one(URL).flush({"id": 1})

    assert received.values == [{"id": 1}]
    assert sent.times == [0.0, 1.0]
    assert log_messages(logs) == [f"GET {URL} -> 200 in 1000 ms"]


def test_chained_the_deadline_cuts_short_a_retry_still_waiting(
    backend: HttpTestingBackend,
    scheduler: TestScheduler,
    logs: pytest.LogCaptureFixture,
) -> None:
    interceptors, sent = chain(scheduler, timeout=2.5)
    received, _ = watch(client_with(backend, *interceptors).get(URL))

    backend.expect_one(URL).flush(None, status=503)
    scheduler.advance_to(1.0)
    backend.expect_one(URL).flush(None, status=503)
    scheduler.advance_to(2.5)

    assert isinstance(received.error.__cause__, RequestTimeoutError)
    scheduler.advance_to(100.0)
    assert sent.times == [0.0, 1.0]
    assert log_messages(logs) == [
        f"GET {URL} failed with status 0 (RequestTimeoutError) after 2500 ms"
    ]


def test_chained_with_retry_outside_the_timeout_an_attempt_that_ran_out_is_retried(
    backend: HttpTestingBackend,
    scheduler: TestScheduler,
    logs: pytest.LogCaptureFixture,
) -> None:
    interceptors, sent = chain(scheduler, timeout=2.0, retry_inside_timeout=False)
    received, _ = watch(client_with(backend, *interceptors).get(URL))
    first = backend.expect_one(URL)

    scheduler.advance_to(2.0)
    assert first.cancelled
    scheduler.advance_to(3.0)
    backend.expect_one(URL).flush({"id": 1})

    assert received.values == [{"id": 1}]
    assert sent.times == [0.0, 3.0]
    assert log_messages(logs) == [f"GET {URL} -> 200 in 3000 ms"]


# Against a real server on 127.0.0.1


async def test_over_http_a_flaky_server_is_asked_again_until_it_answers(
    aiohttp_server: AiohttpServer,
) -> None:
    answers = iter([503, 503, 200])
    hits: list[int] = []

    async def flaky(request: web.Request) -> web.Response:
        status = next(answers)
        hits.append(status)
        return web.json_response({"status": status}, status=status)

    app = web.Application()
    app.router.add_get("/flaky", flaky)
    server = await aiohttp_server(app)
    scheduler = AsyncIOScheduler(asyncio.get_running_loop())
    retry = RetryInterceptor(base_delay=0.01, scheduler=scheduler)

    async with real_client(retry) as client:
        body = await asyncio.wait_for(client.get(str(server.make_url("/flaky"))), 5)

    assert body == {"status": 200}
    assert hits == [503, 503, 200]


async def test_over_http_a_call_that_times_out_is_cancelled_on_the_server(
    aiohttp_server: AiohttpServer,
) -> None:
    hung_up = asyncio.Event()

    async def never_answers(request: web.Request) -> web.Response:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            hung_up.set()
            raise
        return web.Response(text="too late")

    app = web.Application()
    app.router.add_get("/slow", never_answers)
    server = await aiohttp_server(app)
    scheduler = AsyncIOScheduler(asyncio.get_running_loop())

    async with real_client(TimeoutInterceptor(0.2, scheduler=scheduler)) as client:
        with pytest.raises(HttpErrorResponse) as caught:
            await asyncio.wait_for(client.get(str(server.make_url("/slow"))), 5)
        await asyncio.wait_for(hung_up.wait(), 5)

    assert caught.value.status == 0
    assert isinstance(caught.value.__cause__, RequestTimeoutError)


# The demo


def test_the_demo_runs_and_shows_each_outcome() -> None:
    finished = subprocess.run(
        [sys.executable, "examples/interceptors_demo.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr
    assert finished.stderr == ""
    lines = [line.strip() for line in finished.stdout.splitlines()]
    for expected in [
        "ok: {'greeting': 'hello'}",
        "server: /flaky request 1 -> 503",
        "server: /flaky request 2 -> 503",
        "server: /flaky request 3 -> 200",
        "ok: {'served_on_request': 3}",
        "failed with status 0: RequestTimeoutError('no complete response within 1 s')",
        "server: /slow cancelled, the client hung up",
        "done",
    ]:
        assert expected in lines, finished.stdout
    assert any(line.startswith("log: GET http://127.0.0.1:") for line in lines)

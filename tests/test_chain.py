"""The interceptor chain and `HttpClient`, stepped by hand on the test backend.

No network here: `HttpTestingBackend` holds each request until the test
answers it, and `TestScheduler` stands in for the clock where time matters.
"""

from typing import Any

import pytest
import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.testing import ReactiveTest, TestScheduler

from rx_auth import (
    HttpClient,
    HttpDownloadProgressEvent,
    HttpErrorResponse,
    HttpEvent,
    HttpHandler,
    HttpHeaderResponse,
    HttpInterceptorFn,
    HttpRequest,
    HttpResponse,
    HttpSentEvent,
)
from rx_auth.testing import HttpTestingBackend

URL = "https://api.example.com/items"


class Watcher:
    """Subscribes at once and keeps everything the observable delivers."""

    def __init__(self, observable: Observable[Any]) -> None:
        self.values: list[Any] = []
        self.errors: list[Exception] = []
        self.completed = False
        self.subscription = observable.subscribe(
            self.values.append, self.errors.append, self._complete
        )

    def _complete(self) -> None:
        self.completed = True


class Tagging:
    """Appends its name to `X-Path` and logs each request and event it sees."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def intercept(
        self, request: HttpRequest, next: HttpHandler
    ) -> Observable[HttpEvent]:
        return _tag(self.name, self.log, request, next)


def tagging(name: str, log: list[str]) -> HttpInterceptorFn:
    """The function form of `Tagging`."""

    def intercept(request: HttpRequest, next: HttpHandler) -> Observable[HttpEvent]:
        return _tag(name, log, request, next)

    return intercept


def _tag(
    name: str, log: list[str], request: HttpRequest, next: HttpHandler
) -> Observable[HttpEvent]:
    log.append(f"{name} request")
    path = request.headers.get("X-Path", "") + name

    def note(event: HttpEvent) -> HttpEvent:
        log.append(f"{name} {type(event).__name__}")
        return event

    return next.handle(request.clone(set_headers={"X-Path": path})).pipe(ops.map(note))


def test_the_first_interceptor_sees_the_request_first_and_the_events_last() -> None:
    backend = HttpTestingBackend()
    log: list[str] = []
    client = HttpClient(backend, [Tagging(name, log) for name in "abc"])

    Watcher(client.get(URL))
    backend.expect_one(URL).flush({})

    assert backend.requests[0].headers["X-Path"] == "abc"
    assert log == [
        "a request",
        "b request",
        "c request",
        "c HttpSentEvent",
        "b HttpSentEvent",
        "a HttpSentEvent",
        "c HttpResponse",
        "b HttpResponse",
        "a HttpResponse",
    ]


def test_function_interceptors_chain_in_the_same_order_as_classes() -> None:
    backend = HttpTestingBackend()
    log: list[str] = []
    client = HttpClient(
        backend, [tagging("a", log), Tagging("b", log), tagging("c", log)]
    )

    watcher = Watcher(client.get(URL))
    backend.expect_one(URL).flush({"n": 1})

    assert backend.requests[0].headers["X-Path"] == "abc"
    assert [line for line in log if "Response" in line] == [
        "c HttpResponse",
        "b HttpResponse",
        "a HttpResponse",
    ]
    assert watcher.values == [{"n": 1}]


def test_an_interceptor_may_answer_without_calling_the_backend() -> None:
    def cached(request: HttpRequest, next: HttpHandler) -> Observable[HttpEvent]:
        return reactivex.of(HttpResponse(200, "OK", request.url, body={"cached": True}))

    backend = HttpTestingBackend()

    watcher = Watcher(HttpClient(backend, [cached]).get(URL))

    assert watcher.values == [{"cached": True}]
    assert watcher.completed
    assert backend.requests == []


def test_something_that_is_not_an_interceptor_raises_when_the_client_is_built() -> None:
    with pytest.raises(TypeError, match="must have an intercept"):
        HttpClient(HttpTestingBackend(), [object()])  # type: ignore[list-item]


def test_nothing_is_sent_until_subscribed_and_each_subscription_sends_once() -> None:
    backend = HttpTestingBackend()
    calls: list[str] = []
    client = HttpClient(backend, [tagging("a", calls)])

    observable = client.get(URL)
    assert backend.requests == []
    assert calls == []

    Watcher(observable)
    Watcher(observable)

    assert len(backend.match(URL)) == 2
    assert calls.count("a request") == 2


def test_a_retry_resends_through_the_interceptors_with_what_they_attach_now() -> None:
    backend = HttpTestingBackend()
    token = ["first"]

    def authorize(request: HttpRequest, next: HttpHandler) -> Observable[HttpEvent]:
        bearer = {"Authorization": f"Bearer {token[0]}"}
        return next.handle(request.clone(set_headers=bearer))

    watcher = Watcher(HttpClient(backend, [authorize]).get(URL).pipe(ops.retry(2)))
    token[0] = "second"
    backend.expect_one(URL).flush({"error": "expired"}, status=401)
    backend.expect_one(URL).flush({"ok": True})

    sent = [request.headers["Authorization"] for request in backend.requests]
    assert sent == ["Bearer first", "Bearer second"]
    assert watcher.values == [{"ok": True}]
    assert watcher.errors == []
    backend.verify()


def test_a_retry_gives_up_after_its_count_with_the_last_error() -> None:
    backend = HttpTestingBackend()

    watcher = Watcher(HttpClient(backend).get(URL).pipe(ops.retry(2)))
    backend.expect_one(URL).flush(None, status=503)
    backend.expect_one(URL).flush("down", status=500)

    assert len(backend.requests) == 2
    [failure] = watcher.errors
    assert isinstance(failure, HttpErrorResponse)
    assert (failure.status, failure.error) == (500, "down")
    backend.expect_none(URL)


def test_observe_body_emits_only_the_parsed_body() -> None:
    backend = HttpTestingBackend()

    watcher = Watcher(HttpClient(backend).get(URL))
    backend.expect_one(URL).flush({"name": "Ada"})

    assert watcher.values == [{"name": "Ada"}]
    assert watcher.completed


def test_observe_response_emits_the_whole_response() -> None:
    backend = HttpTestingBackend()

    watcher = Watcher(HttpClient(backend).get(URL, observe="response"))
    backend.expect_one(URL).flush([1, 2], status=201, headers={"ETag": "v1"})

    [response] = watcher.values
    assert isinstance(response, HttpResponse)
    assert (response.status, response.status_text, response.url) == (
        201,
        "Created",
        URL,
    )
    assert response.headers["etag"] == "v1"
    assert response.body == [1, 2]


def test_observe_events_emits_every_event_in_order() -> None:
    backend = HttpTestingBackend()

    watcher = Watcher(
        HttpClient(backend).get(URL, observe="events", response_type="bytes")
    )
    pending = backend.expect_one(URL)
    assert pending.request.report_progress
    pending.flush(b"abc")

    sent, header, progress, response = watcher.values
    assert isinstance(sent, HttpSentEvent)
    assert sent.request is pending.request
    assert isinstance(header, HttpHeaderResponse)
    assert header.status == 200
    assert isinstance(progress, HttpDownloadProgressEvent)
    assert (progress.loaded, progress.total, progress.chunk) == (3, 3, b"abc")
    assert isinstance(response, HttpResponse)
    assert response.body == b"abc"
    assert watcher.completed


def test_send_with_an_unknown_observe_raises() -> None:
    client = HttpClient(HttpTestingBackend())

    with pytest.raises(ValueError, match="observe must be"):
        client.send(HttpRequest("GET", URL), observe="all")  # type: ignore[arg-type]


def test_disposing_marks_the_request_cancelled_and_drops_it_from_pending() -> None:
    backend = HttpTestingBackend()
    watcher = Watcher(HttpClient(backend).get(URL))
    pending = backend.expect_one(URL)

    watcher.subscription.dispose()

    assert pending.cancelled
    assert backend.pending == []
    with pytest.raises(AssertionError, match="was cancelled"):
        pending.flush({})
    assert watcher.values == []
    backend.verify()


def test_a_request_answered_twice_fails_the_test() -> None:
    backend = HttpTestingBackend()
    Watcher(HttpClient(backend).get(URL))
    pending = backend.expect_one(URL)
    pending.flush({})

    with pytest.raises(AssertionError, match="already answered"):
        pending.flush({})
    assert not pending.cancelled


def test_expect_one_fails_when_nothing_is_pending() -> None:
    backend = HttpTestingBackend()

    with pytest.raises(AssertionError, match=r"expected one .* found 0; pending: none"):
        backend.expect_one(URL)


def test_expect_one_fails_when_two_requests_fit() -> None:
    backend = HttpTestingBackend()
    client = HttpClient(backend)
    Watcher(client.get(URL))
    Watcher(client.get(URL))

    with pytest.raises(AssertionError, match="found 2"):
        backend.expect_one(URL)


def test_expect_one_fails_when_only_another_method_is_pending() -> None:
    backend = HttpTestingBackend()
    Watcher(HttpClient(backend).get(URL))

    with pytest.raises(AssertionError, match=f"POST {URL}, found 0; pending: GET"):
        backend.expect_one(URL, "POST")
    assert backend.expect_one(URL, "get").request.method == "GET"


def test_expect_one_finds_a_request_by_its_url_with_or_without_params() -> None:
    backend = HttpTestingBackend()
    Watcher(HttpClient(backend).get(URL, params={"page": 2}))

    assert backend.expect_one(URL + "?page=2") is backend.expect_one(URL)


def test_expect_none_fails_while_a_request_for_the_url_is_pending() -> None:
    backend = HttpTestingBackend()
    Watcher(HttpClient(backend).get(URL))

    backend.expect_none(URL + "/other")
    with pytest.raises(AssertionError, match="expected no pending request"):
        backend.expect_none(URL)


def test_match_selects_by_method_and_predicate_oldest_first() -> None:
    backend = HttpTestingBackend()
    client = HttpClient(backend)
    Watcher(client.post(URL, json={"n": 1}))
    Watcher(client.get(URL))
    Watcher(client.post(URL, json={"n": 2}))

    posts = backend.match(URL, "POST")
    second = backend.match(where=lambda request: request.json == {"n": 2})

    assert [pending.request.json for pending in posts] == [{"n": 1}, {"n": 2}]
    assert [pending.request.json for pending in second] == [{"n": 2}]


def test_verify_fails_naming_each_request_left_unanswered() -> None:
    backend = HttpTestingBackend()
    client = HttpClient(backend)
    Watcher(client.get(URL))
    Watcher(client.delete(URL + "/1"))

    with pytest.raises(AssertionError, match=f"GET {URL}, DELETE {URL}/1"):
        backend.verify()


def test_requests_keeps_every_request_sent_in_order() -> None:
    backend = HttpTestingBackend()
    client = HttpClient(backend)
    Watcher(client.get(URL))
    backend.expect_one(URL).flush({})
    Watcher(client.put(URL, json={}))

    assert [request.method for request in backend.requests] == ["GET", "PUT"]


def test_flush_with_a_non_2xx_status_fails_with_the_status_and_body() -> None:
    backend = HttpTestingBackend()
    watcher = Watcher(
        HttpClient(backend).get(URL, headers={"Authorization": "Bearer s3cret"})
    )
    pending = backend.expect_one(URL)

    pending.flush({"detail": "missing"}, status=404, headers={"X-Why": "gone"})

    [failure] = watcher.errors
    assert isinstance(failure, HttpErrorResponse)
    assert (failure.status, failure.status_text) == (404, "Not Found")
    assert failure.error == {"detail": "missing"}
    assert failure.request is pending.request
    assert failure.url == URL
    assert failure.headers["x-why"] == "gone"
    assert "404 Not Found" in str(failure)
    assert "s3cret" not in str(failure)
    assert "s3cret" not in repr(failure)
    assert watcher.values == []


def test_error_fails_with_status_0_caused_by_the_given_exception() -> None:
    backend = HttpTestingBackend()
    watcher = Watcher(HttpClient(backend).get(URL))
    cause = ConnectionRefusedError("refused")

    backend.expect_one(URL).error(cause)

    [failure] = watcher.errors
    assert isinstance(failure, HttpErrorResponse)
    assert failure.status == 0
    assert failure.__cause__ is cause
    assert "ConnectionRefusedError: refused" in str(failure)


def test_error_without_an_exception_is_a_connection_reset() -> None:
    backend = HttpTestingBackend()
    watcher = Watcher(HttpClient(backend).get(URL))

    backend.expect_one(URL).error()

    [failure] = watcher.errors
    assert isinstance(failure, HttpErrorResponse)
    assert isinstance(failure.__cause__, ConnectionResetError)


@pytest.mark.parametrize("position", [0, 1])
def test_an_interceptor_that_raises_delivers_the_error_to_the_subscriber(
    position: int,
) -> None:
    problem = RuntimeError("interceptor broke")

    def broken(request: HttpRequest, next: HttpHandler) -> Observable[HttpEvent]:
        raise problem

    def passing(request: HttpRequest, next: HttpHandler) -> Observable[HttpEvent]:
        return next.handle(request)

    interceptors: list[HttpInterceptorFn] = [passing, passing]
    interceptors[position] = broken
    backend = HttpTestingBackend()

    watcher = Watcher(HttpClient(backend, interceptors).get(URL))

    assert watcher.errors == [problem]
    assert backend.requests == []


def _timing_out(seconds: int, scheduler: TestScheduler) -> HttpInterceptorFn:
    def intercept(request: HttpRequest, next: HttpHandler) -> Observable[HttpEvent]:
        return next.handle(request).pipe(ops.timeout(seconds, scheduler=scheduler))

    return intercept


def _delaying(seconds: int, scheduler: TestScheduler) -> HttpInterceptorFn:
    def intercept(request: HttpRequest, next: HttpHandler) -> Observable[HttpEvent]:
        return next.handle(request).pipe(ops.delay(seconds, scheduler=scheduler))

    return intercept


def _flush_at(
    scheduler: TestScheduler, time: int, backend: HttpTestingBackend, body: Any
) -> None:
    def answer(_: abc.SchedulerBase, __: Any = None) -> None:
        backend.expect_one(URL).flush(body)

    scheduler.schedule_absolute(time, answer)


def test_a_timeout_interceptor_fails_and_cancels_an_unanswered_request() -> None:
    scheduler = TestScheduler()
    backend = HttpTestingBackend()
    observer = scheduler.create_observer()
    HttpClient(backend, [_timing_out(50, scheduler)]).get(URL).subscribe(observer)
    pending = backend.expect_one(URL)

    scheduler.advance_to(49)
    assert observer.messages == []
    assert not pending.cancelled

    scheduler.advance_to(50)
    [message] = observer.messages
    assert message.time == 50
    assert str(message.value) == "OnError(Timeout)"
    assert pending.cancelled
    backend.verify()


def test_a_timeout_interceptor_lets_an_answer_in_time_through() -> None:
    scheduler = TestScheduler()
    backend = HttpTestingBackend()
    observer = scheduler.create_observer()
    HttpClient(backend, [_timing_out(50, scheduler)]).get(URL).subscribe(observer)
    _flush_at(scheduler, 30, backend, {"ok": True})

    scheduler.advance_to(100)

    assert observer.messages == [
        ReactiveTest.on_next(30, {"ok": True}),
        ReactiveTest.on_completed(30),
    ]


def test_a_delaying_interceptor_holds_the_response_for_its_delay() -> None:
    scheduler = TestScheduler()
    backend = HttpTestingBackend()
    observer = scheduler.create_observer()
    HttpClient(backend, [_delaying(20, scheduler)]).get(URL).subscribe(observer)
    _flush_at(scheduler, 10, backend, {"ok": True})

    scheduler.advance_to(29)
    assert observer.messages == []

    scheduler.advance_to(30)
    assert observer.messages == [
        ReactiveTest.on_next(30, {"ok": True}),
        ReactiveTest.on_completed(30),
    ]

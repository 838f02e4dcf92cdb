"""The race table, stepped by hand: every 401, answer and timeout in order."""

from __future__ import annotations

import asyncio
import threading

import pytest
from reactivex import Observable

from rx_auth import (
    SKIP_AUTH,
    HttpContext,
    HttpErrorResponse,
    HttpEvent,
    HttpHandler,
    HttpRequest,
    LoggedOut,
    RefreshFailed,
    RefreshRejected,
    RefreshStarted,
    RefreshSucceeded,
    RefreshTimeout,
    RefreshUnavailable,
    RequestQueued,
    RequestRetried,
    Tokens,
)
from rx_auth.testing import TestRequest

from .auth_support import (
    NEW_BODY,
    OLD,
    TOKEN_URL,
    USER,
    Harness,
    Outcome,
    recording,
)


def fire(h: Harness, count: int) -> list[Outcome]:
    outcomes = [h.get() for _ in range(count)]
    assert len(h.pending()) == count
    return outcomes


def fire_more(h: Harness, count: int) -> list[Outcome]:
    return [h.get() for _ in range(count)]


@pytest.mark.parametrize("count", [1, 3, 10_000])
def test_concurrent_401s_share_one_refresh_and_each_retries_once(count: int) -> None:
    h = Harness()
    outcomes = fire(h, count)

    assert h.answer_401() == count
    h.refresh_request().flush(NEW_BODY)
    assert h.answer_ok() == count

    assert len(h.refresh_calls()) == 1
    assert all(o.values == [{"seen": "Bearer new-access"}] for o in outcomes)
    assert all(o.completed for o in outcomes)
    assert len(h.sent_to()) == 2 * count
    h.backend.verify()


def test_the_refresh_posts_the_refresh_token_grant_and_stores_rotated_tokens() -> None:
    h = Harness()
    fire(h, 1)
    h.answer_401()

    refresh = h.refresh_request()
    assert refresh.request.data == {
        "grant_type": "refresh_token",
        "refresh_token": "refresh-1",
    }
    assert "Authorization" not in refresh.request.headers
    refresh.flush(NEW_BODY)
    assert h.auth.tokens == Tokens("new-access", "refresh-2")


def test_waiters_are_told_in_order_of_the_lesson() -> None:
    h = Harness()
    fire(h, 3)
    ids = [r.request.id for r in h.pending()]
    h.answer_401()
    h.refresh_request().flush(NEW_BODY)

    kinds = [type(e) for e in h.events]
    assert kinds == [
        RefreshStarted,
        RequestQueued,
        RequestQueued,
        RefreshSucceeded,
        RequestRetried,
        RequestRetried,
        RequestRetried,
    ]
    started = h.events[0]
    assert isinstance(started, RefreshStarted)
    assert started.request_id == ids[0]
    assert started.reason == "unauthorized"
    assert [getattr(e, "request_id", None) for e in h.events[1:3]] == ids[1:]


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"error": "invalid_grant"}, RefreshRejected),
        (401, {"error": "invalid_client"}, RefreshRejected),
        (500, "down", RefreshUnavailable),
        (400, {"error": "invalid_request"}, RefreshUnavailable),
    ],
)
def test_a_failed_refresh_fails_every_waiter_with_one_error_type(
    status: int, body: object, expected: type[Exception]
) -> None:
    h = Harness()
    outcomes = fire(h, 5)
    h.answer_401()
    h.refresh_request().flush(body, status=status)

    assert all(type(o.error) is expected for o in outcomes)
    assert len({id(o.error) for o in outcomes}) == 5  # one error per caller
    assert h.pending() == []
    assert len(h.refresh_calls()) == 1


def test_a_late_401_for_a_request_sent_before_the_failure_fails_alike() -> None:
    h = Harness()
    early, late = fire(h, 2)
    first, second = h.pending()
    first.flush(None, status=401)
    h.refresh_request().flush(None, status=503)
    assert isinstance(early.error, RefreshUnavailable)

    second.flush(None, status=401)

    assert isinstance(late.error, RefreshUnavailable)
    assert len(h.refresh_calls()) == 1


def test_a_request_sent_after_a_failure_starts_a_new_refresh_on_401() -> None:
    h = Harness()
    fire(h, 1)
    h.answer_401()
    h.refresh_request().flush(None, status=503)

    retry = h.get()
    h.answer_401()
    h.refresh_request().flush(NEW_BODY)
    h.answer_ok()

    assert retry.values == [{"seen": "Bearer new-access"}]
    assert len(h.refresh_calls()) == 2


def test_a_rejected_refresh_clears_the_store_and_logs_out_once() -> None:
    h = Harness()
    outcomes = fire(h, 3)
    h.answer_401()
    h.refresh_request().flush({"error": "invalid_grant"}, status=400)

    assert all(isinstance(o.error, RefreshRejected) for o in outcomes)
    assert [type(e) for e in h.events].count(LoggedOut) == 1
    assert h.auth.tokens is None
    failed = [e for e in h.events if isinstance(e, RefreshFailed)]
    assert [f.error for f in failed] == ["RefreshRejected"]

    after = h.get()
    assert "Authorization" not in h.pending()[0].request.headers
    h.answer_401()
    assert isinstance(after.error, RefreshRejected)
    assert len(h.refresh_calls()) == 1
    assert [type(e) for e in h.events].count(LoggedOut) == 1


def test_without_a_refresh_token_a_401_is_rejected_with_no_refresh_call() -> None:
    h = Harness(Tokens("access-only"))
    outcome = h.get()
    h.answer_401()

    assert isinstance(outcome.error, RefreshRejected)
    assert h.refresh_calls() == []


def test_the_first_caller_leaving_mid_refresh_does_not_stop_it() -> None:
    h = Harness()
    first = Outcome()
    subscription = h.subscribe(h.client.get(USER), first)
    others = fire_more(h, 2)
    h.answer_401()

    subscription.dispose()
    refresh = h.refresh_request()
    assert not refresh.cancelled
    refresh.flush(NEW_BODY)
    h.answer_ok()

    assert first.values == []
    assert all(o.values == [{"seen": "Bearer new-access"}] for o in others)
    assert h.auth.tokens == Tokens("new-access", "refresh-2")


def test_the_refresh_finishes_and_is_stored_when_every_caller_has_left() -> None:
    h = Harness()
    subscriptions = [h.subscribe(h.client.get(USER), Outcome()) for _ in range(3)]
    h.answer_401()
    for subscription in subscriptions:
        subscription.dispose()

    h.refresh_request().flush(NEW_BODY)

    assert h.auth.tokens == Tokens("new-access", "refresh-2")
    assert asyncio.run(h.store.load()) == Tokens("new-access", "refresh-2")
    assert h.pending() == []


def test_a_401_for_a_request_sent_with_older_tokens_retries_without_refresh() -> None:
    h = Harness()
    _, late = fire(h, 2)
    first, second = h.pending()
    first.flush(None, status=401)
    h.refresh_request().flush(NEW_BODY)
    waiting, first_retry = h.pending()
    assert waiting is second
    first_retry.flush({"seen": "first"})

    second.flush(None, status=401)  # sent with the old token, answered late
    h.answer_ok()

    assert late.values == [{"seen": "Bearer new-access"}]
    assert len(h.refresh_calls()) == 1


def test_a_retry_that_gets_401_again_reaches_the_caller() -> None:
    h = Harness()
    outcome = h.get()
    h.answer_401()
    h.refresh_request().flush(NEW_BODY)
    h.answer_401()

    assert isinstance(outcome.error, HttpErrorResponse)
    assert outcome.error.status == 401
    assert h.pending() == []
    assert len(h.refresh_calls()) == 1
    assert len(h.sent_to()) == 2


def test_the_refresh_call_passes_inner_interceptors_marked_skip_auth() -> None:
    seen: list[HttpRequest] = []
    h = Harness(inner=[recording(seen)])
    h.get()
    h.answer_401()
    h.refresh_request().flush(NEW_BODY)

    refreshes = [r for r in seen if r.url == TOKEN_URL]
    assert len(refreshes) == 1
    assert refreshes[0].context.get(SKIP_AUTH) is True


def test_a_401_from_the_token_endpoint_does_not_recurse() -> None:
    h = Harness()
    outcome = h.get()
    h.answer_401()
    h.refresh_request().flush(None, status=401)

    assert isinstance(outcome.error, RefreshRejected)
    assert len(h.refresh_calls()) == 1
    h.backend.verify()


def test_skip_auth_sends_a_request_without_a_token_and_leaves_its_401() -> None:
    h = Harness()
    outcome = h.get(context=HttpContext().set(SKIP_AUTH, True))
    (pending,) = h.pending()
    assert "Authorization" not in pending.request.headers

    pending.flush(None, status=401)

    assert isinstance(outcome.error, HttpErrorResponse)
    assert h.refresh_calls() == []


def test_an_expiring_token_is_refreshed_once_before_any_request_is_sent() -> None:
    h = Harness(Tokens("old-access", "refresh-1", expires_at=20.0), skew=30.0)
    outcomes = fire_more(h, 4)

    assert h.pending() == []  # nothing goes out with the expiring token
    h.refresh_request().flush({**NEW_BODY, "expires_in": 3600})
    assert h.answer_ok() == 4

    assert all(o.values == [{"seen": "Bearer new-access"}] for o in outcomes)
    assert len(h.refresh_calls()) == 1
    started = [e for e in h.events if isinstance(e, RefreshStarted)]
    assert [s.reason for s in started] == ["expired"]


def test_a_token_outside_the_skew_is_sent_as_it_is() -> None:
    h = Harness(Tokens("old-access", "refresh-1", expires_at=31.0), skew=30.0)
    h.get()
    assert h.answer_ok() == 1
    assert h.refresh_calls() == []


def test_virtual_time_passing_makes_a_token_expiring() -> None:
    h = Harness(Tokens("old-access", "refresh-1", expires_at=100.0), skew=30.0)
    h.get()
    h.answer_ok()
    h.scheduler.advance_to(70.0)

    h.get()
    assert h.pending() == []
    assert len(h.refresh_calls()) == 1


def test_a_refresh_with_no_answer_times_out_and_fails_every_waiter() -> None:
    h = Harness(refresh_timeout=5.0)
    outcomes = fire(h, 3)
    h.answer_401()
    refresh = h.refresh_request()

    h.scheduler.advance_to(4.999)
    assert not any(o.settled for o in outcomes)
    h.scheduler.advance_to(5.0)

    assert all(isinstance(o.error, RefreshTimeout) for o in outcomes)
    assert refresh.cancelled
    assert h.auth.tokens == OLD  # a timeout is not a rejection


def test_after_a_timeout_the_next_401_refreshes_again() -> None:
    h = Harness(refresh_timeout=5.0)
    fire(h, 1)
    h.answer_401()
    h.scheduler.advance_by(5.0)

    again = h.get()
    h.answer_401()
    h.refresh_request().flush(NEW_BODY)
    h.answer_ok()

    assert again.values == [{"seen": "Bearer new-access"}]


def test_two_threads_hitting_401_at_once_start_one_refresh() -> None:
    rounds = 200
    for _ in range(rounds):
        h = Harness()
        outcomes = fire(h, 2)
        first, second = h.pending()
        barrier = threading.Barrier(2)

        def answer(pending: TestRequest, barrier: threading.Barrier = barrier) -> None:
            barrier.wait(timeout=5)
            pending.flush(None, status=401)

        threads = [threading.Thread(target=answer, args=(p,)) for p in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=5)

        assert len(h.refresh_calls()) == 1
        h.refresh_request().flush(NEW_BODY)
        h.answer_ok()
        assert all(o.values == [{"seen": "Bearer new-access"}] for o in outcomes)


def test_tokens_in_the_store_newer_than_the_failed_ones_are_used_unrefreshed() -> None:
    h = Harness()
    outcome = h.get()
    store_update = Tokens("other-access", "refresh-9")
    h.store._tokens = store_update  # as another process sharing the store would
    h.answer_401()
    h.answer_ok()

    assert outcome.values == [{"seen": "Bearer other-access"}]
    assert h.refresh_calls() == []
    succeeded = [e for e in h.events if isinstance(e, RefreshSucceeded)]
    assert [s.refreshed for s in succeeded] == [False]


def test_a_rejection_after_another_holder_saved_new_tokens_uses_them() -> None:
    h = Harness()
    outcome = h.get()
    h.answer_401()
    refresh = h.refresh_request()
    # Another process took the lock after ours lapsed and saved new tokens;
    # then the server refuses our copy of the rotated refresh token.
    h.store._tokens = Tokens("theirs-access", "theirs-refresh")
    refresh.flush({"error": "invalid_grant"}, status=400)
    h.answer_ok()

    assert outcome.values == [{"seen": "Bearer theirs-access"}]
    assert h.auth.tokens == Tokens("theirs-access", "theirs-refresh")
    assert not any(isinstance(e, LoggedOut) for e in h.events)


def test_a_token_living_less_than_the_skew_is_refreshed_halfway() -> None:
    h = Harness(skew=30.0)
    h.get()
    h.answer_401()
    h.refresh_request().flush({**NEW_BODY, "expires_in": 10})  # due at 5 s
    h.answer_ok()

    h.scheduler.advance_to(4.9)
    h.get()
    assert h.answer_ok() == 1
    assert len(h.refresh_calls()) == 1

    h.scheduler.advance_to(5.0)
    h.get()
    assert h.pending() == []
    assert len(h.refresh_calls()) == 2


def test_an_early_refresh_failing_for_now_sends_with_the_unexpired_token() -> None:
    h = Harness(Tokens("old-access", "refresh-1", expires_at=20.0), skew=30.0)
    outcome = h.get()
    h.refresh_request().flush(None, status=503)

    (pending,) = h.pending()
    assert pending.request.headers["Authorization"] == "Bearer old-access"
    h.answer_ok()
    assert outcome.values == [{"seen": "Bearer old-access"}]


@pytest.mark.parametrize(
    ("expires_at", "status", "body", "expected"),
    [
        (0.0, 503, None, RefreshUnavailable),  # expired already: nothing to send
        (20.0, 400, {"error": "invalid_grant"}, RefreshRejected),
    ],
)
def test_an_early_refresh_that_cannot_help_fails_the_request(
    expires_at: float, status: int, body: object, expected: type[Exception]
) -> None:
    h = Harness(Tokens("old-access", "refresh-1", expires_at=expires_at), skew=30.0)
    outcome = h.get()
    h.refresh_request().flush(body, status=status)

    assert type(outcome.error) is expected
    assert h.pending() == []


def test_signing_in_after_a_logout_sends_the_new_token_at_once() -> None:
    h = Harness()
    h.get()
    h.answer_401()
    h.refresh_request().flush({"error": "invalid_grant"}, status=400)
    assert h.auth.tokens is None

    asyncio.run(h.auth.sign_in(Tokens("signed-in", "refresh-9")))
    outcome = h.get()
    h.answer_ok()

    assert outcome.values == [{"seen": "Bearer signed-in"}]
    assert asyncio.run(h.store.load()) == Tokens("signed-in", "refresh-9")
    assert len(h.refresh_calls()) == 1


async def test_signing_in_during_a_refresh_wins_over_the_refresh() -> None:
    # On an event loop the refresh runs as a task holding the store's lock;
    # sign_in waits for the lock, and what it stores is what requests use.
    asked: list[HttpRequest] = []
    refresh_sent = asyncio.Event()

    def watch(request: HttpRequest, next: HttpHandler) -> Observable[HttpEvent]:
        if request.url == TOKEN_URL:
            refresh_sent.set()
        asked.append(request)
        return next.handle(request)

    h = Harness(inner=[watch])
    await h.auth.sign_in(OLD)  # so that requests go out without a first read
    outcomes = fire(h, 2)
    h.answer_401()
    await asyncio.wait_for(refresh_sent.wait(), 5)

    signing_in = asyncio.ensure_future(h.auth.sign_in(Tokens("signed-in", "refresh-9")))
    h.refresh_request().flush(NEW_BODY)
    await asyncio.wait_for(signing_in, 5)
    assert h.answer_ok() == 2  # the waiters were released by sign_in

    assert all(o.values == [{"seen": "Bearer signed-in"}] for o in outcomes)
    assert h.auth.tokens == Tokens("signed-in", "refresh-9")
    assert await h.store.load() == Tokens("signed-in", "refresh-9")


def test_signing_out_forgets_the_tokens_and_says_so() -> None:
    h = Harness()
    asyncio.run(h.auth.sign_out())

    h.get()
    (pending,) = h.pending()
    assert "Authorization" not in pending.request.headers
    assert asyncio.run(h.store.load()) is None
    assert [type(e) for e in h.events] == [LoggedOut]

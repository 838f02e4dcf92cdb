"""`AuthService`: one refresh at a time, however many requests need it.

The lesson's pattern, kept: a refresh-in-progress flag and a
`BehaviorSubject`. The first request that needs new tokens starts the
refresh; every request waits on the subject, filtered until the refresh has
settled, `take(1)`, and `flat_map`ped into its retry.

The operators are rx_auth's own `filter`, `take` and `flat_map`: they
behave as reactivex's do, at a fraction of the cost per waiting request.

    401s:     --a--b-----c-------------
    state:    R-----------------S------     R refreshing, S settled
    retries:  ------------------abc----

Where the lesson's code breaks, this one holds (each is a test):

- the subject carries a state, not a bare token, so a failed refresh
  releases every waiter with the error instead of leaving them waiting;
- the service, not the first caller, owns the refresh, so the refresh
  finishes (and is stored) when that caller, or every caller, goes away;
- each request remembers the tokens it was sent with, so a 401 that
  arrives after a refresh it did not wait for is retried with the new
  token rather than starting a second refresh;
- the flag is checked and set under a lock, so two threads cannot both
  start a refresh;
- a refresh that does not answer within `refresh_timeout` fails.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, TypeAlias, final

from reactivex import Observable, abc
from reactivex.scheduler import TimeoutScheduler
from reactivex.scheduler.eventloop import AsyncIOThreadSafeScheduler
from reactivex.subject import BehaviorSubject, Subject

from ..http import HttpEvent, HttpHandler, HttpRequest
from ..http._direct import Deferred, subscribe_directly
from ..http._operators import filter, flat_map, just, take, throw
from ._errors import (
    RefreshError,
    RefreshRejected,
    RefreshTimeout,
    RefreshUnavailable,
    as_refresh_error,
)
from ._events import (
    AuthEvent,
    LoggedOut,
    RefreshFailed,
    RefreshReason,
    RefreshStarted,
    RefreshSucceeded,
    RequestQueued,
    RequestRetried,
)
from ._jobs import first_value, start_job
from ._refreshers import Refresher
from ._skip import SKIP_AUTH
from ._store import TokenStore
from ._tokens import Tokens, authorize

__all__ = ["AuthService", "Generation"]

logger = logging.getLogger("rx_auth")


@dataclass(frozen=True, slots=True)
class Generation:
    """The tokens in use, and how many refreshes had settled when they were.

    A request keeps the generation it was sent with; comparing it with the
    current one tells a late 401 from a fresh one. `refresh_at` is when the
    tokens are refreshed before sending, or `None` if they do not expire.
    """

    tokens: Tokens | None
    settled: int
    refresh_at: float | None = None


@dataclass(frozen=True, slots=True)
class _Refreshing:
    pass


@dataclass(frozen=True, slots=True)
class _Ready:
    generation: Generation


@dataclass(frozen=True, slots=True)
class _Failed:
    error: RefreshError


_State: TypeAlias = _Refreshing | _Ready | _Failed
_JobReason: TypeAlias = RefreshReason | None  # None: read the store first


class _Job:
    """One refresh (or first read of the store), from start to outcome."""

    __slots__ = ("loaded", "reason", "running", "timer")

    def __init__(self, reason: _JobReason) -> None:
        self.reason = reason
        self.loaded: Tokens | None = None  # what a first read found
        self.running: abc.DisposableBase | None = None
        self.timer: abc.DisposableBase | None = None


_REFRESHING: Final = _Refreshing()


def _is_settled(state: _State) -> bool:
    return not isinstance(state, _Refreshing)


@final
class AuthService:
    """Keeps the tokens and refreshes them, one refresh at a time.

    ```python
    auth = AuthService(
        OAuth2RefreshTokenGrant("https://auth.example.com/token", client_id="app"),
        MemoryTokenStore(Tokens(access, refresh, expires_at=...)),
    )
    client = HttpClient(backend, interceptors=[AuthInterceptor(auth, ...)])
    ```

    `skew` refreshes a token that expires within that many seconds before
    sending with it. `refresh_timeout` bounds a refresh, in seconds, store
    included. `clock` tells the time that `Tokens.expires_at` counts in.
    `scheduler` runs the timeout (a `TestScheduler` in tests); by default
    it is the running event loop, or a timer thread when there is none.
    """

    def __init__(
        self,
        refresher: Refresher,
        store: TokenStore,
        *,
        skew: float = 30.0,
        refresh_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        scheduler: abc.SchedulerBase | None = None,
    ) -> None:
        if not callable(refresher):
            raise TypeError("refresher must be callable as (tokens, next)")
        if skew < 0:
            raise ValueError(f"skew must be zero or more seconds, got {skew!r}")
        if refresh_timeout <= 0:
            raise ValueError(
                f"refresh_timeout must be a positive number, got {refresh_timeout!r}"
            )
        self.store = store
        self._refresher = refresher
        self._skew = skew
        self._refresh_timeout = refresh_timeout
        self._clock = clock
        self._scheduler = scheduler

        # Held while deciding who refreshes and while publishing the outcome,
        # so that neither two starts nor two outcomes can interleave.
        self._lock = threading.RLock()
        self._refresh_in_progress = False
        self._refresh_token_subject = _StateSubject(_REFRESHING)
        self._current: Generation | None = None  # None until the store is read
        self._job: _Job | None = None
        self._last_error: RefreshError | None = None
        self._events = Subject[AuthEvent]()

    @property
    def events(self) -> Observable[AuthEvent]:
        """Every refresh as it happens; see `rx_auth.auth.AuthEvent`."""
        return self._events

    @property
    def tokens(self) -> Tokens | None:
        """The tokens in use, or `None` before the store is read or after logout."""
        current = self._current
        return current.tokens if current else None

    async def sign_in(self, tokens: Tokens) -> None:
        """Store `tokens` from a sign-in; requests send with them from now on.

        Saving to the store directly works too, but the service would learn
        of the new tokens only at the next 401.
        """
        async with self.store.lock():
            await self.store.save(tokens)
        self._adopt(tokens)

    async def sign_out(self) -> None:
        """Forget the tokens, here and in the store, and emit `LoggedOut`."""
        async with self.store.lock():
            await self.store.clear()
        self._adopt(None)
        self._emit(LoggedOut(time.monotonic()))
        logger.info("logged out")

    def _adopt(self, tokens: Tokens | None) -> None:
        """Make `tokens` current, as a settled refresh would; under the lock."""
        with self._lock:
            previous = self._current
            settled = previous.settled + 1 if previous else 1
            due = self._refresh_due(tokens, just_issued=False)
            self._current = Generation(tokens, settled, due)
            self._last_error = None
            # A refresh that finished under the store's lock just before is
            # superseded: its waiters retry with these tokens instead.
            job, self._job = self._job, None
            self._refresh_in_progress = False
            if job is not None and job.timer is not None:
                job.timer.dispose()
            self._refresh_token_subject.on_next(_Ready(self._current))

    def current(self) -> Generation | None:
        """The generation to send with now, or `None` if one must come first.

        `None` means the store has not been read yet, or the token expires
        within `skew` seconds: call `ready` and send with what it emits.
        """
        current = self._current
        if current is None:
            return None
        if current.refresh_at is not None and self._clock() >= current.refresh_at:
            return None
        return current

    def ready(self, request: HttpRequest, next: HttpHandler) -> Observable[Generation]:
        """The generation to send `request` with, once the store is read and
        an expiring token refreshed (the same single flight as for a 401)."""

        def decide() -> Observable[Generation]:
            with self._lock:
                current = self._current
                if self._refresh_in_progress:
                    self._queue(request)
                elif current is None:
                    self._start(None, request, next, reason=None)
                elif self.current() is None:
                    self._start(current, request, next, reason="expired")
                else:
                    return just(current)
            return self._refresh_token_subject.pipe(
                filter(_is_settled),
                take(1),
                flat_map(partial(self._generation_for, request)),
            )

        return Deferred(decide)

    def handle_401_error(
        self,
        request: HttpRequest,
        next: HttpHandler,
        *,
        sent_with: Generation | None = None,
    ) -> Observable[HttpEvent]:
        """Refresh once for every request that got a 401, then retry each.

        `request` got the 401 after being sent with `sent_with` (by default,
        the current generation). The retry goes to `next` with the current
        token; if it gets a 401 too, that error reaches the caller.
        """

        def decide() -> Observable[HttpEvent]:
            with self._lock:
                states = self._states_for(request, next, sent_with or self._current)
            return states.pipe(
                filter(_is_settled),
                take(1),
                flat_map(partial(self._retry, request, next)),
            )

        return Deferred(decide)

    def _states_for(
        self, request: HttpRequest, next: HttpHandler, sent: Generation | None
    ) -> Observable[_State]:
        """Where a 401'd request learns what to do; called under the lock."""
        current = self._current
        if self._refresh_in_progress:
            self._queue(request)
            return self._refresh_token_subject

        if current is not None and sent is not None and current.settled != sent.settled:
            # A refresh settled after this request went out: its outcome
            # answers this 401 too, and no new refresh is started.
            error = self._last_error
            if error is not None and current.tokens in (sent.tokens, None):
                return just(_Failed(error))
            if current.tokens != sent.tokens:
                return just(_Ready(current))

        self._start(sent, request, next, reason="unauthorized")
        return self._refresh_token_subject

    def _queue(self, request: HttpRequest) -> None:
        # Waiting for the first read of the store is not worth an event.
        if self._job is not None and self._job.reason is not None:
            self._emit(RequestQueued(time.monotonic(), request.id))
            logger.debug("request #%s waits for the refresh in flight", request.id)

    def _generation_for(
        self, request: HttpRequest, state: _State
    ) -> Observable[Generation]:
        """The generation a request waiting in `ready` is sent with."""
        if isinstance(state, _Ready):
            return just(state.generation)
        assert isinstance(state, _Failed)
        current = self._current
        tokens = current.tokens if current else None
        if (
            isinstance(state.error, RefreshUnavailable)
            and tokens is not None
            and not tokens.expires_within(0.0, now=self._clock())
        ):
            # Refreshing early failed for now, but the token has not expired
            # yet: send with it rather than fail a request that may succeed.
            assert current is not None
            return just(current)
        return throw(state.error.for_request(request))

    def _retry(
        self, request: HttpRequest, next: HttpHandler, state: _State
    ) -> Observable[HttpEvent]:
        if isinstance(state, _Failed):
            return throw(state.error.for_request(request))
        assert isinstance(state, _Ready)
        self._emit(RequestRetried(time.monotonic(), request.id))
        logger.debug("request #%s is retried with the current token", request.id)
        return next.handle(authorize(request, state.generation.tokens))

    def _start(
        self,
        sent: Generation | None,
        request: HttpRequest,
        next: HttpHandler,
        *,
        reason: _JobReason,
    ) -> None:
        """Flip the flag and start the job; called under the lock."""
        self._refresh_in_progress = True
        self._refresh_token_subject.on_next(_REFRESHING)
        if reason is not None:
            self._announce_start(request, reason)

        job = _Job(reason)
        self._job = job
        work = self._refresh_under_lock(
            job, sent.tokens if sent else None, request, _SkippingAuth(next)
        )
        job.running = start_job(work, partial(self._finish, job))
        if self._job is job:  # a job that finished at once has nothing to time
            job.timer = self._timer_scheduler().schedule_relative(
                self._refresh_timeout, partial(self._time_out, job)
            )

    async def _refresh_under_lock(
        self,
        job: _Job,
        sent: Tokens | None,
        request: HttpRequest,
        next: HttpHandler,
    ) -> tuple[Tokens | None, bool]:
        """The job: the tokens to use, and whether a refresh call made them."""
        async with self.store.lock():
            stored = await self.store.load()
            if job.reason is None:
                job.loaded = stored
                if not self._expiring(stored):
                    return stored, False
                self._announce_start(request, "expired")
            elif stored is not None and stored != sent:
                return stored, False  # another holder of the lock refreshed
            if stored is None or stored.refresh_token is None:
                raise RefreshRejected("there is no refresh token to refresh with")

            try:
                fresh = await first_value(self._refresher(stored, next))
            except Exception as error:
                failure = as_refresh_error(error)
                if isinstance(failure, RefreshRejected):
                    # A holder that lost the lock (its loop stalled past a
                    # lock timeout) may have saved newer tokens meanwhile.
                    latest = await self.store.load()
                    if latest is not None and latest != stored:
                        return latest, False
                    await self.store.clear()
                raise failure from error
            await self.store.save(fresh)
            return fresh, True

    def _finish(
        self,
        job: _Job,
        result: tuple[Tokens | None, bool] | None,
        error: BaseException | None,
    ) -> None:
        if error is None:
            assert result is not None
            tokens, refreshed = result
            self._settle(job, tokens, None, refreshed=refreshed)
        elif isinstance(error, Exception):
            self._settle(job, None, as_refresh_error(error), refreshed=False)
        # A job is cancelled only once it has been settled (by its timeout).

    def _time_out(self, job: _Job, *_: Any) -> None:
        seconds = self._refresh_timeout
        failure = RefreshTimeout(f"the refresh did not finish within {seconds} s")
        if self._settle(job, None, failure, refreshed=False) and job.running:
            job.running.dispose()

    def _settle(
        self,
        job: _Job,
        tokens: Tokens | None,
        error: RefreshError | None,
        *,
        refreshed: bool,
    ) -> bool:
        """Publish a job's outcome, once; False if it was settled already."""
        with self._lock:
            if self._job is not job:
                return False
            self._job = None
            self._refresh_in_progress = False
            if job.timer is not None:
                job.timer.dispose()
            previous = self._current
            settled = previous.settled + 1 if previous else 1

            state: _State
            if error is None:
                due = self._refresh_due(tokens, just_issued=refreshed)
                self._current = Generation(tokens, settled, due)
                self._last_error = None
                state = _Ready(self._current)
                if refreshed or job.reason is not None:
                    self._announce_success(refreshed)
            else:
                logged_out = isinstance(error, RefreshRejected)
                if previous is None and job.loaded is not None:
                    previous = Generation(
                        job.loaded, 0, self._refresh_due(job.loaded, just_issued=False)
                    )
                kept = None if logged_out else previous
                self._current = Generation(
                    kept.tokens if kept else None,
                    settled,
                    kept.refresh_at if kept else None,
                )
                self._last_error = error
                state = _Failed(error)
                had_tokens = previous is not None and previous.tokens is not None
                self._announce_failure(error, logged_out and had_tokens)
            self._refresh_token_subject.on_next(state)
            return True

    def _announce_start(self, request: HttpRequest, reason: RefreshReason) -> None:
        self._emit(RefreshStarted(time.monotonic(), request.id, reason))
        logger.info("refresh started by request #%s (%s)", request.id, reason)

    def _announce_success(self, refreshed: bool) -> None:
        self._emit(RefreshSucceeded(time.monotonic(), refreshed))
        if refreshed:
            logger.info("refresh succeeded")
        else:
            logger.info("refresh skipped: the store already holds newer tokens")

    def _announce_failure(self, error: RefreshError, logged_out: bool) -> None:
        now = time.monotonic()
        self._emit(RefreshFailed(now, type(error).__name__, str(error)))
        logger.info("refresh failed: %s: %s", type(error).__name__, error)
        if logged_out:
            self._emit(LoggedOut(now))
            logger.info("logged out: the refresh token was rejected")

    def _refresh_due(self, tokens: Tokens | None, *, just_issued: bool) -> float | None:
        """When to refresh `tokens` before sending with them."""
        if tokens is None or tokens.expires_at is None:
            return None
        skew = self._skew
        if just_issued:
            # A token that lives less than the skew would otherwise be
            # refreshed before every request: refresh it halfway instead.
            skew = min(skew, (tokens.expires_at - self._clock()) / 2)
        return tokens.expires_at - skew

    def _expiring(self, tokens: Tokens | None) -> bool:
        return tokens is not None and tokens.expires_within(
            self._skew, now=self._clock()
        )

    def _timer_scheduler(self) -> abc.SchedulerBase:
        if self._scheduler is not None:
            return self._scheduler
        try:
            return AsyncIOThreadSafeScheduler(asyncio.get_running_loop())
        except RuntimeError:
            return TimeoutScheduler.singleton()

    def _emit(self, event: AuthEvent) -> None:
        self._events.on_next(event)


class _StateSubject(BehaviorSubject[_State]):
    """The service's `BehaviorSubject`, subscribed without reactivex's
    trampoline: every waiting request subscribes to it."""

    def subscribe(
        self,
        on_next: abc.ObserverBase[_State] | abc.OnNext[_State] | None = None,
        on_error: abc.OnError | None = None,
        on_completed: abc.OnCompleted | None = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        return subscribe_directly(self, on_next, on_error, on_completed, scheduler)


@final
class _SkippingAuth:
    """`next`, with `SKIP_AUTH` set on every request it handles.

    The refresh call must never be authorized or 401-handled by an auth
    interceptor further in, whatever refresher built it.
    """

    __slots__ = ("_next",)

    def __init__(self, next: HttpHandler) -> None:
        self._next = next

    def handle(self, request: HttpRequest) -> Observable[HttpEvent]:
        if not request.context.get(SKIP_AUTH):
            request = request.clone(context=request.context.set(SKIP_AUTH, True))
        return self._next.handle(request)

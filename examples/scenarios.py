"""The race scenarios, run against `rx_auth` or the naive port of the lesson.

Each run starts its own `AuthServer` on 127.0.0.1, fires the lesson's
parallel calls on an expired token, notes everything it observes, and
stops once every caller has its answer and no refresh is in flight, or
once nothing at all has happened for `wait` seconds: the callers still
without an answer are then reported as still waiting. Nothing here prints;
a run hands each observation to `note` as it happens.

- `expired`: the server has expired the token, and the client cannot know.
- `refresh-fails`: the server refuses the refresh token (`invalid_grant`).
- `cancel-first`: the caller whose 401 started the refresh leaves at once.
- `late-401`: one more request, to a slow endpoint, gets its 401 only
  after the refresh has finished.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Final, Literal, TypeAlias, get_args

import aiohttp
from reactivex import Observable, abc

from examples.auth_server import AuthServer, Counters
from examples.naive_port import NaiveAuthInterceptor, NaiveAuthService
from examples.narration import Narrator, Tally
from examples.recording import (
    Began,
    Done,
    Failed,
    Left,
    Observation,
    Recorder,
    StillWaiting,
)
from rx_auth import (
    AiohttpBackend,
    AuthEvent,
    AuthInterceptor,
    AuthService,
    HttpClient,
    HttpRequest,
    JsonRefreshEndpoint,
    MemoryTokenStore,
    RefreshFailed,
    RefreshStarted,
    RefreshSucceeded,
    Tokens,
)

__all__ = [
    "PORTS",
    "SCENARIOS",
    "Check",
    "Port",
    "Run",
    "Scenario",
    "checks",
    "problems",
    "run_scenario",
]

Scenario: TypeAlias = Literal["expired", "refresh-fails", "cancel-first", "late-401"]
Port: TypeAlias = Literal["rx_auth", "naive"]
SCENARIOS: Final[tuple[Scenario, ...]] = get_args(Scenario)
PORTS: Final[tuple[Port, ...]] = get_args(Port)

REFRESH_PATH: Final = "/api/auth/refresh"
_LESSON_CALLS: Final = (
    ("user data", "/api/user"),
    ("notifications", "/api/notifications"),
    ("settings", "/api/settings"),
)
_SLOW_CALL: Final = ("slow report", "/api/slow")
_GIVE_UP: Final = 60.0  # seconds: a bound on a run, whatever keeps it busy


@dataclass
class Run:
    """What one scenario run observed, and what the server counted."""

    port: Port
    scenario: Scenario
    callers: int
    observations: list[Observation]
    counters: Counters
    refreshed: bool  # the client ended with other tokens than it began with

    @cached_property
    def tally(self) -> Tally:
        """The run counted: requests queued, retried, done, failed, ..."""
        narrator = Narrator(detail=False)
        for observation in self.observations:
            narrator.feed(observation)
        return narrator.tally


async def run_scenario(
    port: Port,
    scenario: Scenario,
    *,
    requests: int = 3,
    wait: float = 2.0,
    note: Callable[[Observation], None] | None = None,
) -> Run:
    """Run `scenario` with `requests` parallel calls through `port`'s client."""
    if requests < 1:
        raise ValueError(f"requests must be at least 1, got {requests}")
    refusing = scenario == "refresh-fails"
    server = AuthServer(refresh_mode="invalid_grant" if refusing else "rotate")
    issued = server.issue(expired=True)
    log = _Log(note)

    async with server.running() as base, aiohttp.ClientSession() as session:
        wiring = _wire(port, base, session, issued, log)
        calls = _calls_for(scenario, requests, base)
        race = _Race(log, wiring.client, asyncio.get_running_loop())
        _react(scenario, wiring.events, race, server)
        race.fire(calls)
        await race.settle(wait)

    return Run(
        port,
        scenario,
        len(calls),
        log.observations,
        server.counters,
        refreshed=wiring.access_token() not in (None, issued.access_token),
    )


class _Log:
    """Every observation of a run, in order, each handed on to `note`."""

    def __init__(self, note: Callable[[Observation], None] | None) -> None:
        self.observations: list[Observation] = []
        self._note = note
        self._listeners: list[Callable[[Observation], None]] = []

    def __call__(self, observation: Observation) -> None:
        self.observations.append(observation)
        if self._note is not None:
            self._note(observation)
        for listener in self._listeners:
            listener(observation)

    def listen(self, listener: Callable[[Observation], None]) -> None:
        self._listeners.append(listener)


@dataclass
class _Wiring:
    client: HttpClient
    events: Observable[AuthEvent]
    access_token: Callable[[], str | None]


def _wire(
    port: Port,
    base: str,
    session: aiohttp.ClientSession,
    issued: Tokens,
    log: _Log,
) -> _Wiring:
    """The client of `port`, with the recorder after its auth interceptor."""
    backend = AiohttpBackend(session, timeout=10)
    recorder = Recorder(log, refresh_path=REFRESH_PATH)
    if port == "naive":
        naive = NaiveAuthService(base + REFRESH_PATH, issued)
        client = HttpClient(backend, [NaiveAuthInterceptor(naive), recorder])
        naive.events.subscribe(log)
        return _Wiring(client, naive.events, partial(_naive_access_token, naive))

    auth = AuthService(
        JsonRefreshEndpoint(base + REFRESH_PATH), MemoryTokenStore(issued)
    )
    interceptor = AuthInterceptor(auth, allowed_origins=[base])
    auth.events.subscribe(log)
    client = HttpClient(backend, [interceptor, recorder])
    return _Wiring(client, auth.events, partial(_access_token, auth))


def _naive_access_token(naive: NaiveAuthService) -> str | None:
    return naive.access_token


def _access_token(auth: AuthService) -> str | None:
    tokens = auth.tokens
    return tokens.access_token if tokens else None


def _calls_for(scenario: Scenario, count: int, base: str) -> list[tuple[str, str]]:
    """(lane label, URL) per call: the lesson's three, round and round."""
    calls = []
    for index in range(count):
        label, path = _LESSON_CALLS[index % len(_LESSON_CALLS)]
        if index >= len(_LESSON_CALLS):
            label = f"{label} {index // len(_LESSON_CALLS) + 1}"
        calls.append((label, base + path))
    if scenario == "late-401":
        label, path = _SLOW_CALL
        calls.append((label, base + path))
    return calls


class _Race:
    """The callers: subscribed together, then waited for, within a bound."""

    def __init__(
        self, log: _Log, client: HttpClient, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.log = log
        self.client = client
        self.loop = loop
        self.leaver: int | None = None  # the caller who will leave early
        self._subscriptions: dict[int, abc.DisposableBase] = {}
        self._unanswered: set[int] = set()
        self._fired = False
        self._refreshes_open = 0
        self._quiet = asyncio.Event()
        self._stirred = asyncio.Event()  # set by every observation
        log.listen(self._watch)

    def fire(self, calls: list[tuple[str, str]]) -> None:
        for label, url in calls:
            request = HttpRequest("GET", url)
            self._unanswered.add(request.id)
            self.log(Began(time.monotonic(), request.id, label))
            self._subscriptions[request.id] = self.client.send(request).subscribe(
                on_error=partial(self._failed, request.id),
                on_completed=partial(self._done, request.id),
            )
        self._fired = True
        self._check_quiet()

    def leave(self, request_id: int) -> None:
        """The caller of `request_id` disposes of its subscription."""
        if self._answered(request_id):
            self._subscriptions[request_id].dispose()
            self.log(Left(time.monotonic(), request_id))

    async def settle(self, wait: float) -> None:
        """Wait until all is quiet; give up on the rest once nothing has
        happened for `wait` seconds (or after `_GIVE_UP` seconds in all)."""
        began = time.monotonic()
        give_up = self.loop.time() + _GIVE_UP
        while not self._quiet.is_set():
            self._stirred.clear()
            seen = len(self.log.observations)
            timeout = max(min(wait, give_up - self.loop.time()), 0.0)
            try:
                await asyncio.wait_for(self._stirred.wait(), timeout)
            except TimeoutError:
                # A busy loop can run the timeout before the wake-up that
                # was due with it; only a run that made no progress is stuck.
                if len(self.log.observations) == seen or timeout == 0.0:
                    break

        for request_id in sorted(self._unanswered):
            self._subscriptions[request_id].dispose()
            waited = time.monotonic() - began
            self.log(StillWaiting(time.monotonic(), request_id, waited))
        self._unanswered.clear()

    def _done(self, request_id: int) -> None:
        if self._answered(request_id):
            self.log(Done(time.monotonic(), request_id))

    def _failed(self, request_id: int, error: Exception) -> None:
        if self._answered(request_id):
            name, message = type(error).__name__, str(error)
            self.log(Failed(time.monotonic(), request_id, name, message))

    def _answered(self, request_id: int) -> bool:
        """Count `request_id` as answered; False if it was already."""
        if request_id not in self._unanswered:
            return False
        self._unanswered.discard(request_id)
        return True

    def _watch(self, observation: Observation) -> None:
        if isinstance(observation, RefreshStarted):
            self._refreshes_open += 1
        elif isinstance(observation, RefreshSucceeded | RefreshFailed):
            self._refreshes_open -= 1
        self._check_quiet()
        self._stirred.set()

    def _check_quiet(self) -> None:
        # Quiet: every caller has its answer and no refresh is still running,
        # so a refresh that outlives its callers is seen to its end.
        if self._fired and not self._unanswered and self._refreshes_open <= 0:
            self._quiet.set()
            self._stirred.set()


def _react(
    scenario: Scenario, events: Observable[AuthEvent], race: _Race, server: AuthServer
) -> None:
    """What the scenario does in answer to the client's events."""

    def on_event(event: AuthEvent) -> None:
        starter = event.request_id if isinstance(event, RefreshStarted) else None
        if scenario == "cancel-first" and starter is not None and race.leaver is None:
            # Just after the event, not inside it: the refresh is under way
            # when its starter's caller disposes of its subscription.
            race.leaver = starter
            race.loop.call_soon(race.leave, starter)
        if scenario == "late-401" and isinstance(event, RefreshSucceeded):
            server.release_slow()

    events.subscribe(on_event)


@dataclass(frozen=True)
class Check:
    """One thing `rx_auth` must do in a scenario, and whether it did."""

    description: str
    held: bool


def checks(run: Run) -> list[Check]:
    """What `rx_auth` must do in `run.scenario`, and whether it did."""
    t = run.tally
    n = run.callers
    found = [
        Check(f"one refresh call for {n} requests", run.counters.refresh_calls == 1),
        Check(
            "no refresh token presented twice", run.counters.reused_refresh_tokens == 0
        ),
        Check("no request left waiting", t.still_waiting == 0),
    ]
    if run.scenario == "expired":
        found.append(Check(f"all {n} requests succeed", t.done == n))
    elif run.scenario == "refresh-fails":
        rejected = t.failed["RefreshRejected"]
        found.append(
            Check(f"all {n} requests fail with RefreshRejected", rejected == n)
        )
    elif run.scenario == "cancel-first":
        found += [
            Check("the caller that started the refresh left", t.left == 1),
            Check(f"the other {n - 1} requests succeed", t.done == n - 1),
            Check("the refresh finished and its tokens are in use", run.refreshed),
        ]
    else:
        found += [
            Check(f"all {n} requests succeed", t.done == n),
            Check("a late 401 is retried without a refresh", t.late_retried >= 1),
        ]
    return found


def problems(run: Run) -> list[str]:
    """What went wrong in `run`, in a few words each, as the server and events tell."""
    t = run.tally
    found = []
    if t.still_waiting:
        found.append(f"{t.still_waiting} still waiting after {t.waited:.0f} s")
    if t.started > t.settled:
        found.append("a refresh never finished, its flag stuck")
    if t.started > 1:
        found.append(f"{t.started} refreshes for one expired token")
    if run.counters.reused_refresh_tokens:
        found.append(f"{run.counters.reused_refresh_tokens} reused refresh tokens")
    return found

"""Random schedules in virtual time: whatever the order, the invariants hold.

Each example is a schedule of steps: requests arriving (to the API or to an
origin that must never see a token), 401s including late ones for old
tokens, the refresh answered with new tokens, `invalid_grant`, a 5xx, or
not at all, callers leaving, and time passing (expiries, the refresh
timeout). After the schedule, whatever is still waiting is answered, and:

- at most one refresh is in flight at any moment;
- a 401 starts a refresh only if its request was sent after the previous
  refresh settled (otherwise that refresh's outcome answers it);
- every request that was not cancelled has ended, with a value or a typed
  error;
- no request is sent more than twice (once, and one retry);
- no request to an origin outside `allowed_origins` carries a token.

`RX_AUTH_LONG=1` runs 10,000 schedules instead of 600.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hypothesis import example, given, settings
from hypothesis import strategies as st
from reactivex import Observable, abc

from rx_auth import (
    AuthEvent,
    HttpErrorResponse,
    HttpEvent,
    HttpHandler,
    HttpRequest,
    RefreshError,
    RefreshFailed,
    RefreshStarted,
    RefreshSucceeded,
    Tokens,
)

from .auth_support import TOKEN_URL, USER, Harness, Outcome

OTHER = "https://elsewhere.example.org/feed"
LONG = os.environ.get("RX_AUTH_LONG") == "1"

Step = tuple[str, int]

steps = st.one_of(
    st.tuples(st.sampled_from(["send", "send", "send_other"]), st.just(0)),
    st.tuples(st.sampled_from(["ok", "401", "401", "cancel"]), st.integers(0, 3)),
    st.tuples(
        st.sampled_from(["refresh_ok", "refresh_rejected", "refresh_down"]),
        st.sampled_from([0, 5, 3600]),  # expires_in of new tokens; 0: not given
    ),
    st.tuples(st.just("advance"), st.sampled_from([1, 4, 11, 60])),
)


@dataclass
class Run:
    """One schedule being played, and what it saw."""

    h: Harness
    outcomes: list[Outcome] = field(default_factory=list)
    subscriptions: list[abc.DisposableBase] = field(default_factory=list)
    cancelled: set[int] = field(default_factory=set)
    timeline: list[tuple[str, int]] = field(default_factory=list)
    issued: int = 0

    def play(self, step: Step) -> None:
        action, value = step
        if action in ("send", "send_other"):
            self.send(USER if action == "send" else OTHER)
        elif action == "cancel" and self.subscriptions:
            index = value % len(self.subscriptions)
            self.cancelled.add(index)
            self.subscriptions[index].dispose()
        elif action in ("ok", "401"):
            self.answer_api(value, ok=action == "ok")
        elif action.startswith("refresh_"):
            self.answer_refresh(action, value)
        elif action == "advance":
            self.h.scheduler.advance_by(float(value))
        assert len(self.h.backend.match(TOKEN_URL)) <= 1, "two refreshes in flight"

    def send(self, url: str) -> None:
        outcome = Outcome()
        self.outcomes.append(outcome)
        self.subscriptions.append(self.h.subscribe(self.h.client.get(url), outcome))

    def answer_api(self, index: int, *, ok: bool) -> None:
        waiting = self.h.backend.match(USER) + self.h.backend.match(OTHER)
        if not waiting:
            return
        pending = waiting[index % len(waiting)]
        if ok:
            pending.flush({"ok": True})
        else:
            pending.flush(None, status=401)

    def answer_refresh(self, action: str, expires_in: int) -> None:
        waiting = self.h.backend.match(TOKEN_URL)
        if not waiting:
            return
        if action == "refresh_ok":
            self.issued += 1
            body: dict[str, object] = {
                "access_token": f"access-{self.issued}",
                "refresh_token": f"refresh-{self.issued}",
            }
            if expires_in:
                body["expires_in"] = expires_in
            waiting[0].flush(body)
        elif action == "refresh_rejected":
            waiting[0].flush({"error": "invalid_grant"}, status=400)
        else:
            waiting[0].flush(None, status=503)

    def drain(self) -> None:
        """Answer everything still waiting, with success, within a bound."""
        for _ in range(1000):
            if self.h.backend.match(TOKEN_URL):
                self.answer_refresh("refresh_ok", 3600)
            elif self.h.backend.pending:
                self.h.backend.pending[0].flush({"ok": True})
            else:
                return
        raise AssertionError("requests kept coming while draining")


def start(tokens: Tokens) -> Run:
    """A run whose timeline interleaves sends (seen inside auth) and events."""
    timeline: list[tuple[str, int]] = []

    def record_send(request: HttpRequest, next: HttpHandler) -> Observable[HttpEvent]:
        timeline.append(("send", request.id))
        return next.handle(request)

    def record_event(event: AuthEvent) -> None:
        if isinstance(event, RefreshStarted):
            timeline.append(("started", event.request_id or 0))
        elif isinstance(event, RefreshSucceeded | RefreshFailed):
            timeline.append(("settled", 0))

    run = Run(Harness(tokens, inner=[record_send]), timeline=timeline)
    run.h.auth.events.subscribe(record_event)
    return run


def check_refresh_starts(run: Run) -> None:
    """A 401 starts a refresh only when sent after the last one settled."""
    last_settle = -1
    last_send: dict[int, int] = {}
    for position, (kind, request_id) in enumerate(run.timeline):
        if kind == "send":
            last_send[request_id] = position
        elif kind == "settled":
            last_settle = position
        elif kind == "started" and request_id in last_send:
            assert last_send[request_id] > last_settle, (
                f"request #{request_id} sent before the last refresh settled"
                " started another one"
            )


def check_sends(run: Run) -> None:
    sends: dict[int, int] = {}
    for request in run.h.backend.requests:
        if request.url != TOKEN_URL:
            sends[request.id] = sends.get(request.id, 0) + 1
        if request.url == OTHER:
            assert "Authorization" not in request.headers
    assert max(sends.values(), default=0) <= 2, "a request was sent three times"


def check_endings(run: Run) -> None:
    for index, outcome in enumerate(run.outcomes):
        if index in run.cancelled:
            continue
        assert outcome.settled, f"request {index} never ended"
        if outcome.error is not None:
            assert isinstance(outcome.error, RefreshError | HttpErrorResponse)


LATE_401: list[Step] = [
    ("send", 0),
    ("send", 0),
    ("401", 0),
    ("refresh_ok", 0),
    ("401", 0),
]
FAILED_THEN_LATE: list[Step] = [
    ("send", 0),
    ("send", 0),
    ("401", 0),
    ("refresh_down", 0),
    ("401", 0),
    ("send", 0),
    ("401", 1),
]


@settings(max_examples=10_000 if LONG else 600, deadline=None)
@example(schedule=LATE_401, initial_expires_at=None)
@example(schedule=FAILED_THEN_LATE, initial_expires_at=None)
@given(
    schedule=st.lists(steps, min_size=4, max_size=40),
    initial_expires_at=st.sampled_from([None, 10.0, 1000.0]),
)
def test_every_schedule_keeps_the_invariants(
    schedule: list[Step], initial_expires_at: float | None
) -> None:
    run = start(Tokens("access-0", "refresh-0", expires_at=initial_expires_at))

    for step in schedule:
        run.play(step)
    run.drain()

    check_refresh_starts(run)
    check_sends(run)
    check_endings(run)

"""The lesson's five steps, told from what a run actually did.

`Narrator` reads observations (see `examples.recording`) one at a time and
answers each with the lines it deserves, so the demo can print them as
they happen; `narrate` does the same for a finished list. Nothing here
knows what a scenario is meant to do: a second `RefreshStarted` is told as
a second refresh, a `RefreshFailed` as a failure, a caller with no answer
as one still waiting.

The steps follow the lesson's "Visualizing the Flow": (1) the first 401
starts the refresh, (2) the next one queues, (3) so do the others, (4) the
refresh completes, (5) the queue is released and every request retried.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from examples.auth_server import Counters
from examples.recording import (
    REFRESH_LANE,
    Answered,
    Began,
    Done,
    Dropped,
    Failed,
    Left,
    Observation,
    Sent,
    StillWaiting,
)
from rx_auth import (
    LoggedOut,
    RefreshFailed,
    RefreshStarted,
    RefreshSucceeded,
    RequestQueued,
    RequestRetried,
)

__all__ = ["Narrator", "Tally", "narrate"]

_ORDINALS = ("first", "second", "third", "fourth", "fifth")


class _AboutARequest(Protocol):
    @property
    def at(self) -> float: ...

    @property
    def request_id(self) -> int: ...


@dataclass
class Tally:
    """What a run came to, counted from its observations."""

    requests: int = 0
    unauthorized: int = 0
    started: int = 0
    settled: int = 0
    queued: int = 0
    retried: int = 0
    late_retried: int = 0
    done: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    left: int = 0
    still_waiting: int = 0
    waited: float = 0.0
    start: float | None = None
    end: float | None = None

    @property
    def elapsed(self) -> float:
        if self.start is None or self.end is None:
            return 0.0
        return self.end - self.start


class Narrator:
    """Turns observations into lines, one observation at a time.

    With `detail=False` (for hundreds of requests) it tells each refresh and
    the first request at each step, and leaves the rest to `summary`.
    """

    def __init__(self, *, detail: bool = True) -> None:
        self.detail = detail
        self.tally = Tally()
        self._lanes: dict[int, str] = {}
        self._refresh_in_flight = False
        self._awaiting_route: set[int] = set()  # got a 401, not yet queued
        self._routed: set[int] = set()  # started or joined the refresh
        self._released = False
        self._late_told = False

    def feed(self, observation: Observation) -> list[str]:
        """The lines that tell `observation`, possibly none."""
        self._clock(observation.at)
        match observation:
            case Began():
                return self._began(observation)
            case Sent():
                return self._sent(observation)
            case Answered():
                return self._answered(observation)
            case Dropped():
                return self._dropped(observation)
            case RefreshStarted():
                return self._refresh_started(observation)
            case RequestQueued():
                return self._queued(observation)
            case RefreshSucceeded():
                return self._refresh_succeeded(observation)
            case RefreshFailed():
                return self._refresh_failed(observation)
            case LoggedOut():
                return [self._line(observation.at, REFRESH_LANE, _LOGGED_OUT)]
            case RequestRetried():
                return self._retried(observation)
            case Done() | Failed() | Left() | StillWaiting():
                return self._outcome(observation)
        return []

    def summary(self, counters: Counters) -> list[str]:
        """Closing lines: what the requests came to, and what the server saw."""
        t = self.tally
        failed = sum(t.failed.values())
        kinds = ", ".join(f"{n} {name}" for name, n in sorted(t.failed.items()))
        lines = [
            f"requests: {t.requests} sent, {t.unauthorized} got 401,"
            f" {t.started} started a refresh, {t.queued} queued,"
            f" {t.retried} retried",
            f"outcome:  {t.done} succeeded, {failed} failed"
            + (f" ({kinds})" if kinds else "")
            + f", {t.left} left, {t.still_waiting} still waiting,"
            f" in {_duration(t.elapsed)}",
            f"server:   {_calls(counters.refresh_calls)},"
            f" {counters.reused_refresh_tokens} reused refresh tokens,"
            f" {counters.api_unauthorized} refused with 401,"
            f" {counters.api_ok} answered 200",
        ]
        if t.still_waiting:
            lines.append(
                f"!! {t.still_waiting} still waiting after {t.waited:.0f} s:"
                " nothing released them"
            )
        if t.late_retried and not self.detail:
            lines.append(
                f"{t.late_retried} late 401s were retried with the current token,"
                " without a refresh"
            )
        return lines

    # The observations, one kind at a time.

    def _began(self, began: Began) -> list[str]:
        self._lanes[began.request_id] = began.label
        self.tally.requests += 1
        return []

    def _sent(self, sent: Sent) -> list[str]:
        if sent.refresh_call:
            return [self._line(sent.at, REFRESH_LANE, f"{sent.method} {sent.path}")]
        token = f"with {sent.token}" if sent.token else "without a token"
        again = " again" if sent.request_id in self._routed else ""
        return self._detail(sent, f"{sent.method} {sent.path}, sent{again} {token}")

    def _answered(self, answered: Answered) -> list[str]:
        if answered.refresh_call:
            text = f"the token endpoint answered {_status(answered.status)}"
            return [self._line(answered.at, REFRESH_LANE, text)]
        if answered.status == 401:
            self.tally.unauthorized += 1
            self._awaiting_route.add(answered.request_id)
            self._routed.discard(answered.request_id)
        return self._detail(answered, _status(answered.status))

    def _dropped(self, dropped: Dropped) -> list[str]:
        if dropped.refresh_call:
            text = "!! the refresh call was cancelled before it was answered"
            return [self._line(dropped.at, REFRESH_LANE, text)]
        return self._detail(dropped, "the call was cancelled")

    def _refresh_started(self, started: RefreshStarted) -> list[str]:
        self.tally.started += 1
        rid = started.request_id
        if rid is not None:
            self._awaiting_route.discard(rid)
            self._routed.add(rid)
        lane = self._lane(rid) if rid is not None else REFRESH_LANE
        text = self._why_refresh(started)
        self._refresh_in_flight = True
        return [self._line(started.at, lane, text)]

    def _why_refresh(self, started: RefreshStarted) -> str:
        if started.reason == "expired":
            cause = "the token is about to expire, so it refreshes before sending"
        else:
            cause = "no refresh in flight, so this request starts one"
        if self.tally.started == 1:
            return f"step 1: {cause}"
        nth = _ordinal(self.tally.started)
        if self._refresh_in_flight:
            return f"!! a {nth} refresh started while one was still in flight"
        return (
            f"!! a {nth} refresh started: this 401 came after the last refresh"
            " had finished"
        )

    def _queued(self, queued: RequestQueued) -> list[str]:
        self.tally.queued += 1
        self._awaiting_route.discard(queued.request_id)
        self._routed.add(queued.request_id)
        if self.tally.queued == 1:
            text = "step 2: a refresh is in flight, so it waits in the queue"
            return [self._line(queued.at, self._lane(queued.request_id), text)]
        return self._detail(queued, "step 3: queued as well")

    def _refresh_succeeded(self, succeeded: RefreshSucceeded) -> list[str]:
        self._refresh_in_flight = False
        self.tally.settled += 1
        self._released = False
        if not succeeded.refreshed:
            text = "newer tokens were already stored: no refresh call needed"
        else:
            text = "step 4: the refresh completed; new tokens stored and broadcast"
        if not self.detail:
            text += f" ({self.tally.queued} requests queued so far)"
        return [self._line(succeeded.at, REFRESH_LANE, text)]

    def _refresh_failed(self, failed: RefreshFailed) -> list[str]:
        self._refresh_in_flight = False
        self.tally.settled += 1
        text = f"!! the refresh failed: {failed.error}: {failed.message}"
        return [self._line(failed.at, REFRESH_LANE, text)]

    def _retried(self, retried: RequestRetried) -> list[str]:
        self.tally.retried += 1
        rid = retried.request_id
        lane = self._lane(rid)
        if rid in self._awaiting_route:
            # Neither started nor joined a refresh: its 401 was for a token
            # that an earlier refresh had already replaced.
            self._awaiting_route.discard(rid)
            self._routed.add(rid)
            self.tally.late_retried += 1
            text = (
                "its 401 came after the refresh had finished: retried with the"
                " current token, no new refresh"
            )
            if self.detail or not self._late_told:
                self._late_told = True
                return [self._line(retried.at, lane, text)]
            return []
        if not self._released:
            self._released = True
            text = "step 5: the queue is released; retried with the new token"
            return [self._line(retried.at, lane, text)]
        return self._detail(retried, "retried")

    def _outcome(self, outcome: Done | Failed | Left | StillWaiting) -> list[str]:
        t = self.tally
        match outcome:
            case Done():
                t.done += 1
                return self._detail(outcome, "done")
            case Failed():
                t.failed[outcome.error] += 1
                return self._detail(outcome, f"failed: {outcome.error}")
            case Left():
                t.left += 1
                text = "the caller left: it disposed of its subscription"
                return [self._line(outcome.at, self._lane(outcome.request_id), text)]
            case StillWaiting():
                t.still_waiting += 1
                t.waited = outcome.waited
                return self._detail(
                    outcome, f"!! still waiting after {outcome.waited:.0f} s"
                )

    # Helpers.

    def _clock(self, at: float) -> None:
        t = self.tally
        if t.start is None:
            t.start = at
        t.end = at if t.end is None else max(t.end, at)

    def _detail(self, observation: _AboutARequest, text: str) -> list[str]:
        if not self.detail:
            return []
        return [self._line(observation.at, self._lane(observation.request_id), text)]

    def _lane(self, request_id: int) -> str:
        return self._lanes.get(request_id, f"request #{request_id}")

    def _line(self, at: float, lane: str, text: str) -> str:
        start = self.tally.start if self.tally.start is not None else at
        return f"{_ms(at - start):>9}  {lane:<17} {text}"


def narrate(
    observations: Iterable[Observation], counters: Counters, *, detail: bool = True
) -> list[str]:
    """Every line a `Narrator` would print for `observations`, then the summary."""
    narrator = Narrator(detail=detail)
    lines = [line for o in observations for line in narrator.feed(o)]
    return lines + narrator.summary(counters)


_LOGGED_OUT = "the refresh token was refused: tokens cleared, the user is logged out"


def _status(status: int) -> str:
    names = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 503: "Unavailable"}
    if status == 0:
        return "no answer (status 0)"
    return f"{status} {names.get(status, '')}".rstrip()


def _calls(count: int) -> str:
    return f"{count} refresh call" + ("" if count == 1 else "s")


def _ordinal(n: int) -> str:
    return _ORDINALS[n - 1] if n <= len(_ORDINALS) else f"{n}th"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _duration(seconds: float) -> str:
    return _ms(seconds) if seconds < 1 else f"{seconds:.2f} s"

"""The race demo: run as a user runs it, and its narration and timeline alone."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from examples.auth_server import Counters
from examples.narration import narrate
from examples.recording import (
    Answered,
    Began,
    Done,
    Failed,
    Observation,
    Sent,
    StillWaiting,
)
from examples.scenarios import SCENARIOS, run_scenario
from examples.timeline import build_timeline, render_svg, render_text
from rx_auth import (
    LoggedOut,
    RefreshFailed,
    RefreshStarted,
    RefreshSucceeded,
    RequestQueued,
    RequestRetried,
)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo.py"
SVG = "{http://www.w3.org/2000/svg}"

# Bounds on every wait, so that a hang fails a test instead of stalling it.
SMALL_RUN = 60.0
LARGE_RUN = 180.0

TABLE_ROW = re.compile(
    r"^(?P<scenario>[\w-]+)\s+(?P<port>rx_auth|naive)\s+(?P<refreshes>\d+)"
    r"\s+(?P<reused>\d+)\s+(?P<ok>\d+)\s+(?P<failed>\d+)\s+(?P<left>\d+)"
    r"\s+(?P<waiting>\d+)\s"
)


@dataclass(frozen=True)
class Finished:
    """A demo run: its exit code, its output, and where its SVG went."""

    code: int
    out: str
    err: str
    svg: Path

    def table(self) -> list[dict[str, str]]:
        rows = (TABLE_ROW.match(line) for line in self.out.splitlines())
        return [row.groupdict() for row in rows if row]

    def section(self, heading: str) -> str:
        """The output from the `== heading` line to the next `==` heading."""
        start = self.out.index(f"== {heading}")
        end = self.out.find("\n== ", start + 1)
        return self.out[start:] if end < 0 else self.out[start:end]


# The demo, as a user runs it. The small runs spend most of their time
# waiting out the naive port's hangs, so they are started side by side.

SMALL_ARGS: dict[str, list[str]] = {
    "default": [],
    **{scenario: ["--scenario", scenario] for scenario in SCENARIOS},
    "naive refresh-fails": ["--scenario", "refresh-fails", "--naive"],
}


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Finished]:
    folder = tmp_path_factory.mktemp("demo")
    return _run_demos(
        {
            name: [*args, "--svg", str(folder / f"{i}.svg")]
            for i, (name, args) in enumerate(SMALL_ARGS.items())
        },
        SMALL_RUN,
    )


def _run_demos(runs: dict[str, list[str]], bound: float) -> dict[str, Finished]:
    started = {
        name: subprocess.Popen(
            [sys.executable, str(DEMO), *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in runs.items()
    }
    finished = {}
    for name, process in started.items():
        with process:
            try:
                out, err = process.communicate(timeout=bound)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                pytest.fail(f"the demo ({name}) did not finish within {bound} s")
        svg = Path(runs[name][runs[name].index("--svg") + 1])
        finished[name] = Finished(process.returncode, out, err, svg)
    return finished


def test_the_default_run_exits_0_after_one_refresh_for_three_requests(
    demo_runs: dict[str, Finished],
) -> None:
    run = demo_runs["default"]
    assert run.code == 0, run.err

    told = run.section("rx_auth, scenario expired")
    assert "requests: 3 sent, 3 got 401, 1 started a refresh, 2 queued" in told
    assert "server:   1 refresh call, 0 reused refresh tokens" in told
    steps = [f"step {n}:" for n in range(1, 6)]
    positions = [told.index(step) for step in steps]
    assert positions == sorted(positions)


def test_the_default_run_shows_the_naive_port_breaking(
    demo_runs: dict[str, Finished],
) -> None:
    table = demo_runs["default"].table()
    assert len(table) == 2 * len(SCENARIOS)

    naive = [row for row in table if row["port"] == "naive"]
    assert any(
        int(row["refreshes"]) > 1 or int(row["failed"]) or int(row["waiting"])
        for row in naive
    )
    rx_auth = [row for row in table if row["port"] == "rx_auth"]
    assert all(row["refreshes"] == "1" for row in rx_auth)
    assert all(row["waiting"] == "0" for row in rx_auth)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_scenario_exits_0_with_one_refresh_for_rx_auth(
    demo_runs: dict[str, Finished], scenario: str
) -> None:
    run = demo_runs[scenario]
    assert run.code == 0, run.err

    told = run.section(f"rx_auth, scenario {scenario}")
    assert "server:   1 refresh call," in told
    assert "still waiting after" not in told
    assert "rx_auth held in every scenario" in run.out


def test_refresh_fails_fails_every_rx_auth_waiter_and_hangs_the_naive_ones(
    demo_runs: dict[str, Finished],
) -> None:
    run = demo_runs["refresh-fails"]

    rx_auth = run.section("rx_auth, scenario refresh-fails")
    assert "3 failed (3 RefreshRejected)" in rx_auth
    naive = run.section("naive port of the lesson, scenario refresh-fails")
    assert "2 still waiting" in naive


def test_cancel_first_leaves_rx_auth_refreshing_and_the_naive_port_stuck(
    demo_runs: dict[str, Finished],
) -> None:
    run = demo_runs["cancel-first"]

    rx_auth = run.section("rx_auth, scenario cancel-first")
    assert "2 succeeded, 0 failed, 1 left, 0 still waiting" in rx_auth
    naive = run.section("naive port of the lesson, scenario cancel-first")
    assert "the refresh call was cancelled" in naive
    assert "1 left, 2 still waiting" in naive


def test_late_401_costs_the_naive_port_a_second_refresh(
    demo_runs: dict[str, Finished],
) -> None:
    run = demo_runs["late-401"]

    rx_auth = run.section("rx_auth, scenario late-401")
    assert "retried with the current token, no new refresh" in rx_auth
    naive = run.section("naive port of the lesson, scenario late-401")
    assert "a second refresh started" in naive
    assert "server:   2 refresh calls" in naive


def test_no_token_value_is_ever_printed(demo_runs: dict[str, Finished]) -> None:
    # The demo server's tokens start "at-" (access) or "rt-" (refresh).
    token = re.compile(r"\b(?:at|rt)-[\w-]{8,}")

    for run in demo_runs.values():
        assert token.search(run.out) is None
        assert token.search(run.err) is None
        assert token.search(run.svg.read_text()) is None


def test_naive_runs_only_the_naive_port(demo_runs: dict[str, Finished]) -> None:
    run = demo_runs["naive refresh-fails"]

    assert run.code == 0, run.err
    assert "== rx_auth" not in run.out
    assert re.search(r"!! 2 still waiting after \d+ s", run.out)


def test_a_thousand_requests_are_summarised_with_one_refresh(
    tmp_path: Path,
) -> None:
    svg = tmp_path / "large.svg"
    (run,) = _run_demos(
        {"large": ["--requests", "1000", "--svg", str(svg)]}, LARGE_RUN
    ).values()

    assert run.code == 0, run.err
    told = run.section("rx_auth, scenario expired")
    assert "requests: 1000 sent, 1000 got 401, 1 started a refresh, 999 queued" in told
    assert "outcome:  1000 succeeded, 0 failed" in told
    assert "server:   1 refresh call," in told
    assert len(told.splitlines()) < 60  # a summary, not a line per request


# The timeline file the demo writes.


def test_the_svg_has_a_lane_per_request_and_one_for_the_refresh(
    demo_runs: dict[str, Finished],
) -> None:
    run = demo_runs["default"]
    assert f"timeline picture: {run.svg}" in run.out

    panels = _panels(ET.parse(run.svg).getroot())
    assert list(panels) == [
        "rx_auth, scenario expired, 3 requests",
        "naive port of the lesson, scenario expired, 3 requests",
    ]
    for lanes in panels.values():
        assert lanes == ["user data", "notifications", "settings", "refresh"]


def test_the_late_401_svg_has_a_lane_for_the_slow_request(
    demo_runs: dict[str, Finished],
) -> None:
    panels = _panels(ET.parse(demo_runs["late-401"].svg).getroot())

    for lanes in panels.values():
        assert lanes == [
            "user data",
            "notifications",
            "settings",
            "slow report",
            "refresh",
        ]


def _panels(svg: ET.Element) -> dict[str, list[str]]:
    """Each run panel's title, with the labels of its lanes in order."""
    return {
        run.attrib["data-title"]: [
            lane.attrib["data-label"]
            for lane in run.iter(f"{SVG}g")
            if lane.attrib.get("class") == "lane"
        ]
        for run in svg.iter(f"{SVG}g")
        if run.attrib.get("class") == "run"
    }


# The narration, from observations made up for the purpose: it tells what
# the events say, whatever they say.

NO_COUNTS = Counters()


def lesson_flow() -> list[Observation]:
    """Three requests, one refresh: the five steps of the lesson."""
    return [
        Began(0.000, 1, "user data"),
        Began(0.000, 2, "notifications"),
        Began(0.000, 3, "settings"),
        Sent(0.001, 1, "GET", "/api/user", "token #1", refresh_call=False),
        Sent(0.001, 2, "GET", "/api/notifications", "token #1", refresh_call=False),
        Sent(0.001, 3, "GET", "/api/settings", "token #1", refresh_call=False),
        Answered(0.002, 1, 401, refresh_call=False),
        RefreshStarted(0.002, 1, "unauthorized"),
        Answered(0.003, 2, 401, refresh_call=False),
        RequestQueued(0.003, 2),
        Answered(0.003, 3, 401, refresh_call=False),
        RequestQueued(0.003, 3),
        RefreshSucceeded(0.005),
        RequestRetried(0.005, 1),
        RequestRetried(0.005, 2),
        RequestRetried(0.005, 3),
        Done(0.007, 1),
        Done(0.007, 2),
        Done(0.007, 3),
    ]


def test_the_lesson_flow_is_told_in_its_five_steps() -> None:
    lines = narrate(lesson_flow(), Counters(refresh_calls=1))

    steps = [line for line in lines if "step" in line]
    assert [line.split("step ")[1][0] for line in steps] == list("12345")
    assert "user data" in steps[0]
    assert "notifications" in steps[1]
    assert any("server:   1 refresh call," in line for line in lines)
    assert not any("!!" in line for line in lines)


def test_a_second_refresh_start_is_told_as_such() -> None:
    # Request 3 starts a refresh of its own instead of queueing.
    flow = [
        RefreshStarted(o.at, 3, "unauthorized") if o == RequestQueued(0.003, 3) else o
        for o in lesson_flow()
    ]

    lines = narrate(flow, NO_COUNTS)

    assert any("a second refresh started while one was still" in x for x in lines)
    assert any("2 started a refresh" in line for line in lines)


def test_a_refresh_started_after_the_last_one_finished_is_told_as_late() -> None:
    flow = [
        *lesson_flow(),
        Answered(0.008, 4, 401, refresh_call=False),
        RefreshStarted(0.008, 4, "unauthorized"),
    ]

    lines = narrate(flow, NO_COUNTS)

    assert any(
        "a second refresh started: this 401 came after the last refresh" in line
        for line in lines
    )


def test_a_failed_refresh_and_its_waiters_are_told_as_failures() -> None:
    flow = [
        *lesson_flow()[:12],
        RefreshFailed(0.005, "RefreshRejected", "the token endpoint said no"),
        LoggedOut(0.005),
        Failed(0.005, 1, "RefreshRejected", "the token endpoint said no"),
        Failed(0.005, 2, "RefreshRejected", "the token endpoint said no"),
        Failed(0.005, 3, "RefreshRejected", "the token endpoint said no"),
    ]

    lines = narrate(flow, NO_COUNTS)

    assert any("the refresh failed: RefreshRejected" in line for line in lines)
    assert any("logged out" in line for line in lines)
    assert not any("step 4" in line or "step 5" in line for line in lines)
    assert any("0 succeeded, 3 failed (3 RefreshRejected)" in x for x in lines)


def test_callers_with_no_answer_are_told_as_still_waiting() -> None:
    flow = [
        *lesson_flow()[:12],
        StillWaiting(2.0, 2, 2.0),
        StillWaiting(2.0, 3, 2.0),
    ]

    lines = narrate(flow, NO_COUNTS)

    assert sum("still waiting after 2 s" in line for line in lines) == 3
    assert any("2 still waiting" in line for line in lines)


def test_a_late_401_retried_without_a_refresh_is_told_as_late() -> None:
    flow = [
        *lesson_flow(),
        Began(0.000, 4, "slow report"),
        Answered(0.008, 4, 401, refresh_call=False),
        RequestRetried(0.008, 4),
    ]

    lines = narrate(flow, NO_COUNTS)

    assert any("slow report" in line and "no new refresh" in line for line in lines)


def test_without_detail_only_the_refresh_and_first_of_each_step_are_told() -> None:
    lines = narrate(lesson_flow(), NO_COUNTS, detail=False)

    assert sum("step 3" in line for line in lines) == 0
    assert sum("retried" in line for line in lines) == 2  # step 5 and summary
    assert any("3 succeeded" in line for line in lines)


# The timeline, from the same made-up observations.


def test_the_timeline_has_a_lane_per_request_then_the_refresh_lane() -> None:
    timeline = build_timeline(lesson_flow(), title="lesson")

    assert [lane.label for lane in timeline.lanes] == [
        "user data",
        "notifications",
        "settings",
        "refresh",
    ]
    queued = timeline.lanes[1]
    assert [mark.kind for mark in queued.marks] == [
        "send",
        "401",
        "queued",
        "retry",
        "done",
    ]
    refresh = timeline.lanes[-1]
    assert [mark.kind for mark in refresh.marks] == ["refresh start", "refresh end"]


def test_the_text_timeline_keeps_every_mark_in_order() -> None:
    text = render_text(build_timeline(lesson_flow(), title="lesson"))

    rows = {line.split()[0]: line for line in text if line.startswith("  ")}
    assert _glyphs(rows["notifications"]) == "S4QRD"
    assert _glyphs(rows["refresh"]) == "[]"


def _glyphs(row: str) -> str:
    return "".join(char for char in row.split(maxsplit=1)[1] if char not in "-.= ")


def test_the_svg_of_many_requests_draws_some_and_says_how_many_are_not() -> None:
    flow: list[Observation] = [Began(0.0, n, f"call {n}") for n in range(1, 101)]
    svg = ET.fromstring(render_svg([build_timeline(flow, title="many", max_lanes=10)]))

    lanes = [g for g in svg.iter(f"{SVG}g") if g.attrib.get("class") == "lane"]
    assert len(lanes) == 11
    hidden = [
        t for t in svg.iter(f"{SVG}text") if t.attrib.get("class") == "hidden-lanes"
    ]
    assert hidden[0].text is not None
    assert "90 more requests" in hidden[0].text


# The scenarios in process, each wait bounded.


async def test_the_naive_port_leaves_its_waiters_hanging_when_refresh_fails() -> None:
    run = await asyncio.wait_for(
        run_scenario("naive", "refresh-fails", requests=3, wait=0.5), SMALL_RUN
    )

    assert run.tally.still_waiting == 2
    assert sum(run.tally.failed.values()) == 1
    assert run.counters.refresh_calls == 1


async def test_rx_auth_tells_every_waiter_when_refresh_fails() -> None:
    run = await asyncio.wait_for(
        run_scenario("rx_auth", "refresh-fails", requests=3, wait=0.5), SMALL_RUN
    )

    assert run.tally.still_waiting == 0
    assert run.tally.failed["RefreshRejected"] == 3
    assert run.counters.refresh_calls == 1

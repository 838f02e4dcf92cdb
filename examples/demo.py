"""The lesson, run: parallel calls on an expired token, told as they happen.

Run it from the project root (`python3 tasks.py demo` does the same in the
project's virtual environment):

```console
$ python examples/demo.py
$ python examples/demo.py --scenario refresh-fails
$ python examples/demo.py --requests 1000
$ python examples/demo.py --scenario cancel-first --naive
```

It starts an `AuthServer` on a free port of 127.0.0.1, fires the lesson's
three calls (user data, notifications, settings) with a token the server
has expired, and narrates the lesson's five steps from what `rx_auth`'s
events, the wire and the server's counters show. Then it runs the same
scenario through a line-by-line port of the lesson (`naive_port.py`), and
compares the two in every scenario. It draws a timeline of each narrated
run in the terminal and writes it as SVG (under `out/` by default).

Scenarios: `expired`, `refresh-fails`, `cancel-first`, `late-401` (see
`examples/scenarios.py`). The exit code is 0 when `rx_auth` did what each
scenario asks of it (one refresh, nobody left waiting, and the outcome the
scenario calls for) in every run, 1 when it did not. No wait is unbounded:
a caller that hears nothing for `--wait` seconds is reported as still
waiting, and the run ends.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Final

# Run as a script, Python puts examples/ on the path but not the project
# root; add it so this file imports the examples as the tests do.
ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from examples.narration import Narrator  # noqa: E402
from examples.recording import Observation  # noqa: E402
from examples.scenarios import (  # noqa: E402
    PORTS,
    SCENARIOS,
    Port,
    Run,
    Scenario,
    checks,
    problems,
    run_scenario,
)
from examples.timeline import build_timeline, render_svg, render_text  # noqa: E402

DETAIL_LIMIT: Final = 12  # more requests than this are told in summary
TEXT_LANES: Final = 8
SVG_LANES: Final = 40

STORIES: Final[dict[Scenario, str]] = {
    "expired": "the server has expired the token, and the client cannot know",
    "refresh-fails": "the server refuses the refresh token (invalid_grant)",
    "cancel-first": "the caller whose 401 starts the refresh leaves at once",
    "late-401": "a slow request's 401 arrives after the refresh has finished",
}
PORT_NAMES: Final[dict[Port, str]] = {
    "rx_auth": "rx_auth",
    "naive": "naive port of the lesson",
}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="demo.py",
        description="The lesson's single-flight token refresh, run and narrated.",
    )
    parser.add_argument(
        "--scenario", choices=SCENARIOS, default="expired", help="default: expired"
    )
    parser.add_argument(
        "--requests",
        type=_positive_int,
        default=3,
        metavar="N",
        help="parallel calls on the expired token (default: 3)",
    )
    parser.add_argument(
        "--naive",
        action="store_true",
        help="run only the naive port of the lesson, in the chosen scenario",
    )
    parser.add_argument(
        "--svg",
        type=Path,
        metavar="PATH",
        help="where to write the timeline (default: out/timeline-SCENARIO.svg)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how long a silent caller is waited for (default: 2)",
    )
    return parser.parse_args(argv)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


async def main(argv: Sequence[str]) -> int:
    options = parse_args(argv)
    scenario: Scenario = options.scenario
    ports: tuple[Port, ...] = ("naive",) if options.naive else PORTS

    narrated = [await tell(port, scenario, options) for port in ports]
    write_timeline(narrated, _svg_path(options))
    if options.naive:
        return 0

    naive = narrated[-1]
    if not problems(naive):
        print(
            f"\nThe naive port held in scenario {scenario}."
            " The table shows where it does not."
        )

    table = await compare(narrated, options)
    return report_checks(table)


async def tell(port: Port, scenario: Scenario, options: argparse.Namespace) -> Run:
    """Run `scenario` through `port`, printing each line as it happens."""
    detail = options.requests <= DETAIL_LIMIT
    print(f"\n== {PORT_NAMES[port]}, scenario {scenario}: {STORIES[scenario]} ==")
    print(_cast(scenario, options.requests, detail))
    narrator = Narrator(detail=detail)

    def say(observation: Observation) -> None:
        for line in narrator.feed(observation):
            print(line)

    run = await run_scenario(
        port, scenario, requests=options.requests, wait=options.wait, note=say
    )
    for line in narrator.summary(run.counters):
        print(line)
    print()
    timeline = build_timeline(run.observations, title=_title(run), max_lanes=TEXT_LANES)
    for line in render_text(timeline):
        print(line)
    if port == "rx_auth":
        print()
        for check in checks(run):
            print(f"{'ok' if check.held else '!! not'}: {check.description}")
    return run


def _cast(scenario: Scenario, requests: int, detail: bool) -> str:
    calls = "user data, notifications, settings" if requests == 3 else "in parallel"
    slow = ", plus one slow report" if scenario == "late-401" else ""
    how = "" if detail else "; told in summary"
    return f"{requests} calls ({calls}){slow}, all sent with the expired token{how}"


def _title(run: Run) -> str:
    return f"{PORT_NAMES[run.port]}, scenario {run.scenario}, {run.callers} requests"


def write_timeline(runs: Sequence[Run], path: Path) -> None:
    timelines = [
        build_timeline(run.observations, title=_title(run), max_lanes=SVG_LANES)
        for run in runs
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_svg(timelines), encoding="utf-8")
    print(f"\ntimeline picture: {_shown(path)}")


def _svg_path(options: argparse.Namespace) -> Path:
    if options.svg is not None:
        path: Path = options.svg
        return path
    suffix = "-naive" if options.naive else ""
    return ROOT / "out" / f"timeline-{options.scenario}{suffix}.svg"


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


async def compare(narrated: Sequence[Run], options: argparse.Namespace) -> list[Run]:
    """Every scenario through both ports, as a table; the narrated runs reused."""
    done = {(run.port, run.scenario): run for run in narrated}
    missing = [
        (port, scenario)
        for scenario in SCENARIOS
        for port in PORTS
        if (port, scenario) not in done
    ]
    print(
        f"\n== every scenario, rx_auth against the naive port"
        f" ({options.requests} requests each) =="
    )
    for run in await _run_all(missing, options):
        done[(run.port, run.scenario)] = run

    table = [done[(port, scenario)] for scenario in SCENARIOS for port in PORTS]
    for line in _table(table):
        print(line)
    return table


async def _run_all(
    pairs: Sequence[tuple[Port, Scenario]], options: argparse.Namespace
) -> list[Run]:
    def start(port: Port, scenario: Scenario) -> Awaitable[Run]:
        return run_scenario(
            port, scenario, requests=options.requests, wait=options.wait
        )

    if options.requests <= DETAIL_LIMIT:
        # Small runs side by side: the silent ones wait out `--wait` together.
        return list(await asyncio.gather(*(start(*pair) for pair in pairs)))

    # Large runs one at a time: side by side, each would starve the others
    # of the event loop long enough to look hung.
    runs = []
    for port, scenario in pairs:
        print(f"  running {scenario} through {PORT_NAMES[port]} ...", flush=True)
        runs.append(await start(port, scenario))
    return runs


def _table(runs: Sequence[Run]) -> list[str]:
    head = (
        f"{'scenario':<14} {'port':<8} {'refresh calls':>13} {'reused':>6}"
        f" {'ok':>5} {'failed':>6} {'left':>4} {'waiting':>7}  what went wrong"
    )
    lines = [head]
    for run in runs:
        t = run.tally
        wrong = "; ".join(problems(run)) or "nothing"
        lines.append(
            f"{run.scenario:<14} {run.port:<8} {run.counters.refresh_calls:>13}"
            f" {run.counters.reused_refresh_tokens:>6} {t.done:>5}"
            f" {sum(t.failed.values()):>6} {t.left:>4} {t.still_waiting:>7}  {wrong}"
        )
    return lines


def report_checks(runs: Sequence[Run]) -> int:
    """Print what `rx_auth` was asked to do and whether it did; 0 if all held."""
    failed = [
        (run, check)
        for run in runs
        if run.port == "rx_auth"
        for check in checks(run)
        if not check.held
    ]
    print()
    if not failed:
        print("rx_auth held in every scenario: one refresh, nobody left waiting.")
        return 0
    for run, check in failed:
        print(f"!! rx_auth, scenario {run.scenario}: expected {check.description}")
    return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))

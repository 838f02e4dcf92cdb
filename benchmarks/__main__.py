"""`python -m benchmarks`: run the suite, print the table, write `out/benchmarks/`.

python -m benchmarks                 the default run, a few minutes
python -m benchmarks --quick         a smoke run, under a minute or so
python -m benchmarks --full          adds the burst of 10,000
python -m benchmarks --only burst    one benchmark (repeat for more)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .burst import measure_burst, profile_burst
from .chart import render_chart
from .memory import measure_memory
from .overhead import measure_overhead
from .remote import ServerControl, running_server, server
from .report import Report, environment, render_table, write_json
from .throughput import measure_throughput

ROOT: Final = Path(__file__).resolve().parent.parent
NAMES: Final = ("throughput", "burst", "failure", "memory", "overhead")


@dataclass(frozen=True)
class Plan:
    """How many pairs, and how large each benchmark is."""

    pairs: int
    memory_pairs: int
    throughput_requests: int
    workers: int
    burst_sizes: tuple[int, ...]
    failure_n: int
    memory_n: int
    overhead_requests: int


DEFAULT: Final = Plan(
    pairs=5,
    # An allocation count barely moves between runs (a few per cent), and a
    # run of 10,000 waiters under tracemalloc takes a minute: two pairs.
    memory_pairs=2,
    throughput_requests=3000,
    workers=32,
    burst_sizes=(100, 1000),
    failure_n=1000,
    memory_n=10_000,
    overhead_requests=10_000,
)
FULL: Final = dataclasses.replace(DEFAULT, burst_sizes=(100, 1000, 10_000))
QUICK: Final = Plan(
    pairs=2,
    memory_pairs=1,
    throughput_requests=1000,
    workers=32,
    burst_sizes=(100, 1000),
    failure_n=300,
    memory_n=1000,
    overhead_requests=3000,
)


def main(argv: Sequence[str]) -> int:
    args = _parse(argv)
    plan = _plan(args)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    report = Report(environment(), dataclasses.asdict(plan))

    started = time.monotonic()
    try:
        with running_server() as base:
            asyncio.run(_run(base, plan, args.only or NAMES, out, report))
    finally:
        # A benchmark that fails still leaves the ones before it on record.
        report.seconds = time.monotonic() - started
        _write_outputs(report, out)
    return 0


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="rx_auth against raw aiohttp and a hand-written asyncio.Lock.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer pairs, smaller N")
    size.add_argument("--full", action="store_true", help="add the burst of 10,000")
    parser.add_argument(
        "--only", action="append", choices=NAMES, help="run only this benchmark"
    )
    parser.add_argument("--pairs", type=int, help="A/B pairs for every benchmark")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "out" / "benchmarks", help="output folder"
    )
    return parser.parse_args(argv)


def _plan(args: argparse.Namespace) -> Plan:
    plan = QUICK if args.quick else FULL if args.full else DEFAULT
    if args.pairs is not None:
        if args.pairs < 1:
            raise SystemExit("--pairs must be at least 1")
        plan = dataclasses.replace(plan, pairs=args.pairs, memory_pairs=args.pairs)
    return plan


async def _run(
    base: str, plan: Plan, names: Sequence[str], out: Path, report: Report
) -> None:
    async with server(base) as control:
        for name in NAMES:
            if name in names:
                _say(f"running {name} ...")
                await _BENCHMARKS[name](control, plan, out, report)


async def _throughput(
    control: ServerControl, plan: Plan, out: Path, report: Report
) -> None:
    comparison, profile = await measure_throughput(
        control,
        pairs=plan.pairs,
        requests=plan.throughput_requests,
        workers=plan.workers,
        profile_to=out / "profile_throughput.txt",
    )
    report.comparisons.append(comparison)
    if profile is not None:
        report.profiles["throughput"] = profile


async def _burst(control: ServerControl, plan: Plan, out: Path, report: Report) -> None:
    for n in plan.burst_sizes:
        _say(f"  burst of {n:,}")
        report.comparisons.append(await measure_burst(control, n=n, pairs=plan.pairs))
    n = 1000 if 1000 in plan.burst_sizes else plan.burst_sizes[-1]
    profile = await profile_burst(control, n, out / "profile_burst.txt")
    report.profiles["burst"] = profile


async def _failure(
    control: ServerControl, plan: Plan, out: Path, report: Report
) -> None:
    comparison = await measure_burst(
        control, n=plan.failure_n, pairs=plan.pairs, failing=True
    )
    report.comparisons.append(comparison)


async def _memory(
    control: ServerControl, plan: Plan, out: Path, report: Report
) -> None:
    comparison = await measure_memory(control, n=plan.memory_n, pairs=plan.memory_pairs)
    report.comparisons.append(comparison)


async def _overhead(
    control: ServerControl, plan: Plan, out: Path, report: Report
) -> None:
    comparison, profile = await measure_overhead(
        requests=plan.overhead_requests,
        pairs=plan.pairs,
        profile_to=out / "profile_pipeline.txt",
    )
    report.comparisons.append(comparison)
    if profile is not None:
        report.profiles["pipeline"] = profile


_BENCHMARKS: Final = {
    "throughput": _throughput,
    "burst": _burst,
    "failure": _failure,
    "memory": _memory,
    "overhead": _overhead,
}


def _write_outputs(report: Report, out: Path) -> None:
    table = render_table(report)
    print(table)
    (out / "results.txt").write_text(table)
    write_json(report, out / "results.json")
    env = report.environment
    subtitle = (
        f"{env['date']}  python {env['python']}  reactivex {env['reactivex']}"
        f"  aiohttp {env['aiohttp']}  {env['cpus']} CPUs"
    )
    (out / "chart.svg").write_text(render_chart(report.comparisons, subtitle))
    _say(f"wrote {out}/: results.txt, results.json, chart.svg, profile_*.txt")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

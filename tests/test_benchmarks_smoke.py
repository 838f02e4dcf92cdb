"""The benchmark harness works: tiny runs whose counts are right.

No timing is asserted here; the numbers belong to `python -m benchmarks`.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from yarl import URL

from benchmarks.burst import baseline_burst, rx_burst
from benchmarks.memory import baseline_memory, rx_memory
from benchmarks.overhead import measure_overhead
from benchmarks.remote import ServerControl, running_server, server
from benchmarks.throughput import measure_throughput

ROOT = Path(__file__).resolve().parent.parent
N = 20


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with running_server() as url:
        yield url


@pytest.fixture
async def control(base: str) -> AsyncIterator[ServerControl]:
    async with server(base) as control:
        yield control


async def test_a_burst_through_rx_auth_refreshes_once_and_every_request_succeeds(
    control: ServerControl,
) -> None:
    run = await rx_burst(control, N)

    assert (run.refresh_calls, run.successes, run.failures) == (1, N, 0)
    assert run.reused_refresh_tokens == 0
    assert run.served_ok == N


async def test_a_burst_through_the_lock_baseline_refreshes_once_and_succeeds(
    control: ServerControl,
) -> None:
    run = await baseline_burst(control, N)

    assert (run.refresh_calls, run.successes, run.failures) == (1, N, 0)
    assert run.served_ok == N


async def test_a_refused_refresh_fails_every_waiter_after_one_call_on_both(
    control: ServerControl,
) -> None:
    rx = await rx_burst(control, N, failing=True)
    baseline = await baseline_burst(control, N, failing=True)

    assert (rx.refresh_calls, rx.failures) == (1, N)
    assert rx.error_types == {"RefreshRejected": N}
    assert (baseline.refresh_calls, baseline.failures) == (1, N)
    assert baseline.error_types == {"BaselineRefreshFailed": N}


async def test_waiters_behind_a_held_refresh_are_counted_then_all_succeed(
    control: ServerControl,
) -> None:
    for measure in (rx_memory, baseline_memory):
        run = await measure(control, N)

        assert run.queued == N - 1, measure.__name__
        assert (run.refresh_calls, run.successes) == (1, N), measure.__name__
        assert run.bytes_per_waiter > 0, measure.__name__


async def test_a_throughput_pair_serves_every_request_with_no_refresh(
    control: ServerControl, tmp_path: Path
) -> None:
    comparison, profile = await measure_throughput(
        control, pairs=1, requests=40, workers=4, profile_to=tmp_path / "profile.txt"
    )

    sides = ("rx_auth", "baseline", "backend_alone")
    runs = [run for side in sides for run in comparison.samples[side]]
    assert [run["requests"] for run in runs] == [40, 40, 40]
    assert profile is not None
    assert profile.by_package
    assert (await control.stats()).refresh_calls == 0


async def test_the_pipeline_overhead_run_answers_every_request(tmp_path: Path) -> None:
    comparison, profile = await measure_overhead(
        requests=50, pairs=1, profile_to=tmp_path / "profile.txt"
    )

    assert comparison.pairs == 1
    assert comparison.rx > 0
    assert comparison.baseline > 0
    assert profile is not None
    assert "Top functions by own time" in (tmp_path / "profile.txt").read_text()


def test_the_server_process_is_gone_once_the_block_ends() -> None:
    with running_server() as url:
        port = URL(url).port
        assert port is not None
        socket.create_connection(("127.0.0.1", port), timeout=5).close()

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_the_command_writes_a_table_json_and_an_svg_chart(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "benchmarks", "--quick", "--only", "overhead"]
    done = subprocess.run(
        [*command, "--pairs", "1", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "5. pipeline cost per request" in done.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    assert [c["name"] for c in results["comparisons"]] == [
        "5. pipeline cost per request, no network"
    ]
    assert results["environment"]["reactivex"]
    ElementTree.parse(tmp_path / "chart.svg")  # well-formed, even with no bars

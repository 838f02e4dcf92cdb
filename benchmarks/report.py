"""The results of a run: a table for the terminal, and a JSON file of raw numbers."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from .profiles import Profile
from .results import Comparison

__all__ = ["Report", "environment", "render_table", "write_json"]


@dataclass
class Report:
    """Everything one run of the suite measured."""

    environment: dict[str, str]
    plan: dict[str, Any]
    comparisons: list[Comparison] = field(default_factory=list)
    profiles: dict[str, Profile] = field(default_factory=dict)
    seconds: float = 0.0


def environment() -> dict[str, str]:
    """What the numbers were measured on, and the code they were measured of."""
    one, five, _ = os.getloadavg()
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "reactivex": version("reactivex"),
        "aiohttp": version("aiohttp"),
        "cpus": str(os.cpu_count()),
        "platform": platform.platform(terse=True),
        "load_average": f"{one:.2f} {five:.2f}",
        "revision": _revision(),
    }


def _revision() -> str:
    """The commit, marked `+changes` when rx_auth/ differs from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = _git(root, "rev-parse", "--short", "HEAD")
        changed = _git(root, "status", "--porcelain", "--", "rx_auth")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}+changes" if changed else commit


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()


def render_table(report: Report) -> str:
    """The table printed at the end of a run, and kept in `results.txt`."""
    env = report.environment
    lines = [
        f"rx_auth benchmarks, {env['date']}",
        f"python {env['python']}, reactivex {env['reactivex']},"
        f" aiohttp {env['aiohttp']}, {env['cpus']} CPUs, {env['platform']}",
        f"code at {env['revision']}; load average at start {env['load_average']}",
        f"A/B alternated, medians over the pairs; ratio = median of"
        f" rx_auth/baseline per pair; suite took {report.seconds:.0f} s",
        "",
        _row("benchmark", "metric", "rx_auth", "baseline", "ratio", "pairs", "target"),
        _row(*("-" * width for width in _WIDTHS)),
        *(_comparison_row(comparison) for comparison in report.comparisons),
        "",
        *_details(report.comparisons),
    ]
    return "\n".join(lines).rstrip() + "\n"


_WIDTHS = (40, 10, 10, 10, 7, 5, 22)


def _row(*cells: str) -> str:
    first, *rest = cells
    parts = [first.ljust(_WIDTHS[0])]
    parts += [cell.rjust(width) for cell, width in zip(rest, _WIDTHS[1:], strict=True)]
    return " ".join(parts).rstrip()


def _comparison_row(comparison: Comparison) -> str:
    target = ""
    if comparison.target is not None:
        verdict = "met" if comparison.met else "MISSED"
        target = f"{comparison.target.compare} {_bound(comparison)}: {verdict}"
    return _row(
        comparison.name,
        comparison.metric,
        _number(comparison.rx, comparison.metric),
        _number(comparison.baseline, comparison.metric),
        f"{comparison.ratio:.2f}x",
        str(comparison.pairs),
        target,
    )


def _bound(comparison: Comparison) -> str:
    assert comparison.target is not None
    target = comparison.target
    if target.of == "ratio":
        return f"{target.bound:.2f}x"
    return f"{target.bound:,.0f}{target.unit}"


def _number(value: float, metric: str) -> str:
    if metric == "seconds":
        return f"{value:.3f}"
    if metric.startswith("us"):
        return f"{value:.1f}"
    return f"{value:,.0f}"


def _details(comparisons: list[Comparison]) -> list[str]:
    """The counts behind each line, and the secondary measures."""
    lines = []
    for comparison in comparisons:
        lines.append(f"{comparison.name}  ({comparison.note})")
        for key, value in comparison.checks.items():
            lines.append(f"    {key}: {_compact(value)}")
    return lines


def _compact(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return ", ".join(f"{key}={_compact(item)}" for key, item in value.items())
    return str(value)


def write_json(report: Report, path: Path) -> None:
    """Every number of the run, raw samples included."""
    document = {
        "environment": report.environment,
        "plan": report.plan,
        "seconds": report.seconds,
        "comparisons": [_comparison_json(c) for c in report.comparisons],
        "profiles": {name: p.as_json() for name, p in report.profiles.items()},
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def _comparison_json(comparison: Comparison) -> dict[str, Any]:
    document = asdict(comparison)
    document["target"] = None if comparison.target is None else str(comparison.target)
    document["met"] = comparison.met
    return document

"""Where the time goes: a cProfile of a run, summed by package and by function.

Shares are of the busy time: the time the event loop spent waiting for the
server (inside `epoll`) is left out and reported apart. A coroutine's
cumulative time counts only while it runs, not while it is suspended. The
profiler's own cost inflates code made of many small calls, so read the
shares as proportions, not timings.
"""

from __future__ import annotations

import cProfile
import pstats
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

__all__ = ["Profile", "ProfileRow", "profiling", "write_profile"]

_PACKAGES: Final = (
    ("/reactivex/", "reactivex"),
    ("/rx_auth/", "rx_auth"),
    ("/aiohttp/", "aiohttp"),
    ("/asyncio/", "asyncio"),
    ("/multidict/", "multidict/yarl"),
    ("/yarl/", "multidict/yarl"),
    ("/benchmarks/", "benchmarks"),
)
_TOP: Final = 25
# Where a loop waits for the network: idle time, not work.
_IDLE_PREFIXES: Final = ("<method 'poll' of 'select.", "<built-in method select.")
# The code whose cumulative time tells a story: the event loop's functions,
# or the benchmark's own driver, would only say "everything ran inside me".
_STORY_PACKAGES: Final = frozenset({"rx_auth", "reactivex", "aiohttp"})
_STORY_FILES: Final = ("benchmarks/clients.py",)  # the interceptors measured


@dataclass(frozen=True)
class ProfileRow:
    """One function: its calls, and its share of the profiled CPU time.

    `own` counts the time in the function's own code; `cumulative` adds
    everything it called.
    """

    function: str
    package: str
    calls: int
    own: float
    cumulative: float


@dataclass
class Profile:
    """A profiled run, summed up; `requests` lets a reader divide."""

    title: str
    requests: int
    busy_seconds: float = 0.0
    idle_seconds: float = 0.0
    by_package: dict[str, float] = field(default_factory=dict)
    top_own: list[ProfileRow] = field(default_factory=list)
    top_cumulative: list[ProfileRow] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def profiling(title: str, requests: int) -> Iterator[Profile]:
    """Profile the block; the `Profile` is filled in when it ends."""
    profile = Profile(title, requests)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield profile
    finally:
        profiler.disable()
        _summarize(pstats.Stats(profiler), profile)


def _summarize(stats: pstats.Stats, profile: Profile) -> None:
    rows = [_row(label, entry) for label, entry in _entries(stats).items()]
    idle = [row for row in rows if row.function.startswith(_IDLE_PREFIXES)]
    busy = [row for row in rows if row not in idle]
    total = sum(row.own for row in busy) or 1.0
    busy = [_as_shares(row, total) for row in busy]

    by_package: dict[str, float] = defaultdict(float)
    for row in busy:
        by_package[row.package] += row.own
    profile.busy_seconds = total
    profile.idle_seconds = sum(row.own for row in idle)
    profile.by_package = dict(sorted(by_package.items(), key=_second, reverse=True))
    profile.top_own = sorted(busy, key=_own, reverse=True)[:_TOP]
    told = [row for row in busy if _tells_the_story(row)]
    profile.top_cumulative = sorted(told, key=_cumulative, reverse=True)[:_TOP]


def _entries(stats: pstats.Stats) -> dict[tuple[str, int, str], tuple[Any, ...]]:
    # `Stats.stats` is documented only by its use in pstats itself:
    # (file, line, function) -> (primitive calls, calls, own, cumulative, callers)
    raw: Any = getattr(stats, "stats")  # noqa: B009 - not in the type stubs
    entries: dict[tuple[str, int, str], tuple[Any, ...]] = raw
    return entries


def _tells_the_story(row: ProfileRow) -> bool:
    return row.package in _STORY_PACKAGES or row.function.startswith(_STORY_FILES)


def _row(label: tuple[str, int, str], entry: tuple[Any, ...]) -> ProfileRow:
    file, line, name = label
    _, calls, own, cumulative, _ = entry
    return ProfileRow(_where(file, line, name), _package(file), calls, own, cumulative)


def _as_shares(row: ProfileRow, total: float) -> ProfileRow:
    return ProfileRow(
        row.function, row.package, row.calls, row.own / total, row.cumulative / total
    )


def _where(file: str, line: int, name: str) -> str:
    if file == "~":  # a function written in C
        return name
    for marker in ("site-packages/", "python3.11/", "/work/main/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{file}:{line}({name})"


def _package(file: str) -> str:
    if file == "~":
        return "C builtins"
    for marker, package in _PACKAGES:
        if marker in file:
            return package
    return "other"


def _second(item: tuple[str, float]) -> float:
    return item[1]


def _own(row: ProfileRow) -> float:
    return row.own


def _cumulative(row: ProfileRow) -> float:
    return row.cumulative


def write_profile(profile: Profile, path: Path) -> None:
    """Write the profile as text a person can read."""
    per_request = 1e6 * profile.busy_seconds / max(profile.requests, 1)
    lines = [
        f"# {profile.title}",
        f"# {profile.requests} requests: {profile.busy_seconds:.3f} s busy"
        f" ({per_request:.0f} us/request under the profiler),"
        f" {profile.idle_seconds:.3f} s waiting in the selector (left out)",
        "# calls: a coroutine counts one call each time it is resumed",
        "",
        "Share of busy time by package (own time):",
        *(f"  {share:6.1%}  {name}" for name, share in profile.by_package.items()),
        "",
        "Top functions by own time:",
        *_table(profile.top_own),
        "",
        "Top functions of rx_auth, reactivex, aiohttp and the measured"
        " interceptors by cumulative time (with what they call):",
        *_table(profile.top_cumulative),
    ]
    path.write_text("\n".join(lines) + "\n")


def _table(rows: list[ProfileRow]) -> list[str]:
    header = f"  {'own':>6} {'cum':>6} {'calls':>8}  function"
    return [header] + [
        f"  {row.own:6.1%} {row.cumulative:6.1%} {row.calls:8d}  {row.function}"
        for row in rows
    ]

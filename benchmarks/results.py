"""What a benchmark hands back: one line of the table, and its raw samples."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["Comparison", "CountMismatch", "Target"]


class CountMismatch(Exception):
    """A run did not do what it was meant to, so its timing means nothing."""


_COMPARE: Final[dict[str, Callable[[float, float], bool]]] = {
    ">=": operator.ge,
    "<=": operator.le,
}


@dataclass(frozen=True)
class Target:
    """A bound the measured value must stay within, e.g. ratio >= 0.90."""

    of: str  # "ratio", or "rx" for rx_auth's own value
    compare: str  # ">=" or "<="
    bound: float
    unit: str = "x"

    def met_by(self, comparison: Comparison) -> bool:
        value = comparison.ratio if self.of == "ratio" else comparison.rx
        return _COMPARE[self.compare](value, self.bound)

    def __str__(self) -> str:
        subject = "ratio" if self.of == "ratio" else "rx_auth"
        return f"{subject} {self.compare} {self.bound:g}{self.unit}"


@dataclass
class Comparison:
    """rx_auth against its baseline on one measure, as medians over the pairs.

    `ratio` is the median of each pair's rx_auth / baseline; `checks` holds
    the counts that prove the runs did what they claim (refresh calls,
    successes); `samples` every run's raw numbers, for the JSON file.
    """

    name: str
    metric: str
    rx: float
    baseline: float
    ratio: float
    pairs: int
    target: Target | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met_by(self)

"""A bar chart of the results against their targets, as plain SVG text.

Three panels: the throughput ratio (higher is better), the burst and
failure time ratios (lower is better) and the memory per waiter. A dashed
line marks each target; a bar is green where its target is met, red where
it is missed, and grey where it has none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Final, TypeAlias

from .results import Comparison

__all__ = ["render_chart"]

_PANEL_WIDTH: Final = 320
_HEIGHT: Final = 340
_TOP: Final = 50  # room for the title
_BOTTOM: Final = 60  # room for the bar labels
_LEFT: Final = 45  # room for the axis numbers
_GREEN, _RED, _GREY = "#3a9a5b", "#c8453b", "#8c8c8c"

_YOf: TypeAlias = Callable[[float], float]  # a value to its height on the plot


@dataclass(frozen=True)
class _Bar:
    label: str
    value: float
    color: str
    text: str


@dataclass(frozen=True)
class _Panel:
    title: str
    hint: str
    bars: Sequence[_Bar]
    target: float
    target_label: str
    parity: bool  # a ratio: draw the line where both sides are equal


def render_chart(comparisons: Sequence[Comparison], subtitle: str) -> str:
    """The SVG document for `comparisons`; panels without data are left out."""
    panels = [
        panel
        for panel in (
            _throughput_panel(comparisons),
            _burst_panel(comparisons),
            _memory_panel(comparisons),
        )
        if panel.bars
    ]
    width = max(1, len(panels)) * _PANEL_WIDTH
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}"'
        f' height="{_HEIGHT + 20}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{_HEIGHT + 20}" fill="white"/>',
        *(
            _draw_panel(panel, index * _PANEL_WIDTH)
            for index, panel in enumerate(panels)
        ),
        f'<text x="8" y="{_HEIGHT + 12}" fill="#555">{escape(subtitle)}</text>',
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def _color(comparison: Comparison) -> str:
    if comparison.met is None:
        return _GREY
    return _GREEN if comparison.met else _RED


def _throughput_panel(comparisons: Sequence[Comparison]) -> _Panel:
    bars = [
        _Bar("rx_auth / aiohttp", c.ratio, _color(c), f"{c.ratio:.2f}x")
        for c in comparisons
        if c.name.startswith("1.")
    ]
    return _Panel(
        "Throughput, rx_auth / aiohttp",
        "requests/s ratio, higher is better",
        bars,
        0.90,
        "target 0.90x",
        parity=True,
    )


def _burst_panel(comparisons: Sequence[Comparison]) -> _Panel:
    bars = [
        _Bar(_burst_label(c.name), c.ratio, _color(c), f"{c.ratio:.2f}x")
        for c in comparisons
        if c.name.startswith(("2.", "3."))
    ]
    return _Panel(
        "Burst time, rx_auth / asyncio.Lock",
        "time ratio, lower is better",
        bars,
        1.10,
        "target 1.10x at N=1,000",
        parity=True,
    )


def _burst_label(name: str) -> str:
    size = name.rsplit("N=", 1)[-1]
    return f"fail {size}" if name.startswith("3.") else f"N={size}"


def _memory_panel(comparisons: Sequence[Comparison]) -> _Panel:
    bars: list[_Bar] = []
    for c in comparisons:
        if c.name.startswith("4."):
            bars.append(_Bar("rx_auth", c.rx, _color(c), f"{c.rx:,.0f} B"))
            bars.append(_Bar("asyncio.Lock", c.baseline, _GREY, f"{c.baseline:,.0f} B"))
    return _Panel(
        "Memory per queued waiter",
        "bytes, lower is better",
        bars,
        4096,
        "target 4 KB",
        parity=False,
    )


def _draw_panel(panel: _Panel, x0: int) -> str:
    step = _nice_step(max([bar.value for bar in panel.bars] + [panel.target]))
    top_value = step * 4
    plot_height = _HEIGHT - _TOP - _BOTTOM
    base_y = _HEIGHT - _BOTTOM
    right = x0 + _PANEL_WIDTH - 12

    def y_of(value: float) -> float:
        return base_y - plot_height * value / top_value

    parts = [
        f'<text x="{x0 + 8}" y="20" font-size="13" font-weight="bold">'
        f"{escape(panel.title)}</text>",
        f'<text x="{x0 + 8}" y="36" fill="#555">{escape(panel.hint)}</text>',
        *_axis(x0, step, y_of),
        f'<line x1="{x0 + _LEFT}" y1="{base_y}" x2="{right}" y2="{base_y}"'
        ' stroke="#333"/>',
    ]
    if panel.parity:
        parts.append(_level(x0 + _LEFT, right, y_of(1.0), "#bbb", "", ""))
    slot = (right - x0 - _LEFT) / len(panel.bars)
    for index, bar in enumerate(panel.bars):
        left = x0 + _LEFT + index * slot + slot * 0.2
        parts += _draw_bar(bar, left, slot * 0.6, y_of(bar.value), base_y)
    parts.append(
        _level(x0 + _LEFT, right, y_of(panel.target), "#222", panel.target_label, "5,4")
    )
    return "\n".join(parts)


def _nice_step(largest: float) -> float:
    """A round tick step such that four steps rise above `largest`."""
    wanted = largest * 1.12 / 4
    magnitude = 10.0 ** math.floor(math.log10(wanted))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * magnitude >= wanted:
            return factor * magnitude
    return 10 * magnitude


def _level(
    left: float, right: float, y: float, color: str, label: str, dash: str
) -> str:
    """A horizontal line across the plot, labelled (if at all) at its right end."""
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    line = (
        f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"'
        f' stroke="{color}"{dashes}/>'
    )
    if not label:
        return line
    return (
        f'{line}<text x="{right}" y="{y - 4:.1f}" text-anchor="end" fill="{color}">'
        f"{escape(label)}</text>"
    )


def _draw_bar(
    bar: _Bar, left: float, width: float, top: float, base: float
) -> list[str]:
    middle = left + width / 2
    return [
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}"'
        f' height="{base - top:.1f}" fill="{bar.color}"/>',
        f'<text x="{middle:.1f}" y="{top - 4:.1f}" text-anchor="middle">'
        f"{escape(bar.text)}</text>",
        f'<text x="{middle:.1f}" y="{base + 16:.1f}" text-anchor="middle">'
        f"{escape(bar.label)}</text>",
    ]


def _axis(x0: int, step: float, y_of: _YOf) -> list[str]:
    """The vertical axis, with five round numbers along it."""
    parts = [
        f'<line x1="{x0 + _LEFT}" y1="{y_of(4 * step):.1f}" x2="{x0 + _LEFT}"'
        f' y2="{y_of(0):.1f}" stroke="#333"/>'
    ]
    for index in range(5):
        value = step * index
        text = f"{value:,.0f}" if step >= 1 else f"{value:.2f}"
        parts.append(
            f'<text x="{x0 + _LEFT - 4}" y="{y_of(value) + 4:.1f}"'
            f' text-anchor="end" fill="#555">{text}</text>'
        )
    return parts

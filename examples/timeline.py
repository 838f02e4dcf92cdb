"""A picture of a run: one lane per request and one for the refresh.

`build_timeline` turns a run's observations (see `examples.recording`)
into lanes of marks (send, 401, queued, retry, done, ...) and spans (a call
in flight, a request waiting, a refresh running). `render_text` draws the
lanes in a terminal; `render_svg` writes them as a standalone SVG file, one
panel per run, with a tooltip on every mark.

Marks that happen within a fraction of a millisecond would sit on top of
each other, so each lane pushes a crowded mark to the right of the one
before it: the order in a lane is always exact, the distance approximate.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias
from xml.sax.saxutils import escape, quoteattr

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
    RefreshFailed,
    RefreshStarted,
    RefreshSucceeded,
    RequestQueued,
    RequestRetried,
)

__all__ = [
    "Lane",
    "Mark",
    "Span",
    "Timeline",
    "build_timeline",
    "render_svg",
    "render_text",
]

MarkKind: TypeAlias = Literal[
    "send",
    "401",
    "queued",
    "retry",
    "done",
    "failed",
    "left",
    "still waiting",
    "refresh start",
    "refresh end",
    "refresh failed",
    "cancelled",
]
SpanKind: TypeAlias = Literal["in flight", "waiting", "refreshing"]

# One character per mark, used in the terminal and inside the SVG circles.
GLYPHS: Final[dict[MarkKind, str]] = {
    "send": "S",
    "401": "4",
    "queued": "Q",
    "retry": "R",
    "done": "D",
    "failed": "X",
    "left": "L",
    "still waiting": "?",
    "refresh start": "[",
    "refresh end": "]",
    "refresh failed": "!",
    "cancelled": "x",
}
FILLS: Final[dict[SpanKind, str]] = {
    "in flight": "-",
    "waiting": ".",
    "refreshing": "=",
}


@dataclass(frozen=True, slots=True)
class Mark:
    at: float
    kind: MarkKind


@dataclass(slots=True)
class Span:
    start: float
    kind: SpanKind
    end: float | None = None  # None while open
    unfinished: bool = False  # still open when the run ended


@dataclass(slots=True)
class Lane:
    label: str
    marks: list[Mark] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)

    def mark(self, at: float, kind: MarkKind) -> None:
        self.marks.append(Mark(at, kind))

    def open(self, at: float, kind: SpanKind) -> None:
        self.spans.append(Span(at, kind))

    def close(self, at: float, kind: SpanKind | None = None) -> None:
        """End the open spans (of `kind`, or all of them) at `at`."""
        for span in self.spans:
            if span.end is None and kind in (None, span.kind):
                span.end = at

    def is_open(self, kind: SpanKind) -> bool:
        return any(span.end is None and span.kind == kind for span in self.spans)

    def cut_off(self, at: float) -> None:
        """End the spans still open when the run ended, marked unfinished."""
        for span in self.spans:
            if span.end is None:
                span.end = at
                span.unfinished = True


@dataclass(slots=True)
class Timeline:
    """The lanes of one run, between `start` and `end` (monotonic seconds)."""

    title: str
    start: float
    end: float
    lanes: list[Lane]
    hidden: int = 0  # request lanes left out to keep the picture readable

    @property
    def duration(self) -> float:
        return max(self.end - self.start, 1e-6)


def build_timeline(
    observations: Iterable[Observation], *, title: str, max_lanes: int | None = None
) -> Timeline:
    """The lanes of a run: requests in the order they began, then the refresh.

    With `max_lanes`, only that many request lanes are kept; `hidden` says
    how many were left out.
    """
    builder = _Builder()
    for observation in observations:
        builder.add(observation)
    return builder.timeline(title, max_lanes)


class _Builder:
    """Lanes grown one observation at a time."""

    def __init__(self) -> None:
        self.requests: dict[int, Lane] = {}
        self.refresh = Lane(REFRESH_LANE)
        self.sends: set[int] = set()
        self.start: float | None = None
        self.end: float | None = None

    def add(self, observation: Observation) -> None:
        at = observation.at
        self.start = at if self.start is None else min(self.start, at)
        self.end = at if self.end is None else max(self.end, at)
        match observation:
            case Began():
                self.requests[observation.request_id] = Lane(observation.label)
            case Sent(refresh_call=False):
                self._sent(observation)
            case Answered(refresh_call=False):
                self._answered(observation)
            case Dropped(refresh_call=True):
                self.refresh.mark(at, "cancelled")
            case Dropped():
                self._ended(observation.request_id, at, "cancelled")
            case RefreshStarted():
                self.refresh.mark(at, "refresh start")
                self.refresh.open(at, "refreshing")
            case RefreshSucceeded():
                self.refresh.mark(at, "refresh end")
                self.refresh.close(at)
            case RefreshFailed():
                self.refresh.mark(at, "refresh failed")
                self.refresh.close(at)
            case RequestQueued():
                self._mark(observation.request_id, at, "queued")
            case RequestRetried():
                self._retried(observation)
            case Done():
                self._ended(observation.request_id, at, "done")
            case Failed():
                self._ended(observation.request_id, at, "failed")
            case Left():
                self._ended(observation.request_id, at, "left")
            case StillWaiting():
                self._ended(observation.request_id, at, "still waiting")

    def timeline(self, title: str, max_lanes: int | None) -> Timeline:
        start = self.start or 0.0
        end = self.end or start
        lanes = list(self.requests.values())
        shown = lanes if max_lanes is None else lanes[:max_lanes]
        for lane in [*lanes, self.refresh]:
            lane.cut_off(end)
        return Timeline(
            title, start, end, [*shown, self.refresh], len(lanes) - len(shown)
        )

    def _sent(self, sent: Sent) -> None:
        lane = self.requests.get(sent.request_id)
        if lane is None:
            return
        if sent.request_id not in self.sends:  # a retry has its own mark
            self.sends.add(sent.request_id)
            lane.mark(sent.at, "send")
        if not lane.is_open("in flight"):
            lane.close(sent.at, "waiting")
            lane.open(sent.at, "in flight")

    def _retried(self, retried: RequestRetried) -> None:
        # The retry is on its way from here: its span starts at its mark.
        lane = self.requests.get(retried.request_id)
        if lane is not None:
            lane.mark(retried.at, "retry")
            lane.close(retried.at, "waiting")
            lane.open(retried.at, "in flight")

    def _answered(self, answered: Answered) -> None:
        lane = self.requests.get(answered.request_id)
        if lane is None:
            return
        if answered.status == 401:
            lane.close(answered.at, "in flight")
            lane.mark(answered.at, "401")
            lane.open(answered.at, "waiting")
        # Any other answer goes on to its caller, whose outcome ends the span.

    def _mark(self, request_id: int, at: float, kind: MarkKind) -> None:
        lane = self.requests.get(request_id)
        if lane is not None:
            lane.mark(at, kind)

    def _ended(self, request_id: int, at: float, kind: MarkKind) -> None:
        lane = self.requests.get(request_id)
        if lane is not None:
            lane.mark(at, kind)
            lane.close(at)


# Placing marks: exact order, approximate distance.


def _placer(
    lane: Lane, raw: Callable[[float], float], gap: float
) -> tuple[list[tuple[Mark, float]], Callable[[float], float]]:
    """Where each mark of `lane` goes, and where any other time falls.

    A mark goes at its own time, or `gap` after the mark before it if that
    is further on. Any other time goes at its own place or at the last mark
    before it, whichever is further on, so spans meet their marks.
    """
    placed: list[tuple[Mark, float]] = []
    last = float("-inf")
    for mark in sorted(lane.marks, key=_time_of):
        last = max(raw(mark.at), last + gap)
        placed.append((mark, last))
    times = [mark.at for mark, _ in placed]

    def place(at: float) -> float:
        before = bisect.bisect_right(times, at)
        floor = placed[before - 1][1] if before else float("-inf")
        return max(raw(at), floor)

    return placed, place


def _time_of(mark: Mark) -> float:
    return mark.at


# The terminal.

_LEGEND = (
    "S send  4 401  Q queued  R retry  D done  X failed  L left  ? still waiting",
    "[ ] refresh start/end  ! refresh failed  x cancelled"
    "  - in flight  . waiting  = refreshing",
)


def render_text(timeline: Timeline, *, width: int = 60) -> list[str]:
    """The timeline as plain text lines, `width` columns of time per lane."""
    label_width = max(len(lane.label) for lane in timeline.lanes) + 2

    def column(at: float) -> float:
        return round((at - timeline.start) / timeline.duration * (width - 1))

    lines = [f"timeline: {timeline.title}"]
    for lane in timeline.lanes:
        lines.append(f"  {lane.label:<{label_width}}{_text_row(lane, column)}")
    if timeline.hidden:
        lines.append(f"  ... and {timeline.hidden} more requests, not drawn")
    total = _duration(timeline.duration)
    axis = f"0 ms{total:>{width - 4}}"
    lines.append(f"  {'':<{label_width}}{axis}")
    lines.extend(f"  {legend}" for legend in _LEGEND)
    return lines


def _text_row(lane: Lane, column: Callable[[float], float]) -> str:
    placed, place = _placer(lane, column, 1)
    row: list[str] = []

    def put(position: float, char: str) -> None:
        index = int(position)
        row.extend(" " * (index + 1 - len(row)))
        row[index] = char

    for span in lane.spans:
        end = span.end if span.end is not None else span.start
        for index in range(int(place(span.start)), int(place(end)) + 1):
            put(index, FILLS[span.kind])
    for mark, position in placed:
        put(position, GLYPHS[mark.kind])
    return "".join(row).rstrip()


# The SVG file.

_LABEL_WIDTH: Final = 150
_PLOT_WIDTH: Final = 720
_SVG_WIDTH: Final = _LABEL_WIDTH + _PLOT_WIDTH + 40
_LANE_HEIGHT: Final = 28
_TITLE_HEIGHT: Final = 34
_AXIS_HEIGHT: Final = 34
_PANEL_GAP: Final = 16
_LEGEND_HEIGHT: Final = 64
_MARK_GAP: Final = 14.0

_MARK_COLOURS: Final[dict[MarkKind, str]] = {
    "send": "#6b7280",
    "401": "#dc2626",
    "queued": "#d97706",
    "retry": "#2563eb",
    "done": "#16a34a",
    "failed": "#7f1d1d",
    "left": "#7c3aed",
    "still waiting": "#db2777",
    "refresh start": "#2563eb",
    "refresh end": "#2563eb",
    "refresh failed": "#7f1d1d",
    "cancelled": "#7f1d1d",
}
_SPAN_STYLES: Final[dict[SpanKind, str]] = {
    "in flight": 'stroke="#9ca3af" stroke-width="3"',
    "waiting": 'stroke="#d97706" stroke-width="2" stroke-dasharray="4 3"',
    "refreshing": 'stroke="#93c5fd" stroke-width="10"',
}


def render_svg(timelines: Sequence[Timeline]) -> str:
    """A standalone SVG document: one panel per timeline, then a legend."""
    parts: list[str] = []
    top = 10
    for timeline in timelines:
        parts.append(_svg_panel(timeline, top))
        top += _panel_height(timeline) + _PANEL_GAP
    parts.append(_svg_legend(top))
    height = top + _LEGEND_HEIGHT
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_SVG_WIDTH}"'
            f' height="{height}" viewBox="0 0 {_SVG_WIDTH} {height}"'
            ' font-family="sans-serif" font-size="12">',
            f'<rect width="{_SVG_WIDTH}" height="{height}" fill="white"/>',
            *parts,
            "</svg>",
            "",
        ]
    )


def _panel_height(timeline: Timeline) -> int:
    lanes = len(timeline.lanes) + (1 if timeline.hidden else 0)
    return _TITLE_HEIGHT + lanes * _LANE_HEIGHT + _AXIS_HEIGHT


def _svg_panel(timeline: Timeline, top: int) -> str:
    def x_of(at: float) -> float:
        return _LABEL_WIDTH + (at - timeline.start) / timeline.duration * _PLOT_WIDTH

    parts = [
        f'<g class="run" data-title={quoteattr(timeline.title)}'
        f' transform="translate(0,{top})">',
        f'<text class="run-title" x="10" y="20" font-size="14"'
        f' font-weight="bold">{escape(timeline.title)}</text>',
    ]
    for index, lane in enumerate(timeline.lanes):
        lane_top = _TITLE_HEIGHT + index * _LANE_HEIGHT
        parts.append(_svg_lane(lane, lane_top, x_of, timeline.start))
    lanes_bottom = _TITLE_HEIGHT + len(timeline.lanes) * _LANE_HEIGHT
    if timeline.hidden:
        parts.append(
            f'<text class="hidden-lanes" x="10" y="{lanes_bottom + 18}"'
            f' fill="#6b7280">... and {timeline.hidden} more requests,'
            " not drawn</text>"
        )
        lanes_bottom += _LANE_HEIGHT
    parts.append(_svg_axis(timeline, lanes_bottom))
    parts.append("</g>")
    return "\n".join(parts)


def _svg_lane(
    lane: Lane, top: int, x_of: Callable[[float], float], origin: float
) -> str:
    middle = _LANE_HEIGHT // 2
    parts = [
        f'<g class="lane" data-label={quoteattr(lane.label)}'
        f' transform="translate(0,{top})">',
        f'<text class="lane-label" x="10" y="{middle + 4}">{escape(lane.label)}</text>',
        f'<line class="track" x1="{_LABEL_WIDTH}" x2="{_LABEL_WIDTH + _PLOT_WIDTH}"'
        f' y1="{middle}" y2="{middle}" stroke="#e5e7eb"/>',
    ]
    placed, place = _placer(lane, x_of, _MARK_GAP)
    for span in lane.spans:
        end = span.end if span.end is not None else span.start
        tip = f"{span.kind} for {_duration(end - span.start)}"
        if span.unfinished:
            tip += ", and still when the run ended"
        parts.append(
            f'<line class="span" data-kind={quoteattr(span.kind)}'
            f' x1="{place(span.start):.1f}" x2="{place(end):.1f}"'
            f' y1="{middle}" y2="{middle}" {_SPAN_STYLES[span.kind]}>'
            f"<title>{escape(tip)}</title></line>"
        )
    for mark, x in placed:
        parts.append(_svg_mark(mark, x, middle, mark.at - origin))
    parts.append("</g>")
    return "\n".join(parts)


def _svg_mark(mark: Mark, x: float, y: int, since_start: float) -> str:
    colour = _MARK_COLOURS[mark.kind]
    tip = f"{mark.kind} at {_duration(since_start)}"
    return (
        f'<g class="mark" data-kind={quoteattr(mark.kind)}>'
        f"<title>{escape(tip)}</title>"
        f'<circle cx="{x:.1f}" cy="{y}" r="6.5" fill="{colour}"/>'
        f'<text x="{x:.1f}" y="{y + 3.5}" text-anchor="middle" font-size="9"'
        f' fill="white">{escape(GLYPHS[mark.kind])}</text></g>'
    )


def _svg_axis(timeline: Timeline, top: int) -> str:
    parts = [
        f'<g class="axis" transform="translate(0,{top})">',
        f'<line x1="{_LABEL_WIDTH}" x2="{_LABEL_WIDTH + _PLOT_WIDTH}" y1="6" y2="6"'
        ' stroke="#6b7280"/>',
    ]
    for step in range(5):
        fraction = step / 4
        x = _LABEL_WIDTH + fraction * _PLOT_WIDTH
        label = _duration(fraction * timeline.duration)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="2" y2="10" stroke="#6b7280"/>'
            f'<text x="{x:.1f}" y="24" text-anchor="middle"'
            f' fill="#374151">{escape(label)}</text>'
        )
    parts.append("</g>")
    return "\n".join(parts)


def _svg_legend(top: int) -> str:
    parts = [f'<g class="legend" transform="translate(10,{top})">']
    for index, (kind, glyph) in enumerate(GLYPHS.items()):
        x = (index % 6) * 145 + 8
        y = (index // 6) * 22 + 10
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="6.5" fill="{_MARK_COLOURS[kind]}"/>'
            f'<text x="{x}" y="{y + 3.5}" text-anchor="middle" font-size="9"'
            f' fill="white">{escape(glyph)}</text>'
            f'<text x="{x + 12}" y="{y + 4}">{escape(kind)}</text>'
        )
    spans_y = 2 * 22 + 10
    for index, (span_kind, style) in enumerate(_SPAN_STYLES.items()):
        x = index * 145 + 2
        parts.append(
            f'<line x1="{x}" x2="{x + 24}" y1="{spans_y}" y2="{spans_y}" {style}/>'
            f'<text x="{x + 30}" y="{spans_y + 4}">{escape(span_kind)}</text>'
        )
    parts.append("</g>")
    return "\n".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"

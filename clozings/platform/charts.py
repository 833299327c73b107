"""Charts drawn on the server (kernel: every app's pages may use them): geometry for the
SVG template `_chart.svg`, in a fixed viewBox that scales to the screen, with the numbers
in a table beside each chart for people and screen readers (CONVENTIONS.md, Pages)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 320


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    kind: str
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


def duration(seconds: float | None) -> str:
    """A latency people read at a glance: 0.4 s, 12 s, 6.5 min, 2.1 h, 3.0 d."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def percent(share: float | None) -> str:
    """A share (0-1) as a whole percent, or a dash when there is nothing to share."""
    return "–" if share is None else f"{share * 100:.0f}%"


def hbars(rows: Sequence[tuple[str, str, float | None]],
          fmt: Callable[[float | None], str] = duration, *, top: float | None = None) -> dict:
    """Horizontal bars, one per (label, colour class, value), on a common scale (the
    largest value, or `top`), each value written beside its bar with `fmt`."""
    return grouped_hbars([(label, [(kind, value)]) for label, kind, value in rows], fmt,
                         top=top)


def grouped_hbars(groups: Sequence[tuple[str, Sequence[tuple[str, float | None]]]],
                  fmt: Callable[[float | None], str] = duration, *,
                  top: float | None = None) -> dict:
    """Horizontal bars in groups: per group a label and one bar per (colour class, value),
    e.g. "2 touches": yours and the industry's, on a common scale."""
    bar_height, gap, label_width = 16, 8, 110
    top = top or max((value or 0 for _, bars in groups for _, value in bars), default=0) or 1
    rects, labels, y = [], [], 2.0
    for label, bars in groups:
        block = bar_height * len(bars)
        labels.append(Label(label_width - 6, y + block / 2 + 4, label[:18], anchor="end"))
        for kind, value in bars:
            width = (WIDTH - label_width - 56) * min(value or 0, top) / top
            rects.append(Rect(label_width, y + 2, max(width, 1), bar_height - 4, kind,
                              f"{label}: {fmt(value)}"))
            labels.append(Label(label_width + width + 4, y + bar_height - 4, fmt(value),
                                anchor="start"))
            y += bar_height
        y += gap
    return {"rects": rects, "labels": labels, "width": WIDTH, "height": round(y)}


def columns(items: Sequence[tuple[str, str, float | None]],
            fmt: Callable[[float | None], str] = str, *, height: int = 160) -> dict:
    """Vertical bars (a funnel, a distribution): one per (label, colour class, value), the
    value above the bar and the label under it."""
    bottom, top_margin, left = 20, 16, 8
    top = max((value or 0 for _, _, value in items), default=0) or 1
    slot = (WIDTH - 2 * left) / max(len(items), 1)
    plot = height - bottom - top_margin
    rects, labels = [], []
    for i, (label, kind, value) in enumerate(items):
        bar = plot * (value or 0) / top
        x = left + i * slot + slot * 0.15
        rects.append(Rect(x, height - bottom - bar, slot * 0.7, max(bar, 1), kind,
                          f"{label}: {fmt(value)}"))
        labels.append(Label(x + slot * 0.35, height - bottom - bar - 4, fmt(value)))
        labels.append(Label(x + slot * 0.35, height - 6, label[:14]))
    return {"rects": rects, "labels": labels, "width": WIDTH, "height": height}

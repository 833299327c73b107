"""Bar charts of the staff delivery page, drawn on the server: geometry for an SVG template
(console/_bars.svg), in a fixed viewBox that scales to the screen. The generic shapes are
the kernel's (clozings.platform.charts), shared with the CRM's reports."""

from __future__ import annotations

from clozings.platform.charts import Label, Rect, duration, hbars

__all__ = ["STATUS_ORDER", "duration", "hbars", "stacked_hbars", "status_by_day"]

WIDTH, HEIGHT = 320, 160
LEFT, BOTTOM, TOP = 8, 20, 18
# Stacking order and colour class of each status (delivered at the bottom).
STATUS_ORDER = ("delivered", "rerouted", "routed", "received", "orphaned", "rejected",
                "duplicate")


def status_by_day(days: list[dict]) -> dict:
    """Stacked bars: one per day, a segment per status."""
    totals = [sum(day["counts"].values()) for day in days]
    top = max(totals, default=0) or 1
    slot = (WIDTH - 2 * LEFT) / max(len(days), 1)
    plot = HEIGHT - BOTTOM - TOP
    rects, labels = [], []
    every = max(1, -(-len(days) // 5))
    for i, day in enumerate(days):
        x, y = LEFT + i * slot + slot * 0.15, HEIGHT - BOTTOM
        for status in STATUS_ORDER:
            n = day["counts"].get(status, 0)
            if n:
                height = plot * n / top
                y -= height
                rects.append(Rect(x, y, slot * 0.7, height, status,
                                  f"{day['day']:%b} {day['day'].day}: {n} {status}"))
        last = i == len(days) - 1
        if (i % every == 0 and len(days) - 1 - i >= every / 2) or last:
            anchor = "start" if i == 0 else "end" if last else "middle"
            at = {"start": x, "end": x + slot * 0.7, "middle": x + slot * 0.35}[anchor]
            labels.append(Label(at, HEIGHT - 6, f"{day['day']:%b} {day['day'].day}", anchor))
    labels.append(Label(LEFT, TOP - 6, f"{top} leads a day at most", anchor="start"))
    return {"rects": rects, "labels": labels, "width": WIDTH, "height": HEIGHT}


def stacked_hbars(rows: list[tuple[str, list[tuple[str, int]]]]) -> dict:
    """Horizontal bars, one per (label, [(colour class, count), ...]), the counts stacked
    left to right on a common scale, the total written beside each bar."""
    row_height = 22
    label_width = 110
    totals = [sum(n for _, n in parts) for _, parts in rows]
    top = max(totals, default=0) or 1
    rects, labels = [], []
    for i, ((label, parts), total) in enumerate(zip(rows, totals, strict=True)):
        y = 2 + i * row_height
        labels.append(Label(label_width - 6, y + 15, label[:18], anchor="end"))
        x = label_width
        for kind, n in parts:
            if n:
                width = (WIDTH - label_width - 60) * n / top
                rects.append(Rect(x, y + 3, width, row_height - 6, kind,
                                  f"{label}: {n} {kind}"))
                x += width
        labels.append(Label(x + 4, y + 15, str(total), anchor="start"))
    return {"rects": rects, "labels": labels, "width": WIDTH,
            "height": row_height * len(rows) + 4}

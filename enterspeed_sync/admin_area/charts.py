"""
The dashboard's activity charts as plain numbers for an inline SVG
(``includes/activity_chart.html``): no script, no external request, and a table with the
same numbers for screen readers and for reading exact values.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from enterspeed_sync.status.overview import Bucket

WIDTH = 600
HEIGHT = 160
#: Room for the value axis on the left and the time labels below.
LEFT = 40
BOTTOM = 20
TOP = 8

#: (series, label, CSS class) in drawing order.
SERIES = (
    ("queued", "Queued", "queued"),
    ("sent", "Sent", "sent"),
    ("failed", "Failed", "failed"),
)


@dataclass(frozen=True)
class Line:
    name: str
    label: str
    css: str
    #: "x,y x,y …" for polylines, one run per stretch without gaps.
    runs: list[str]
    total: int


@dataclass(frozen=True)
class Chart:
    span: str
    title: str
    lines: list[Line]
    top_value: int
    #: (x, label) ticks along the time axis.
    ticks: list[tuple[float, str]]
    #: (label, sent, unchanged, retried, failed, queued) per bucket, for the table.
    rows: list[tuple]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    plot_bottom: int = HEIGHT - BOTTOM
    top: int = TOP


def build_chart(span: str, title: str, buckets: list[Bucket]) -> Chart:
    top_value = max(
        [1] + [getattr(bucket, name) or 0 for bucket in buckets for name, _label, _css in SERIES]
    )
    step = (WIDTH - LEFT) / max(1, len(buckets) - 1)
    plot_height = HEIGHT - BOTTOM - TOP

    def point(index: int, value: int) -> str:
        x = LEFT + index * step
        y = TOP + plot_height * (1 - value / top_value)
        return f"{x:.1f},{y:.1f}"

    lines = []
    for name, label, css in SERIES:
        runs, run = [], []
        for index, bucket in enumerate(buckets):
            value = getattr(bucket, name)
            if value is None:  # no measurement: the line breaks
                if run:
                    runs.append(" ".join(run))
                run = []
                continue
            run.append(point(index, value))
        if run:
            runs.append(" ".join(run))
        total = sum(getattr(b, name) or 0 for b in buckets) if name != "queued" else 0
        lines.append(Line(name, label, css, runs, total))
    fmt = "%H:%M"
    every = max(1, len(buckets) // 6)
    ticks = [
        (LEFT + index * step, timezone.localtime(bucket.start).strftime(fmt))
        for index, bucket in enumerate(buckets)
        if index % every == 0 or index == len(buckets) - 1
    ]
    rows = [
        (
            timezone.localtime(b.start).strftime(fmt),
            b.sent,
            b.unchanged,
            b.retried,
            b.failed,
            "–" if b.queued is None else b.queued,
        )
        for b in buckets
        if b.sent or b.unchanged or b.retried or b.failed or b.queued
    ]
    return Chart(span, title, lines, top_value, ticks, rows)

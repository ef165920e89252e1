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
    #: Queued, a level: "x,y x,y …" for polylines, one run per stretch without gaps.
    runs: list[str]
    #: Queued: a dot on every measured minute or hour (a lone one has no line).
    dots: list[tuple[str, str]]
    #: Sent and failed, amounts: one bar (x, y, width, height) per bucket with any.
    bars: list[tuple[str, str, str, str]]
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
    slot = (WIDTH - LEFT) / max(1, len(buckets))
    plot_height = HEIGHT - BOTTOM - TOP
    bar_width = max(1.0, (slot - 1) / 2)

    def y_of(value: int) -> float:
        return TOP + plot_height * (1 - value / top_value)

    lines = []
    for name, label, css in SERIES:
        runs, run, bars, dots = [], [], [], []
        for index, bucket in enumerate(buckets):
            value = getattr(bucket, name)
            centre = LEFT + (index + 0.5) * slot
            if name != "queued":
                if value:
                    x = centre - bar_width if name == "sent" else centre
                    bars.append(
                        tuple(
                            f"{n:.1f}"
                            for n in (x, y_of(value), bar_width, plot_height * value / top_value)
                        )
                    )
                continue
            if value is None:  # no measurement: the line breaks
                if run:
                    runs.append(" ".join(run))
                run = []
                continue
            run.append(f"{centre:.1f},{y_of(value):.1f}")
            dots.append((f"{centre:.1f}", f"{y_of(value):.1f}"))
        if run:
            runs.append(" ".join(run))
        total = sum(getattr(b, name) or 0 for b in buckets) if name != "queued" else 0
        lines.append(Line(name, label, css, runs, dots, bars, total))
    fmt = "%H:%M"
    every = max(1, len(buckets) // 6)
    ticks = [
        (LEFT + (index + 0.5) * slot, timezone.localtime(bucket.start).strftime(fmt))
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

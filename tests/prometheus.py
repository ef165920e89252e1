"""
Just enough of Prometheus for the metrics tests: a strict parser of the text exposition
format (0.0.4), and an evaluator of exactly the two shapes of expression the alert rules in
docs/production.md use. Anything else is an error, so a rule edited into another shape
fails its test instead of being evaluated wrongly.

- ``<metric> > <number>``: the samples above the number;
- ``sum by (<label>) (increase(<metric>[<range>])) > <number>``: per label value, what the
  counters grew by from the first scrape to the last (a counter that went down was reset
  and counts from 0), above the number.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from dataclasses import dataclass

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(rf"^(?P<name>{NAME})(?:\{{(?P<labels>.*)\}})? (?P<value>\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')
KINDS = {"counter", "gauge", "histogram", "summary", "untyped"}

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Scrape:
    #: (name, labels) → value
    samples: dict[tuple[str, Labels], float]
    #: family → type
    types: dict[str, str]

    def get(self, name: str, **labels: str) -> float:
        return self.samples[name, tuple(sorted(labels.items()))]

    def select(self, name: str, **labels: str) -> dict[Labels, float]:
        return {
            key: value
            for (sample, key), value in self.samples.items()
            if sample == name and all((k, v) in key for k, v in labels.items())
        }


def parse(text: str) -> Scrape:
    """Parse the exposition, refusing anything the format does not allow."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    samples: dict[tuple[str, Labels], float] = {}
    types: dict[str, str] = {}
    helped: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert name not in helped, f"line {number}: a second HELP for {name}"
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            _hash, _type, name, kind = line.split(" ")
            assert kind in KINDS, f"line {number}: unknown type {kind!r}"
            assert name not in types, f"line {number}: a second TYPE for {name}"
            types[name] = kind
            continue
        assert line and not line.startswith("#"), f"line {number}: {line!r}"
        match = SAMPLE.match(line)
        assert match, f"line {number}: not a sample: {line!r}"
        labels_text = match["labels"] or ""
        labels = tuple(sorted(LABEL.findall(labels_text)))
        rebuilt = ",".join(f'{k}="{v}"' for k, v in LABEL.findall(labels_text))
        assert rebuilt == labels_text, f"line {number}: malformed labels {labels_text!r}"
        family = _family(match["name"], types)
        assert family in types, f"line {number}: {match['name']} has no TYPE before it"
        value = float(match["value"].replace("+Inf", "inf"))
        key = (match["name"], labels)
        assert key not in samples, f"line {number}: a duplicate sample"
        samples[key] = value
    _check_histograms(samples, types)
    return Scrape(samples, types)


def _family(name: str, types: dict[str, str]) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if base != name and types.get(base) == "histogram":
            return base
    return name


def _check_histograms(samples, types) -> None:
    for family, kind in types.items():
        if kind != "histogram":
            continue
        series = defaultdict(list)
        for (name, labels), value in samples.items():
            if name == f"{family}_bucket":
                rest = tuple(item for item in labels if item[0] != "le")
                series[rest].append((float(dict(labels)["le"].replace("+Inf", "inf")), value))
        for rest, buckets in series.items():
            buckets.sort()
            values = [value for _le, value in buckets]
            assert values == sorted(values), f"{family}{rest}: buckets are not cumulative"
            assert math.isinf(buckets[-1][0]), f"{family}{rest}: no +Inf bucket"
            assert samples[f"{family}_count", rest] == values[-1], f"{family}{rest}: count"


THRESHOLD = re.compile(rf"^(?P<metric>{NAME}) > (?P<limit>[0-9.]+)$")
INCREASE = re.compile(
    rf"^sum by \((?P<by>\w+)\) \(increase\((?P<metric>{NAME})\[(?P<range>\w+)\]\)\) "
    r"> (?P<limit>[0-9.]+)$"
)


def evaluate(expression: str, scrapes: list[Scrape]) -> dict:
    """What the alert expression returns over ``scrapes`` (oldest first, all within the
    expression's range): ``{labels: value}``, empty when the alert is silent."""
    expression = " ".join(expression.split())
    if match := THRESHOLD.match(expression):
        limit = float(match["limit"])
        return {
            labels: value
            for labels, value in scrapes[-1].select(match["metric"]).items()
            if value > limit
        }
    if match := INCREASE.match(expression):
        limit = float(match["limit"])
        grown: dict[str, float] = defaultdict(float)
        series = {labels for scrape in scrapes for labels in scrape.select(match["metric"])}
        for labels in series:
            values = [
                scrape.select(match["metric"]).get(labels)
                for scrape in scrapes
                if labels in scrape.select(match["metric"])
            ]
            increase = sum(b - a if b >= a else b for a, b in itertools.pairwise(values))
            grown[dict(labels).get(match["by"], "")] += increase
        return {((match["by"], key),): value for key, value in grown.items() if value > limit}
    raise AssertionError(f"tests/prometheus.py cannot evaluate {expression!r}")

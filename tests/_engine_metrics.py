"""Engine metric fixtures and a PromQL check of names and labels against them.

The fixtures (`tests/fixtures/engines/<engine>_metrics.json`) are read from each engine's
source at its pinned version by `tests/fixtures/engines/extract_metrics.py`. `problems`
parses PromQL with promql-parser (the Rust parser Prometheus-compatible databases use) and
reports every selected series an engine does not expose, every label it does not carry and
every label value outside a closed set the source declares.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import promql_parser as pp

from tgi_infra.engines.contract import SERIES_BY_NAME, TARGET_LABELS

FIXTURES = Path(__file__).parent / "fixtures" / "engines"
SUFFIXES = {
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
}
SCRAPE_ONLY = {"kube_", "DCGM_"}
"""Prefixes of series that come from kube-state-metrics and the DCGM exporter, not engines."""


@dataclass(frozen=True)
class Exposed:
    """One series name as scraped, and the metric it belongs to."""

    name: str
    metric: dict[str, Any]
    suffix: str


@cache
def fixture(engine: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{engine}_metrics.json").read_text())


@cache
def exposed(engine: str) -> dict[str, Exposed]:
    """Every series name the engine's /metrics shows, as the exporter names it."""
    data = fixture(engine)
    out: dict[str, Exposed] = {}
    for metric in data["metrics"]:
        name, kind = metric["name"], metric["type"]
        if kind == "counter":
            base = name.removesuffix("_total") + data["counter_suffix"]
            out[base] = Exposed(base, metric, "")
            continue
        for suffix in SUFFIXES.get(kind, ("",)):
            out[name + suffix] = Exposed(name + suffix, metric, suffix)
    return out


def _labels_of(item: Exposed) -> set[str]:
    labels = set(item.metric["labels"] or ())
    if item.suffix == "_bucket":
        labels.add("le")
    if item.metric["type"] == "summary" and item.suffix == "":
        labels.add("quantile")
    return labels


def _alternatives(value: str) -> list[str] | None:
    """The literal alternatives of a simple `a|b|c` regex; None for anything fancier."""
    parts = value.split("|")
    return parts if all(p and re.escape(p) == p for p in parts) else None


def selectors(expr: str) -> list[Any]:
    """Every vector selector in a PromQL expression."""
    found: list[Any] = []

    def visit(node: Any) -> None:
        if isinstance(node, pp.VectorSelector):
            found.append(node)

    pp.walk(pp.parse(expr), visit)
    return found


def grouping_labels(expr: str) -> tuple[list[str], set[str]]:
    """Labels read by `by (...)` / `without (...)` and label_replace, and those it creates."""
    read: list[str] = []
    created: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, pp.AggregateExpr) and node.modifier is not None:
            read.extend(node.modifier.labels)
        if isinstance(node, pp.Call) and node.func.name == "label_replace":
            created.add(node.args[1].val)
            read.append(node.args[3].val)

    pp.walk(pp.parse(expr), visit)
    return read, created


def engine_problems(expr: str, engine: str) -> list[str]:
    """Series, labels and values `expr` selects that `engine` (fixture) does not expose."""
    names = exposed(engine)
    problems: list[str] = []
    carried: set[str] = set(TARGET_LABELS)
    for sel in selectors(expr):
        item = names.get(sel.name)
        if item is None:
            problems.append(f"{engine} exposes no series {sel.name}")
            continue
        labels = _labels_of(item)
        carried |= labels
        values = item.metric.get("values", {})
        for m in sel.matchers.matchers:
            if m.name in TARGET_LABELS:
                continue
            if m.name not in labels:
                problems.append(f"{sel.name} has no label {m.name} ({engine})")
                continue
            allowed = values.get(m.name)
            wanted = [m.value] if m.op in (pp.MatchOp.Equal, pp.MatchOp.NotEqual) else (
                _alternatives(m.value))
            if allowed and wanted and m.value != "":
                problems += [f"{sel.name}{{{m.name}}} has no value {v!r} ({engine})"
                             for v in wanted if v not in allowed]
    read, created = grouping_labels(expr)
    problems += [f"grouping label {g} is on no selected {engine} series"
                 for g in read if g not in carried | created]
    return problems


def contract_problems(expr: str) -> list[str]:
    """Series outside the contract (and the scrape-only sources), or labels it lacks."""
    problems: list[str] = []
    for sel in selectors(expr):
        if any(sel.name.startswith(p) for p in SCRAPE_ONLY):
            continue
        series = SERIES_BY_NAME.get(sel.name)
        if series is None:
            problems.append(f"{sel.name} is not an engine-neutral series")
            continue
        problems += [f"{sel.name} has no label {m.name}" for m in sel.matchers.matchers
                     if m.name not in series.labels]
    return problems

"""The engine-neutral metric contract: the `llm:*` series every engine's metrics map onto.

Each engine's `metrics.py` (`tgi_infra/engines/<engine>/metrics.py`) says, in PromQL over
its own metric names, how to compute every series below; `recording_rules` renders them as
Prometheus recording rules per tier, labelled `engine`. Alerts, the dashboard, the HPA's
prometheus-adapter rules and KEDA read only these series, so one set of alerts and one board
serve TGI, vLLM and SGLang tiers alike.

Labels: per-pod series keep `namespace`, `tier`, `pod` (the autoscalers average per pod);
per-tier series keep `namespace`, `tier`; quantile series add `quantile` ("0.5", "0.95");
`llm:errors_per_second` adds `reason` (the engine's own error label value). Rates and
quantiles are over `WINDOW`. The monitors add `namespace`, `pod` and `tier` at scrape time
(see `manifests/observability.py`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Literal

from tgi_infra.engines import ENGINE_NAMES
from tgi_infra.escape import promql_string

WINDOW = "5m"
"""Range of every rate and quantile in the contract (at least 4 scrape intervals)."""
QUANTILES = ("0.5", "0.95")
POD_KEYS = ("namespace", "tier", "pod")
TIER_KEYS = ("namespace", "tier")
TARGET_LABELS = frozenset(
    {"namespace", "pod", "tier", "model_hash", "instance", "job", "container", "service",
     "endpoint"}
)
"""Labels Prometheus attaches at scrape time (the monitors' relabelings), not the engine."""

QUEUE = "llm:queue_requests"
RUNNING = "llm:running_requests"
KV_CACHE = "llm:kv_cache_usage_ratio"
TTFT = "llm:ttft_seconds"
TPOT = "llm:tpot_seconds"
REQUEST_DURATION = "llm:request_duration_seconds"
QUEUE_DURATION = "llm:queue_duration_seconds"
REQUESTS = "llm:requests_per_second"
ERRORS = "llm:errors_per_second"
PROMPT_TOKENS = "llm:prompt_tokens_per_second"
GENERATION_TOKENS = "llm:generation_tokens_per_second"


@dataclass(frozen=True)
class Series:
    """One engine-neutral series: what it means, its unit and the labels it keeps."""

    name: str
    per: Literal["pod", "tier"]
    unit: str
    help: str
    extra_labels: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        keys = POD_KEYS if self.per == "pod" else TIER_KEYS
        return (*keys, "engine", *self.extra_labels)


SERIES: tuple[Series, ...] = (
    Series(QUEUE, "pod", "requests", "Requests waiting for a batch slot (not yet prefilled)."),
    Series(RUNNING, "pod", "requests", "Requests in the running batch."),
    Series(KV_CACHE, "pod", "ratio", "Share of the KV cache in use or reserved, 0 to 1."),
    Series(TTFT, "tier", "seconds", "Time to first token, p50 and p95.", ("quantile",)),
    Series(TPOT, "tier", "seconds", "Per-request mean time per output token, p50 and p95.",
           ("quantile",)),
    Series(REQUEST_DURATION, "tier", "seconds", "End-to-end request latency, p50 and p95.",
           ("quantile",)),
    Series(QUEUE_DURATION, "tier", "seconds", "Time a request waits before it is scheduled, "
           "p50 and p95.", ("quantile",)),
    Series(REQUESTS, "tier", "1/s", "Requests finished per second, failed ones included."),
    Series(ERRORS, "tier", "1/s", "Failed requests per second by the engine's reason; "
           "client disconnects excluded.", ("reason",)),
    Series(PROMPT_TOKENS, "tier", "tokens/s", "Prompt (input) tokens per second."),
    Series(GENERATION_TOKENS, "tier", "tokens/s", "Generated (output) tokens per second."),
)
SERIES_BY_NAME: Mapping[str, Series] = MappingProxyType({s.name: s for s in SERIES})


@dataclass(frozen=True)
class Quantile:
    """A quantile series as the sum of per-histogram quantiles (one term for most engines).

    `terms` are (histogram base name, extra matchers) pairs; `_bucket` is appended.
    """

    terms: tuple[tuple[str, str], ...]

    def expr(self, sel: str, q: str) -> str:
        parts = []
        for metric, extra in self.terms:
            matchers = f"{sel},{extra}" if extra else sel
            parts.append(
                f"histogram_quantile({q}, sum by ({', '.join(TIER_KEYS)}, le) "
                f"(rate({metric}_bucket{{{matchers}}}[{WINDOW}])))"
            )
        return " + ".join(parts)


@dataclass(frozen=True)
class Scrape:
    """Where Prometheus reads an engine's metrics: the serving port, by its name."""

    path: str = "/metrics"
    port_name: str = "http"
    requires_args: tuple[str, ...] = ()
    """Engine flags without which the path answers nothing (SGLang: --enable-metrics)."""


Expressions = Callable[[str], Mapping[str, "str | Quantile"]]


@dataclass(frozen=True)
class EngineMetrics:
    """An engine's side of the contract, declared in `engines/<engine>/metrics.py`."""

    engine: str
    version: str
    source: str
    """Where the metric names were read (files, tag or wheel); the fixture repeats it."""
    expressions: Expressions
    """Selector (`namespace="..",tier=".."`) -> PromQL (or a Quantile) per contract series."""
    error_reasons: Mapping[str, str]
    """Every `reason` value of llm:errors_per_second -> what it means and the fix."""
    differences: Mapping[str, str] = field(default_factory=dict)
    """Contract series -> how this engine's value differs from the plain meaning."""
    scrape: Scrape = Scrape()


def engine_metrics(engine: str) -> EngineMetrics:
    """The metric mapping of an engine, from `tgi_infra.engines.<engine>.metrics`."""
    if engine not in ENGINE_NAMES:
        raise ValueError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINE_NAMES)}")
    return _load(engine)


@cache
def _load(engine: str) -> EngineMetrics:
    module = importlib.import_module(f"tgi_infra.engines.{engine}.metrics")
    metrics: EngineMetrics = module.METRICS
    if metrics.engine != engine:
        raise ValueError(f"tgi_infra.engines.{engine}.metrics declares {metrics.engine!r}")
    return metrics


# Builders the engines' expressions share: one shape per kind of series.
def per_pod(expr: str, agg: str = "sum") -> str:
    """A per-pod gauge: engines with several ranks or engine cores in a pod aggregate here."""
    return f"{agg} by ({', '.join(POD_KEYS)}) ({expr})"


def tier_rate(*selectors: str) -> str:
    """Per-tier rate of one counter, or of the sum of two that may each be absent.

    Engines create a counter's series on its first increment, so a plain `a + b` would be
    empty until both have counted: `a + b or a or b` keeps whichever exists.
    """
    keys = ", ".join(TIER_KEYS)
    terms = [f"sum by ({keys}) (rate({s}[{WINDOW}]))" for s in selectors]
    if len(terms) == 1:
        return terms[0]
    if len(terms) != 2:
        raise ValueError("tier_rate sums one or two counters")
    return f"{terms[0]} + {terms[1]} or {terms[0]} or {terms[1]}"


def latencies(
    ttft: str | Quantile, tpot: str, request: str, queue: str
) -> dict[str, str | Quantile]:
    """The four quantile series from histogram base names (or a Quantile for TTFT)."""
    one = lambda name: Quantile(((name, ""),))  # noqa: E731
    return {
        TTFT: ttft if isinstance(ttft, Quantile) else one(ttft),
        TPOT: one(tpot),
        REQUEST_DURATION: one(request),
        QUEUE_DURATION: one(queue),
    }


def reason_rate(selector: str, label: str) -> str:
    """Per-tier rate of a counter by `reason`, copied from the engine's `label`."""
    inner = f"rate({selector}[{WINDOW}])"
    if label != "reason":
        inner = f'label_replace({inner}, "reason", "$1", "{label}", "(.*)")'
    return f"sum by ({', '.join(TIER_KEYS)}, reason) ({inner})"


def selector(namespace: str, tier: str) -> str:
    """Matchers for one tier's raw engine series (the monitors add `tier`)."""
    return f"namespace={promql_string(namespace)},tier={promql_string(tier)}"


def recording_rules(namespace: str, tier: str, engine: str) -> list[dict[str, object]]:
    """The contract's recording rules for one tier, labelled with its engine."""
    metrics = engine_metrics(engine)
    exprs = metrics.expressions(selector(namespace, tier))
    missing = [s.name for s in SERIES if s.name not in exprs]
    if missing or len(exprs) != len(SERIES):
        raise ValueError(f"engine {engine} maps {sorted(exprs)}; the contract needs {missing}")
    rules: list[dict[str, object]] = []
    for series in SERIES:
        expr = exprs[series.name]
        if isinstance(expr, Quantile):
            rules += [
                {"record": series.name, "expr": expr.expr(selector(namespace, tier), q),
                 "labels": {"engine": engine, "quantile": q}}
                for q in QUANTILES
            ]
        else:
            rules.append({"record": series.name, "expr": expr, "labels": {"engine": engine}})
    return rules

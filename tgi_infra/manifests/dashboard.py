"""The Grafana dashboard: one board, a `tier` variable, a series per tier in every panel.

Shipped as a ConfigMap carrying the Grafana sidecar's label
(`observability.dashboard.sidecarLabel`), in the monitoring namespace. Panels query only
the engine-neutral `llm:*` series (`engines/contract.py`), so TGI, vLLM and SGLang tiers
share every panel; legends name the tier and its engine. Rates and quantiles are the
recording rules' (over `contract.WINDOW`).
"""

from __future__ import annotations

import json
from typing import Any

from tgi_infra import naming
from tgi_infra.config.models import PlatformConfig
from tgi_infra.engines import contract as c
from tgi_infra.escape import promql_string

K8s = dict[str, Any]
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39
LEGEND = "{{tier}} ({{engine}})"


def _quantiles(series: str, sel: str) -> list[tuple[str, str]]:
    return [
        (
            f'max by (tier, engine) ({series}{{{sel},quantile="{q}"}})',
            f"{{{{tier}}}} p{round(float(q) * 100)}",
        )
        for q in c.QUANTILES
    ]


def _panel(
    panel_id: int,
    title: str,
    targets: list[tuple[str, str]],
    unit: str,
    x: int,
    y: int,
    description: str = "",
) -> K8s:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit, "min": 0}, "overrides": []},
        "options": {
            "legend": {
                "displayMode": "table",
                "placement": "bottom",
                "calcs": ["lastNotNull", "max"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": expr,
                "legendFormat": legend,
                "range": True,
            }
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def panels(cfg: PlatformConfig) -> list[K8s]:
    """The board's panels, two per row, each with one series per selected tier."""
    ns = cfg.cluster.namespace
    sel = f'namespace={promql_string(ns)},tier=~"$tier"'
    hpa = f"namespace={promql_string(ns)}"
    by = "sum by (tier, engine)"
    specs: list[tuple[str, list[tuple[str, str]], str, str]] = [
        (
            "Queue size",
            [(f"{by} ({c.QUEUE}{{{sel}}})", LEGEND)],
            "short",
            f"Requests waiting for a batch slot ({c.QUEUE}): the autoscaling signal.",
        ),
        (
            "Replicas",
            [
                (f"count by (tier, engine) ({c.QUEUE}{{{sel}}})", "{{tier}} serving pods"),
                (
                    f"kube_horizontalpodautoscaler_status_desired_replicas{{{hpa}}}",
                    "{{horizontalpodautoscaler}} desired",
                ),
                (
                    f"kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}}",
                    "{{horizontalpodautoscaler}} max",
                ),
            ],
            "short",
            "Pods reporting metrics, and the autoscaler's desired and max.",
        ),
        (
            "Requests and errors",
            [
                (f"{by} ({c.REQUESTS}{{{sel}}})", "{{tier}} requests"),
                (
                    f"sum by (tier, engine, reason) ({c.ERRORS}{{{sel}}})",
                    "{{tier}} error {{reason}}",
                ),
            ],
            "reqps",
            f"{c.REQUESTS} and {c.ERRORS} by the engine's reason.",
        ),
        (
            "Time to first token",
            _quantiles(c.TTFT, sel),
            "s",
            f"{c.TTFT}. TGI has no TTFT metric: queue plus prefill time, an upper bound.",
        ),
        (
            "Request duration",
            _quantiles(c.REQUEST_DURATION, sel),
            "s",
            f"End-to-end latency ({c.REQUEST_DURATION}).",
        ),
        (
            "Queue duration",
            _quantiles(c.QUEUE_DURATION, sel),
            "s",
            f"Time a request waits before it is scheduled ({c.QUEUE_DURATION}).",
        ),
        (
            "Time per output token",
            _quantiles(c.TPOT, sel),
            "s",
            f"Per-request mean time per output token ({c.TPOT}).",
        ),
        (
            "Token throughput",
            [
                (f"{by} ({c.GENERATION_TOKENS}{{{sel}}})", "{{tier}} generated"),
                (f"{by} ({c.PROMPT_TOKENS}{{{sel}}})", "{{tier}} prompt"),
            ],
            "short",
            "Tokens per second, generated and prompt.",
        ),
        (
            "Running requests",
            [(f"{by} ({c.RUNNING}{{{sel}}})", LEGEND)],
            "short",
            f"Requests in the running batches ({c.RUNNING}).",
        ),
        (
            "KV cache usage",
            [
                (f"max by (tier, engine) ({c.KV_CACHE}{{{sel}}})", "{{tier}} fullest pod"),
                (f"avg by (tier, engine) ({c.KV_CACHE}{{{sel}}})", "{{tier}} mean"),
            ],
            "percentunit",
            f"Share of the KV cache in use ({c.KV_CACHE}); TGI: tokens reserved by the "
            "running batch.",
        ),
    ]
    return [
        _panel(i + 1, title, targets, unit, x=12 * (i % 2), y=8 * (i // 2), description=desc)
        for i, (title, targets, unit, desc) in enumerate(specs)
    ]


def dashboard(cfg: PlatformConfig) -> K8s:
    """The Grafana dashboard model (JSON-ready)."""
    tiers = ",".join(t.name for t in cfg.tiers)
    return {
        "uid": f"tgi-infra-{cfg.environment}",
        "title": f"LLM tiers ({cfg.environment})",
        "tags": ["llm", "tgi", "vllm", "sglang", naming.PART_OF],
        "timezone": "browser",
        "editable": True,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "refresh": 1,
                },
                {
                    "name": "tier",
                    "label": "Tier",
                    "type": "custom",
                    "query": tiers,
                    "multi": True,
                    "includeAll": True,
                    "current": {"text": "All", "value": "$__all"},
                    "options": [],
                    "hide": 0,
                },
            ]
        },
        "panels": panels(cfg),
    }


def dashboard_config_map(cfg: PlatformConfig) -> K8s:
    """The dashboard as a ConfigMap the Grafana sidecar picks up by its label."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": naming.dashboard_name(),
            "namespace": cfg.cluster.monitoring_namespace,
            "labels": {
                **naming.labels("dashboard", instance="tgi-infra"),
                **cfg.observability.dashboard.sidecar_label,
            },
        },
        "data": {"tgi-infra.json": json.dumps(dashboard(cfg), indent=1, sort_keys=True)},
    }

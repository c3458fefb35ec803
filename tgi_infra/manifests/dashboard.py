"""The Grafana dashboard: one board, a `tier` variable, a series per tier in every panel.

Shipped as a ConfigMap carrying the Grafana sidecar's label
(`observability.dashboard.sidecarLabel`), in the monitoring namespace. Panels query TGI's
own metric names (histograms end in `_bucket`/`_sum`; counters carry no `_total`).
"""

from __future__ import annotations

import json
from typing import Any

from tgi_infra import naming
from tgi_infra.config.models import PlatformConfig

K8s = dict[str, Any]
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39
RATE = "$__rate_interval"


def _quantiles(metric: str, sel: str, extra: str = "") -> list[tuple[str, str]]:
    matchers = f"{sel},{extra}" if extra else sel
    return [
        (
            f"histogram_quantile({q}, sum by (tier, le) "
            f"(rate({metric}_bucket{{{matchers}}}[{RATE}])))",
            f"{{{{tier}}}} p{int(q * 100)}",
        )
        for q in (0.5, 0.95)
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
    sel = f'namespace="{ns}",tier=~"$tier"'
    hpa = f'namespace="{ns}"'
    ttft = (
        f"histogram_quantile(0.95, sum by (tier, le) (rate(tgi_request_queue_duration_bucket"
        f"{{{sel}}}[5m]))) + histogram_quantile(0.95, sum by (tier, le) (rate("
        f'tgi_batch_inference_duration_bucket{{{sel},method="prefill"}}[5m])))'
    )
    specs: list[tuple[str, list[tuple[str, str]], str, str]] = [
        (
            "Queue size",
            [(f"sum by (tier) (tgi_queue_size{{{sel}}})", "{{tier}}")],
            "short",
            "Requests waiting for a batch slot (tgi_queue_size): the autoscaling signal.",
        ),
        (
            "Replicas",
            [
                (f"count by (tier) (tgi_queue_size{{{sel}}})", "{{tier}} serving pods"),
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
            "Pods answering /metrics, and the autoscaler's desired and max.",
        ),
        (
            "Requests and errors",
            [
                (f"sum by (tier) (rate(tgi_request_count{{{sel}}}[{RATE}]))", "{{tier}} requests"),
                (
                    f"sum by (tier, err) (rate(tgi_request_failure{{{sel}}}[{RATE}]))",
                    "{{tier}} error {{err}}",
                ),
            ],
            "reqps",
            "tgi_request_count and tgi_request_failure by err.",
        ),
        (
            "Time to first token (p95, estimate)",
            [(ttft, "{{tier}}")],
            "s",
            "No TTFT metric in TGI: p95 queue duration plus p95 prefill batch duration.",
        ),
        (
            "Request duration",
            _quantiles("tgi_request_duration", sel),
            "s",
            "End-to-end latency (tgi_request_duration).",
        ),
        (
            "Queue duration",
            _quantiles("tgi_request_queue_duration", sel),
            "s",
            "Time a request waits before its prefill (tgi_request_queue_duration).",
        ),
        (
            "Time per output token",
            _quantiles("tgi_request_mean_time_per_token_duration", sel),
            "s",
            "Mean inter-token latency per request (tgi_request_mean_time_per_token_duration).",
        ),
        (
            "Token throughput",
            [
                (
                    f"sum by (tier) (rate(tgi_request_generated_tokens_sum{{{sel}}}[{RATE}]))",
                    "{{tier}} generated",
                ),
                (
                    f"sum by (tier) (rate(tgi_request_input_length_sum{{{sel}}}[{RATE}]))",
                    "{{tier}} input",
                ),
            ],
            "short",
            "Tokens per second, generated and prompt.",
        ),
        (
            "Batch size",
            [(f"sum by (tier) (tgi_batch_current_size{{{sel}}})", "{{tier}}")],
            "short",
            "Requests in the running batches (tgi_batch_current_size).",
        ),
        (
            "KV cache tokens",
            [
                (f"sum by (tier) (tgi_batch_current_max_tokens{{{sel}}})", "{{tier}} in use"),
                (f"sum by (tier) (tgi_batch_max_total_tokens{{{sel}}})", "{{tier}} capacity"),
            ],
            "short",
            "Tokens reserved by running batches against tgi_batch_max_total_tokens (set at "
            "warmup).",
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
        "title": f"TGI tiers ({cfg.environment})",
        "tags": ["tgi", "llm", naming.PART_OF],
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

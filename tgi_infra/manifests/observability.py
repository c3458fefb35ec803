"""Scraping, tracing, alerts and the dashboard, per tier (`observability.*` in the stack).

Scrape modes:

- `servicemonitor`: a ServiceMonitor per tier on its router Service (the port and path the
  tier's engine serves metrics on, `engines/<engine>/metrics.py`: `http`, `/metrics` for
  all three). Only the live model version is scraped (the Service selects it).
- `podmonitor`: a PodMonitor per tier on every pod of the tier, both colours of a
  blue/green swap included (the same container port).
- `annotations`: no operator; pods carry `prometheus.io/*` annotations
  (`scrape_annotations`, set by the Deployment builder) and the alert rules ship as a rule
  file in a ConfigMap. Your scrape config must copy the pod label `tgi-infra/tier` into a
  `tier` label (see docs/observability.md).

Both monitors label every series `tier` (the tier's name) and `model_hash` (the pod's
model version); the operator adds `namespace` and `pod`. The tier's recording rules
(`engines/contract.py`) select on them to compute the `llm:*` series the alerts, the
dashboard and the autoscalers read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tgi_infra import naming
from tgi_infra.config.models import PlatformConfig, TierConfig
from tgi_infra.engines.contract import Scrape, engine_metrics
from tgi_infra.manifests.alerts import prometheus_rule, rules_config_map
from tgi_infra.manifests.dashboard import dashboard_config_map

K8s = dict[str, Any]
MONITORING_API = "monitoring.coreos.com/v1"
MODEL_HASH_SOURCE = "__meta_kubernetes_pod_label_" + "".join(
    c if c.isalnum() else "_" for c in naming.MODEL_HASH_LABEL
)


def scrape(tier: TierConfig) -> Scrape:
    """Where the tier's engine serves its metrics."""
    return engine_metrics(tier.engine).scrape


def scrape_annotations(cfg: PlatformConfig, tier: TierConfig | None = None) -> dict[str, str]:
    """Pod annotations for annotation-based scraping; empty with the operator's monitors.

    The port is the serving container port (`naming.TGI_PORT`), which every engine's
    metrics share; the path is the engine's (the default tier engine when `tier` is None).
    """
    if cfg.observability.scrape_mode != "annotations":
        return {}
    path = scrape(tier).path if tier else Scrape().path
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(naming.TGI_PORT),
        "prometheus.io/path": path,
    }


def tracing_env(cfg: PlatformConfig, tier: TierConfig) -> list[K8s]:
    """TGI's OTLP settings and resource attributes; empty when no endpoint is configured.

    `OTEL_RESOURCE_ATTRIBUTES` reaches the spans of TGI's Python model server (the
    OpenTelemetry SDK merges it); TGI's router sets only `service.name`, so its spans are
    grouped by `OTLP_SERVICE_NAME` (`tgi-<tier>`).
    """
    endpoint = cfg.observability.otlp_endpoint
    if not endpoint:
        return []
    attributes = {"inference.backend": tier.engine, "model_id": tier.model_id, "tier": tier.name}
    encoded = ",".join(f"{k}={quote(v, safe='/:@.-_~')}" for k, v in attributes.items())
    return [
        {"name": "OTLP_ENDPOINT", "value": endpoint},
        {"name": "OTLP_SERVICE_NAME", "value": naming.service_name(tier.name)},
        {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": encoded},
    ]


def relabelings(tier: TierConfig) -> list[K8s]:
    """`tier` (static: one monitor per tier) and `model_hash` (from the pod's label)."""
    return [
        {"action": "replace", "targetLabel": "tier", "replacement": tier.name},
        {"action": "replace", "sourceLabels": [MODEL_HASH_SOURCE], "targetLabel": "model_hash"},
    ]


def _monitor_metadata(cfg: PlatformConfig, tier: TierConfig) -> K8s:
    return {
        "name": naming.tier_base(tier.name),
        "namespace": cfg.cluster.namespace,
        "labels": {
            **naming.labels("monitoring", instance=tier.name, tier=tier.name),
            **cfg.observability.prometheus_selector,
        },
    }


def _endpoint(cfg: PlatformConfig, tier: TierConfig) -> K8s:
    where = scrape(tier)
    return {
        "port": where.port_name,
        "path": where.path,
        "scheme": "http",
        "interval": cfg.observability.scrape_interval,
        "relabelings": relabelings(tier),
    }


def service_monitor(cfg: PlatformConfig, tier: TierConfig) -> K8s:
    """Scrapes the tier's router Service endpoints (the live model version)."""
    router = naming.labels("router", instance=tier.name, tier=tier.name)
    keys = ("app.kubernetes.io/name", "app.kubernetes.io/component", naming.TIER_LABEL)
    return {
        "apiVersion": MONITORING_API,
        "kind": "ServiceMonitor",
        "metadata": _monitor_metadata(cfg, tier),
        "spec": {
            "selector": {"matchLabels": {k: router[k] for k in keys}},
            "namespaceSelector": {"matchNames": [cfg.cluster.namespace]},
            "endpoints": [_endpoint(cfg, tier)],
        },
    }


def pod_monitor(cfg: PlatformConfig, tier: TierConfig) -> K8s:
    """Scrapes every pod of the tier, whichever model version."""
    return {
        "apiVersion": MONITORING_API,
        "kind": "PodMonitor",
        "metadata": _monitor_metadata(cfg, tier),
        "spec": {
            "selector": {"matchLabels": naming.tier_selector(tier.name)},
            "namespaceSelector": {"matchNames": [cfg.cluster.namespace]},
            "podMetricsEndpoints": [_endpoint(cfg, tier)],
        },
    }


def tier_observability_objects(
    cfg: PlatformConfig, tier: TierConfig, weight_bytes: Mapping[str, int] | None = None
) -> list[K8s]:
    """A tier's monitor and PrometheusRule (none in annotations mode)."""
    mode = cfg.observability.scrape_mode
    if mode == "annotations":
        return []
    monitor = service_monitor(cfg, tier) if mode == "servicemonitor" else pod_monitor(cfg, tier)
    return [monitor, prometheus_rule(cfg, tier, weight_bytes)]


def build_observability_objects(
    cfg: PlatformConfig, weight_bytes: Mapping[str, int] | None = None
) -> list[K8s]:
    """Monitors and rules per tier (or the rule-file ConfigMap), and the dashboard.

    `weight_bytes` (tier name -> checkpoint bytes, from the planner) sizes the time-based
    alerts; without it `modelSpec.weightBytes` or a conservative default is used.
    """
    objs: list[K8s] = []
    for tier in cfg.tiers:
        objs += tier_observability_objects(cfg, tier, weight_bytes)
    if cfg.observability.scrape_mode == "annotations":
        objs.append(rules_config_map(cfg, weight_bytes))
    if cfg.observability.dashboard.enabled:
        objs.append(dashboard_config_map(cfg))
    return objs

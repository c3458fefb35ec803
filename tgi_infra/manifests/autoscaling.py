"""Per-tier autoscalers on queue depth: an `autoscaling/v2` HPA or a KEDA ScaledObject.

The signal is the engine-neutral `llm:queue_requests` per pod (requests waiting for a batch
slot; each tier's recording rules compute it from its engine's own gauge, see
`engines/contract.py`), not CPU: a serving pod is GPU-bound and its CPU says nothing about
load. GPU utilization from the DCGM
exporter (`DCGM_FI_DEV_GPU_UTIL`) is an optional second signal; the autoscaler takes the
larger recommendation of the two.

HPA mode reads the metrics through prometheus-adapter (custom metrics API); the adapter's
rules are rendered here too (`prometheus_adapter_rules`), as a ConfigMap for the chart's
`rules.existing`; they expose `llm:queue_requests` as the pods metric `llm_queue_requests`
(custom-metric names carry no colon). KEDA mode queries Prometheus directly
(`observability.prometheusUrl`).

Stabilization windows come from the tier's cold start (`capacity.timing`): a replica takes
minutes to come up (node, image, weights, warmup), so scale-up waits out bursts shorter
than that and scale-down waits twice that before dropping a replica that is expensive to
bring back. The autoscaler never goes below `replicas.min` (HPA: at least 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from tgi_infra import naming
from tgi_infra.capacity.timing import cold_start_seconds, download_seconds
from tgi_infra.config.models import PlatformConfig, TierConfig
from tgi_infra.engines import contract
from tgi_infra.escape import promql_string

K8s = dict[str, Any]
GIB = 2**30

QUEUE_SERIES = contract.QUEUE
QUEUE_METRIC = QUEUE_SERIES.replace(":", "_")
"""The custom-metrics API name prometheus-adapter gives `llm:queue_requests`."""
GPU_UTIL_METRIC = "DCGM_FI_DEV_GPU_UTIL"
UNKNOWN_WEIGHT_BYTES = 64 * GIB
"""Assumed checkpoint size when neither the planner nor `modelSpec` gives one (errs long)."""
HPA_MAX_WINDOW_SECONDS = 3600
HPA_MAX_PERIOD_SECONDS = 1800
KEDA_POLLING_SECONDS = 15

__all__ = [
    "AutoscalingWindows",
    "build_autoscaling_objects",
    "cold_start_seconds",
    "download_seconds",
    "horizontal_pod_autoscaler",
    "is_autoscaled",
    "prometheus_adapter_config_map",
    "prometheus_adapter_rules",
    "scaled_object",
    "tier_weight_bytes",
    "windows_for",
]


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


@dataclass(frozen=True)
class AutoscalingWindows:
    """Stabilization windows and rate-limit periods (seconds) derived from a cold start."""

    cold_start: int
    scale_up: int
    scale_down: int
    scale_up_period: int
    scale_down_period: int

    @classmethod
    def from_cold_start(cls, cold_start: int, tier: TierConfig | None = None) -> AutoscalingWindows:
        """Scale up once the queue stayed high for a quarter of a cold start (1-5 min): a
        burst shorter than that is over before a new replica serves it. Scale down after
        twice a cold start of low load (10-60 min), one replica per half cold start. Add
        at most 100% per cold start: new pods report no queue until they are ready.
        Explicit `autoscaling.scale{Up,Down}StabilizationSeconds` win.
        """
        auto = tier.autoscaling if tier else None
        up = _clamp(math.ceil(cold_start / 4), 60, 300)
        down = _clamp(2 * cold_start, 600, HPA_MAX_WINDOW_SECONDS)
        if auto and auto.scale_up_stabilization_seconds is not None:
            up = auto.scale_up_stabilization_seconds
        if auto and auto.scale_down_stabilization_seconds is not None:
            down = auto.scale_down_stabilization_seconds
        return cls(
            cold_start=cold_start,
            scale_up=up,
            scale_down=down,
            scale_up_period=_clamp(cold_start, 60, HPA_MAX_PERIOD_SECONDS),
            scale_down_period=_clamp(math.ceil(cold_start / 2), 60, HPA_MAX_PERIOD_SECONDS),
        )

    def behavior(self) -> K8s:
        """The HPA `behavior` block (also used by KEDA's generated HPA)."""
        return {
            "scaleUp": {
                "stabilizationWindowSeconds": self.scale_up,
                "selectPolicy": "Max",
                "policies": [
                    {"type": "Percent", "value": 100, "periodSeconds": self.scale_up_period},
                    {"type": "Pods", "value": 1, "periodSeconds": self.scale_up_period},
                ],
            },
            "scaleDown": {
                "stabilizationWindowSeconds": self.scale_down,
                "selectPolicy": "Min",
                "policies": [
                    {"type": "Pods", "value": 1, "periodSeconds": self.scale_down_period},
                ],
            },
        }


def tier_weight_bytes(tier: TierConfig, weight_bytes: Mapping[str, int] | None = None) -> int:
    """The tier's checkpoint size: from the planner, else `modelSpec`, else a long default."""
    if weight_bytes and tier.name in weight_bytes:
        return weight_bytes[tier.name]
    if tier.model_spec is not None:
        return tier.model_spec.weight_bytes
    return UNKNOWN_WEIGHT_BYTES


def windows_for(
    tier: TierConfig, weight_bytes: Mapping[str, int] | None = None
) -> AutoscalingWindows:
    cold_start = cold_start_seconds(tier_weight_bytes(tier, weight_bytes))
    return AutoscalingWindows.from_cold_start(cold_start, tier)


def is_autoscaled(cfg: PlatformConfig, tier: TierConfig) -> bool:
    """True when an autoscaler owns the tier's replicas (the Deployment must not set them)."""
    return cfg.observability.autoscaler != "none" and tier.replicas.max > tier.replicas.min


def _target_ref(tier: TierConfig) -> K8s:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": naming.deployment_name(tier)}


def _metadata(cfg: PlatformConfig, tier: TierConfig) -> K8s:
    return {
        "name": naming.autoscaler_name(tier.name),
        "namespace": cfg.cluster.namespace,
        "labels": naming.labels("autoscaler", instance=tier.name, tier=tier.name),
    }


def horizontal_pod_autoscaler(
    cfg: PlatformConfig, tier: TierConfig, weight_bytes: Mapping[str, int] | None = None
) -> K8s:
    """`autoscaling/v2` HPA on the pods metric `llm_queue_requests` (via prometheus-adapter)."""
    auto = tier.autoscaling
    metrics: list[K8s] = [_pods_metric(QUEUE_METRIC, str(auto.queue_size_target))]
    if auto.gpu_utilization_target is not None:
        metrics.append(_pods_metric(GPU_UTIL_METRIC, str(auto.gpu_utilization_target)))
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(cfg, tier),
        "spec": {
            "scaleTargetRef": _target_ref(tier),
            # minReplicas 0 needs the alpha HPAScaleToZero gate; the check warns about it.
            "minReplicas": max(1, tier.replicas.min),
            "maxReplicas": tier.replicas.max,
            "metrics": metrics,
            "behavior": windows_for(tier, weight_bytes).behavior(),
        },
    }


def _pods_metric(name: str, average: str) -> K8s:
    return {
        "type": "Pods",
        "pods": {
            "metric": {"name": name},
            "target": {"type": "AverageValue", "averageValue": average},
        },
    }


def queue_query(cfg: PlatformConfig, tier: TierConfig) -> str:
    """PromQL: the tier's total queue (KEDA divides it by the target per replica)."""
    ns = cfg.cluster.namespace
    return f"sum({QUEUE_SERIES}{{namespace={promql_string(ns)},tier={promql_string(tier.name)}}})"


def gpu_utilization_query(cfg: PlatformConfig, tier: TierConfig) -> str:
    """PromQL: mean GPU utilization (%) over the tier's GPUs, from the DCGM exporter."""
    ns_label, pod_label = _dcgm_labels(cfg)
    return (
        f"avg({GPU_UTIL_METRIC}{{{ns_label}={promql_string(cfg.cluster.namespace)},"
        f"{pod_label}=~{promql_string(naming.pod_name_pattern(tier.name))}}})"
    )


def _dcgm_labels(cfg: PlatformConfig) -> tuple[str, str]:
    if cfg.observability.dcgm_exported_labels:
        return "exported_namespace", "exported_pod"
    return "namespace", "pod"


def scaled_object(
    cfg: PlatformConfig, tier: TierConfig, weight_bytes: Mapping[str, int] | None = None
) -> K8s:
    """KEDA ScaledObject with a Prometheus trigger on the tier's queue (and GPU util)."""
    auto = tier.autoscaling
    windows = windows_for(tier, weight_bytes)
    server = cfg.observability.prometheus_url
    triggers: list[K8s] = [
        {
            "type": "prometheus",
            "name": "queue",
            "metricType": "AverageValue",
            "metadata": {
                "serverAddress": server,
                "query": queue_query(cfg, tier),
                "threshold": str(auto.queue_size_target),
                "ignoreNullValues": "true",
            },
        }
    ]
    if auto.gpu_utilization_target is not None:
        triggers.append(
            {
                "type": "prometheus",
                "name": "gpu-utilization",
                # A mean over the tier: the generated HPA scales replicas by value / target.
                "metricType": "Value",
                "metadata": {
                    "serverAddress": server,
                    "query": gpu_utilization_query(cfg, tier),
                    "threshold": str(auto.gpu_utilization_target),
                    "ignoreNullValues": "true",
                },
            }
        )
    spec: K8s = {
        "scaleTargetRef": _target_ref(tier),
        "minReplicaCount": tier.replicas.min,
        "maxReplicaCount": tier.replicas.max,
        "pollingInterval": KEDA_POLLING_SECONDS,
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "name": naming.keda_hpa_name(tier.name),
                "behavior": windows.behavior(),
            },
        },
        "triggers": triggers,
    }
    if tier.replicas.min == 0:
        # cooldownPeriod only applies to the last replica (scale to zero).
        spec["cooldownPeriod"] = windows.scale_down
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": _metadata(cfg, tier),
        "spec": spec,
    }


def prometheus_adapter_rules(cfg: PlatformConfig) -> list[K8s]:
    """prometheus-adapter `rules` exposing the HPA's pods metrics (custom metrics API).

    Put them in the chart's `rules.custom`, or point `rules.existing` at the ConfigMap
    `prometheus_adapter_config_map` renders.
    """
    rules: list[K8s] = [
        {
            "seriesQuery": f'{QUEUE_SERIES}{{namespace!="",pod!=""}}',
            "resources": {
                "overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
            },
            "name": {"matches": f"^{QUEUE_SERIES}$", "as": QUEUE_METRIC},
            "metricsQuery": "sum(avg_over_time(<<.Series>>{<<.LabelMatchers>>}[1m])) "
            "by (<<.GroupBy>>)",
        }
    ]
    if any(t.autoscaling.gpu_utilization_target is not None for t in cfg.tiers):
        ns_label, pod_label = _dcgm_labels(cfg)
        rules.append(
            {
                "seriesQuery": f'{GPU_UTIL_METRIC}{{{ns_label}!="",{pod_label}!=""}}',
                "resources": {
                    "overrides": {
                        ns_label: {"resource": "namespace"},
                        pod_label: {"resource": "pod"},
                    }
                },
                "name": {"matches": f"^{GPU_UTIL_METRIC}$", "as": GPU_UTIL_METRIC},
                # A pod with several GPUs (shards): its mean utilization.
                "metricsQuery": "avg(avg_over_time(<<.Series>>{<<.LabelMatchers>>}[2m])) "
                "by (<<.GroupBy>>)",
            }
        )
    return rules


def prometheus_adapter_config_map(cfg: PlatformConfig) -> K8s:
    """The adapter's `config.yaml` (for the chart's `rules.existing`), in the monitoring ns."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": naming.adapter_rules_name(),
            "namespace": cfg.cluster.monitoring_namespace,
            "labels": naming.labels("metrics-adapter", instance="tgi-infra"),
        },
        "data": {
            "config.yaml": yaml.safe_dump(
                {"rules": prometheus_adapter_rules(cfg)}, sort_keys=False, width=1000
            ),
        },
    }


def build_autoscaling_objects(
    cfg: PlatformConfig, weight_bytes: Mapping[str, int] | None = None
) -> list[K8s]:
    """Every tier's autoscaler (tiers with min == max get none), plus the adapter rules."""
    mode = cfg.observability.autoscaler
    tiers = [t for t in cfg.tiers if is_autoscaled(cfg, t)]
    if mode == "none" or not tiers:
        return []
    if mode == "keda":
        return [scaled_object(cfg, t, weight_bytes) for t in tiers]
    return [horizontal_pod_autoscaler(cfg, t, weight_bytes) for t in tiers] + [
        prometheus_adapter_config_map(cfg)
    ]

"""Alerting rules per tier, with thresholds from `tiers[].alerts` (a PrometheusRule).

Each alert carries a `severity` label, a `summary`, a `description` that names the
threshold's stack path and the likely fix, and a `runbook_url` into docs/runbook.md.
Series come from TGI's /metrics (labelled `tier` by the monitors) and kube-state-metrics
(Deployments, HPAs, Jobs). `tests/test_alert_rules.py` proves with `promtool test rules`
that every alert fires when its condition holds for its `for:` and stays silent otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import yaml

from tgi_infra import naming
from tgi_infra.capacity.timing import cold_start_seconds, download_seconds
from tgi_infra.config.models import PlatformConfig, TierConfig
from tgi_infra.manifests.autoscaling import is_autoscaled, tier_weight_bytes

K8s = dict[str, Any]
VALUE = '{{ $value | printf "%.2f" }}'
"""How a description shows the alert's current value (two decimals)."""


def _runbook(cfg: PlatformConfig, anchor: str) -> str:
    return f"{cfg.observability.runbook_url}#{anchor}"


def _pct(ratio: float) -> str:
    return f"{ratio * 100:g}%"


def _alert(
    cfg: PlatformConfig,
    tier: TierConfig,
    name: str,
    expr: str,
    for_: str,
    severity: str,
    summary: str,
    description: str,
    anchor: str,
) -> K8s:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity, "tier": tier.name, "namespace": cfg.cluster.namespace},
        "annotations": {
            "summary": summary,
            "description": f"{description} Runbook: {_runbook(cfg, anchor)}",
            "runbook_url": _runbook(cfg, anchor),
        },
    }


def tgi_selector(cfg: PlatformConfig, tier: TierConfig) -> str:
    """Label matchers for a tier's TGI series (the monitors add `tier`)."""
    return f'namespace="{cfg.cluster.namespace}",tier="{tier.name}"'


def serving_alerts(cfg: PlatformConfig, tier: TierConfig) -> list[K8s]:
    """Queue, time to first token, errors, KV cache: from TGI's own metrics."""
    sel = tgi_selector(cfg, tier)
    th = tier.alerts
    path = f"tiers[{tier.name}]"
    ttft = (
        "histogram_quantile(0.95, sum by (le) ("
        f"rate(tgi_request_queue_duration_bucket{{{sel}}}[5m])))"
        " + histogram_quantile(0.95, sum by (le) ("
        f'rate(tgi_batch_inference_duration_bucket{{{sel},method="prefill"}}[5m])))'
    )
    return [
        _alert(
            cfg,
            tier,
            "TgiQueueHigh",
            f"avg(tgi_queue_size{{{sel}}}) > {th.queue_size}",
            "10m",
            "warning",
            f"Tier {tier.name}: requests queue on every pod.",
            f"TGI pods of tier {tier.name} hold {VALUE} queued requests each on average "
            f"for 10m, above {th.queue_size} ({path}.alerts.queueSize). Requests wait for "
            "a batch slot before prefill, so users see slow first tokens. Check that the "
            "autoscaler scaled out and its new pods are scheduled; raise replicas.max and "
            "the node pool's maxSize, or lower maxTotalTokens so more requests fit the KV "
            "cache.",
            "queue-high",
        ),
        _alert(
            cfg,
            tier,
            "TgiTimeToFirstTokenHigh",
            f"({ttft}) > {th.time_to_first_token_p95_seconds:g}",
            "10m",
            "warning",
            f"Tier {tier.name}: p95 time to first token above "
            f"{th.time_to_first_token_p95_seconds:g}s.",
            f"Estimated p95 time to first token of tier {tier.name} is {VALUE}s for 10m, "
            f"above {th.time_to_first_token_p95_seconds:g}s "
            f"({path}.alerts.timeToFirstTokenP95Seconds). TGI has no time-to-first-token "
            "metric: this is p95 queue duration (tgi_request_queue_duration) plus p95 "
            'prefill batch duration (tgi_batch_inference_duration{method="prefill"}), an '
            "upper-bound proxy. A high queue part means too few replicas; a high prefill "
            "part means long prompts: lower maxBatchPrefillTokens or maxInputTokens, or "
            "use a faster GPU.",
            "time-to-first-token-high",
        ),
        _alert(
            cfg,
            tier,
            "TgiErrorRateHigh",
            f'sum by (err) (rate(tgi_request_failure{{{sel},err!="dropped"}}[5m]))'
            f" / ignoring (err) group_left sum(rate(tgi_request_count{{{sel}}}[5m]))"
            f" > {th.error_ratio:g}",
            "5m",
            "critical",
            f"Tier {tier.name}: requests fail with {{{{ $labels.err }}}} errors.",
            f"{VALUE} of tier {tier.name}'s requests failed with err="
            f"{{{{ $labels.err }}}} over 5m, above {th.error_ratio:g} "
            f"({_pct(th.error_ratio)}, {path}.alerts.errorRatio). overloaded: more than "
            "maxConcurrentRequests in flight, scale out or raise it; validation: clients "
            "send prompts above maxInputTokens or bad parameters; generation: the model "
            "server failed (read the pod logs for CUDA out of memory). Client disconnects "
            "(dropped) are not counted.",
            "error-rate-high",
        ),
        _alert(
            cfg,
            tier,
            "TgiKvCacheNearFull",
            f"max(tgi_batch_current_max_tokens{{{sel}}} / tgi_batch_max_total_tokens{{{sel}}})"
            f" > {th.kv_cache_usage_ratio:g}",
            "15m",
            "warning",
            f"Tier {tier.name}: KV cache above {_pct(th.kv_cache_usage_ratio)} for 15m.",
            f"A pod of tier {tier.name} has {VALUE} of its KV cache (tgi_batch_max_total_"
            f"tokens) reserved by the running batch for 15m, above "
            f"{th.kv_cache_usage_ratio:g} ({path}.alerts.kvCacheUsageRatio). New requests "
            "wait for running ones to finish. Scale out, lower maxTotalTokens, or free "
            "memory (fp8 KV cache, quantization, more shards).",
            "kv-cache-near-full",
        ),
    ]


def platform_alerts(
    cfg: PlatformConfig, tier: TierConfig, weight_bytes: Mapping[str, int] | None = None
) -> list[K8s]:
    """Replicas, autoscaler, weight download: from kube-state-metrics."""
    ns = cfg.cluster.namespace
    th = tier.alerts
    path = f"tiers[{tier.name}]"
    weights = tier_weight_bytes(tier, weight_bytes)
    deploy = f'namespace="{ns}",deployment=~"{naming.deployment_name_pattern(tier.name)}"'
    job = f'namespace="{ns}",job_name=~"{naming.download_job_name_pattern(tier.name)}"'
    # A new replica needs a cold start before it is ready: do not page during one.
    no_ready_for = max(10, math.ceil(cold_start_seconds(weights) / 60))
    slow_after = download_seconds(weights) // 2
    alerts = [
        _alert(
            cfg,
            tier,
            "TgiNoReadyReplicas",
            f"(sum(kube_deployment_spec_replicas{{{deploy}}}) > 0) unless "
            f"(sum(kube_deployment_status_replicas_available{{{deploy}}}) > 0)",
            f"{no_ready_for}m",
            "critical",
            f"Tier {tier.name} has no ready replica.",
            f"Tier {tier.name} wants replicas but none has been ready for {no_ready_for}m "
            "(longer than a cold start): its model is unreachable. Look at the pods' events "
            "and logs: Pending (no GPU node: the pool is at maxSize or the instance type "
            "is unavailable), CrashLoopBackOff (CUDA out of memory at warmup), or a "
            "startupProbe that fails during a slow weight load.",
            "no-ready-replicas",
        ),
        _alert(
            cfg,
            tier,
            "TgiModelDownloadFailed",
            f'max by (job_name) (kube_job_failed{{{job},condition="true"}}) > 0',
            "1m",
            "critical",
            f"Tier {tier.name}: the weight download Job failed.",
            f"Job {{{{ $labels.job_name }}}} gave up downloading {tier.model_id} into the "
            "cache (backoff limit or deadline reached); new pods of this model version "
            "cannot start. Read the Job's pod logs: 401/403 means the HF token lacks "
            "access to a gated model, 404 a wrong modelId or revision, a deadline a slow "
            "or blocked Hub (egress, proxy).",
            "model-download-failed",
        ),
        _alert(
            cfg,
            tier,
            "TgiModelDownloadSlow",
            f"(time() - max by (job_name) (kube_job_status_start_time{{{job}}})) > "
            f"{slow_after} and on (job_name) max by (job_name) "
            f"(kube_job_status_active{{{job}}}) > 0",
            "1m",
            "warning",
            f"Tier {tier.name}: the weight download is slow.",
            f"Job {{{{ $labels.job_name }}}} has been downloading {tier.model_id} for "
            f'{{{{ $value | printf "%.0f" }}}}s, more than half its deadline '
            f"({slow_after}s of {download_seconds(weights)}s). Check the node's network "
            "and the Hub's reachability (NAT gateway, proxy), or pre-fill the cache.",
            "slow-model-download",
        ),
    ]
    if is_autoscaled(cfg, tier):
        hpa = (
            naming.keda_hpa_name(tier.name)
            if cfg.observability.autoscaler == "keda"
            else naming.autoscaler_name(tier.name)
        )
        hpa_sel = f'namespace="{ns}",horizontalpodautoscaler="{hpa}"'
        alerts.append(
            _alert(
                cfg,
                tier,
                "TgiReplicasAtMax",
                f"max(kube_horizontalpodautoscaler_status_current_replicas{{{hpa_sel}}}) >= "
                f"max(kube_horizontalpodautoscaler_spec_max_replicas{{{hpa_sel}}})",
                f"{th.replicas_at_max_minutes}m",
                "warning",
                f"Tier {tier.name} runs at replicas.max ({tier.replicas.max}).",
                f"The autoscaler of tier {tier.name} has been at its maximum of "
                f"{tier.replicas.max} replicas for {th.replicas_at_max_minutes}m "
                f"({path}.replicas.max): it cannot absorb more load. Raise replicas.max and "
                f"the node pool {tier.node_pool!r} maxSize (and gpuLimit for Karpenter) "
                "together, or move tenants to another tier.",
                "replicas-at-max",
            )
        )
    return alerts


def rule_group(
    cfg: PlatformConfig, tier: TierConfig, weight_bytes: Mapping[str, int] | None = None
) -> K8s:
    """One Prometheus rule group: every alert of a tier."""
    return {
        "name": f"tgi-infra.{tier.name}",
        "rules": serving_alerts(cfg, tier) + platform_alerts(cfg, tier, weight_bytes),
    }


def prometheus_rule(
    cfg: PlatformConfig, tier: TierConfig, weight_bytes: Mapping[str, int] | None = None
) -> K8s:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": naming.tier_base(tier.name),
            "namespace": cfg.cluster.namespace,
            "labels": {
                **naming.labels("alerts", instance=tier.name, tier=tier.name),
                **cfg.observability.prometheus_selector,
            },
        },
        "spec": {"groups": [rule_group(cfg, tier, weight_bytes)]},
    }


def rules_config_map(cfg: PlatformConfig, weight_bytes: Mapping[str, int] | None = None) -> K8s:
    """Without the operator: every tier's rules as a rule file for Prometheus' rule_files."""
    groups = [rule_group(cfg, t, weight_bytes) for t in cfg.tiers]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": naming.alert_rules_configmap_name(),
            "namespace": cfg.cluster.monitoring_namespace,
            "labels": naming.labels("alerts", instance="tgi-infra"),
        },
        "data": {"tgi-infra.rules.yaml": yaml.safe_dump({"groups": groups}, sort_keys=False)},
    }

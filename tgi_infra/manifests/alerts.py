"""Alerting rules per tier, with thresholds from `tiers[].alerts` (a PrometheusRule).

Each alert carries a `severity` label, a `summary`, a `description` that names the
threshold's stack path and the likely fix, and a `runbook_url` into docs/runbook.md.
Serving alerts read only the engine-neutral `llm:*` series (`engines/contract.py`), which
each tier's recording rules compute from its engine's own metrics (labelled `tier` by the
monitors), so one set of alerts serves TGI, vLLM and SGLang tiers; the alert names keep the
platform's `Tgi` prefix so Alertmanager routes and silences stay valid. Platform alerts
read kube-state-metrics (Deployments, HPAs, Jobs). `tests/test_alert_rules.py` proves with
`promtool test rules`, per engine, that every alert fires when its condition holds for its
`for:` and stays silent otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import yaml

from tgi_infra import naming
from tgi_infra.capacity.timing import cold_start_seconds, download_seconds
from tgi_infra.config.models import PlatformConfig, TierConfig
from tgi_infra.engines import contract
from tgi_infra.escape import go_template_text, promql_string
from tgi_infra.manifests.autoscaling import is_autoscaled, tier_weight_bytes

K8s = dict[str, Any]
VALUE = '{{ $value | printf "%.2f" }}'
"""How a description shows the alert's current value (two decimals)."""


def _runbook(cfg: PlatformConfig, anchor: str) -> str:
    """The runbook link, as annotation template text (renders as `<runbookUrl>#<anchor>`)."""
    return go_template_text(f"{cfg.observability.runbook_url}#{anchor}")


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
        "labels": {
            "severity": severity,
            "tier": tier.name,
            "engine": tier.engine,
            "namespace": cfg.cluster.namespace,
        },
        "annotations": {
            "summary": summary,
            "description": f"{description} Runbook: {_runbook(cfg, anchor)}",
            "runbook_url": _runbook(cfg, anchor),
        },
    }


def tier_series_selector(cfg: PlatformConfig, tier: TierConfig) -> str:
    """Label matchers for a tier's engine-neutral `llm:*` series."""
    return contract.selector(cfg.cluster.namespace, tier.name)


def _reasons(engine: str) -> str:
    reasons = contract.engine_metrics(engine).error_reasons
    return "; ".join(f"{k}: {v}" for k, v in reasons.items())


def _ttft_note(engine: str) -> str:
    note = contract.engine_metrics(engine).differences.get(contract.TTFT)
    return f" For {engine}: {note}." if note else ""


def serving_alerts(cfg: PlatformConfig, tier: TierConfig) -> list[K8s]:
    """Queue, time to first token, errors, KV cache: from the engine-neutral series."""
    sel = tier_series_selector(cfg, tier)
    th = tier.alerts
    path = f"tiers[{tier.name}]"
    return [
        _alert(
            cfg,
            tier,
            "TgiQueueHigh",
            f"avg({contract.QUEUE}{{{sel}}}) > {th.queue_size}",
            "10m",
            "warning",
            f"Tier {tier.name}: requests queue on every pod.",
            f"Pods of tier {tier.name} ({tier.engine}) hold {VALUE} queued requests each on "
            f"average for 10m, above {th.queue_size} ({path}.alerts.queueSize). Requests wait "
            "for a batch slot before prefill, so users see slow first tokens. Check that the "
            "autoscaler scaled out and its new pods are scheduled; raise replicas.max and "
            "the node pool's maxSize, or lower maxTotalTokens so more requests fit the KV "
            "cache.",
            "queue-high",
        ),
        _alert(
            cfg,
            tier,
            "TgiTimeToFirstTokenHigh",
            f'max({contract.TTFT}{{{sel},quantile="0.95"}}) > '
            f"{th.time_to_first_token_p95_seconds:g}",
            "10m",
            "warning",
            f"Tier {tier.name}: p95 time to first token above "
            f"{th.time_to_first_token_p95_seconds:g}s.",
            f"p95 time to first token of tier {tier.name} is {VALUE}s for 10m, above "
            f"{th.time_to_first_token_p95_seconds:g}s "
            f"({path}.alerts.timeToFirstTokenP95Seconds).{_ttft_note(tier.engine)} Compare "
            f"{contract.QUEUE_DURATION}: a high queue part means too few replicas; "
            "otherwise prompts are long: lower maxBatchPrefillTokens or maxInputTokens, or "
            "use a faster GPU.",
            "time-to-first-token-high",
        ),
        _alert(
            cfg,
            tier,
            "TgiErrorRateHigh",
            f"sum by (reason) ({contract.ERRORS}{{{sel}}})"
            f" / ignoring (reason) group_left sum({contract.REQUESTS}{{{sel}}})"
            f" > {th.error_ratio:g}",
            "5m",
            "critical",
            f"Tier {tier.name}: requests fail with reason {{{{ $labels.reason }}}}.",
            f"{VALUE} of tier {tier.name}'s requests failed with reason "
            f"{{{{ $labels.reason }}}} over 5m, above {th.error_ratio:g} "
            f"({_pct(th.error_ratio)}, {path}.alerts.errorRatio). Reasons of "
            f"{tier.engine}: {_reasons(tier.engine)}. Client disconnects are not counted.",
            "error-rate-high",
        ),
        _alert(
            cfg,
            tier,
            "TgiKvCacheNearFull",
            f"max({contract.KV_CACHE}{{{sel}}}) > {th.kv_cache_usage_ratio:g}",
            "15m",
            "warning",
            f"Tier {tier.name}: KV cache above {_pct(th.kv_cache_usage_ratio)} for 15m.",
            f"A pod of tier {tier.name} ({tier.engine}) has {VALUE} of its KV cache in use "
            f"for 15m, above {th.kv_cache_usage_ratio:g} ({path}.alerts.kvCacheUsageRatio). "
            "New requests wait for running ones to finish. Scale out, lower maxTotalTokens, "
            "or free memory (fp8 KV cache, quantization, more shards).",
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
    deploy = (
        f"namespace={promql_string(ns)},"
        f"deployment=~{promql_string(naming.deployment_name_pattern(tier.name))}"
    )
    job = (
        f"namespace={promql_string(ns)},"
        f"job_name=~{promql_string(naming.download_job_name_pattern(tier.name))}"
    )
    model = go_template_text(tier.model_id)
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
            f"Job {{{{ $labels.job_name }}}} gave up downloading {model} into the "
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
            f"Job {{{{ $labels.job_name }}}} has been downloading {model} for "
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
        hpa_sel = f"namespace={promql_string(ns)},horizontalpodautoscaler={promql_string(hpa)}"
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


def series_group(cfg: PlatformConfig, tier: TierConfig) -> K8s:
    """The tier's recording rules: its engine's metrics as the `llm:*` series."""
    return {
        "name": f"tgi-infra.{tier.name}.series",
        "rules": contract.recording_rules(cfg.cluster.namespace, tier.name, tier.engine),
    }


def rule_group(
    cfg: PlatformConfig, tier: TierConfig, weight_bytes: Mapping[str, int] | None = None
) -> K8s:
    """One Prometheus rule group: every alert of a tier."""
    return {
        "name": f"tgi-infra.{tier.name}",
        "rules": serving_alerts(cfg, tier) + platform_alerts(cfg, tier, weight_bytes),
    }


def rule_groups(
    cfg: PlatformConfig, tier: TierConfig, weight_bytes: Mapping[str, int] | None = None
) -> list[K8s]:
    """A tier's recording rules, then its alerts (which read them)."""
    return [series_group(cfg, tier), rule_group(cfg, tier, weight_bytes)]


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
        "spec": {"groups": rule_groups(cfg, tier, weight_bytes)},
    }


def rules_config_map(cfg: PlatformConfig, weight_bytes: Mapping[str, int] | None = None) -> K8s:
    """Without the operator: every tier's rules as a rule file for Prometheus' rule_files."""
    groups = [g for t in cfg.tiers for g in rule_groups(cfg, t, weight_bytes)]
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

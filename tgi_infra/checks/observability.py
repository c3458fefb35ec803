"""Autoscaling and alert thresholds against what a TGI pod can hold.

TGI answers 429 (`overloaded`) once `maxConcurrentRequests` requests are in flight
(queued plus running). A queue target at or above that can never be reached: the tier
sheds load and the autoscaler never scales. Alert thresholds get the same treatment.
"""

from __future__ import annotations

from tgi_infra.config.models import PlatformConfig, TierConfig
from tgi_infra.manifests.autoscaling import is_autoscaled
from tgi_infra.problems import Problem


def check_observability(cfg: PlatformConfig) -> list[Problem]:
    """Every tier's autoscaling and alert settings, and the global observability block."""
    problems: list[Problem] = []
    for tier in cfg.tiers:
        problems += check_tier_autoscaling(cfg, tier)
        problems += check_tier_alerts(tier)
    dash = cfg.observability.dashboard
    if dash.enabled and not dash.sidecar_label:
        problems.append(
            Problem(
                "observability.dashboard.sidecarLabel",
                "is empty: the Grafana sidecar finds dashboards by this label, so the "
                "dashboard ConfigMap would never load.",
                "set the label your Grafana sidecar watches (kube-prometheus-stack: "
                'grafana_dashboard: "1"), or set dashboard.enabled: false.',
                "dashboard-sidecar-label",
            )
        )
    return problems


def check_tier_autoscaling(cfg: PlatformConfig, tier: TierConfig) -> list[Problem]:
    """The queue target against maxConcurrentRequests; replicas against the autoscaler."""
    path = f"tiers[{tier.name}]"
    auto = tier.autoscaling
    mode = cfg.observability.autoscaler
    problems: list[Problem] = []
    if mode == "none":
        if tier.replicas.max > tier.replicas.min:
            problems.append(
                Problem(
                    f"{path}.replicas.max",
                    f"{tier.replicas.max} has no effect: observability.autoscaler is none, so "
                    f"the tier runs replicas.min ({tier.replicas.min}) pods.",
                    "set observability.autoscaler to hpa or keda, or set max to min.",
                    "autoscaler-unused",
                    "warning",
                )
            )
        return problems
    if not is_autoscaled(cfg, tier):
        return problems
    limit = tier.max_concurrent_requests
    if auto.queue_size_target >= limit:
        problems.append(
            Problem(
                f"{path}.autoscaling.queueSizeTarget",
                f"{auto.queue_size_target} queued requests per pod can never be reached: TGI "
                f"rejects requests (429 overloaded) once maxConcurrentRequests {limit} are in "
                "flight, queued and running together, so the autoscaler would never scale out.",
                f"lower queueSizeTarget below {limit} (about {max(1, limit // 4)} leaves room "
                "for the running batch), or raise maxConcurrentRequests.",
                "queue-target-below-concurrency",
            )
        )
    elif auto.queue_size_target > limit // 2:
        problems.append(
            Problem(
                f"{path}.autoscaling.queueSizeTarget",
                f"{auto.queue_size_target} is more than half of maxConcurrentRequests {limit}: "
                "running requests count against that limit too, so clients may get 429 "
                "before the queue reaches the target.",
                f"lower queueSizeTarget to at most {limit // 2}.",
                "queue-target-below-concurrency",
                "warning",
            )
        )
    if tier.replicas.min == 0:
        if mode == "hpa":
            problems.append(
                Problem(
                    f"{path}.replicas.min",
                    "0 is not allowed by a HorizontalPodAutoscaler (minReplicas >= 1 unless "
                    "the alpha HPAScaleToZero gate is on); the HPA keeps 1 replica.",
                    "set replicas.min to 1, or use observability.autoscaler: keda.",
                    "hpa-min-replicas",
                    "warning",
                )
            )
        else:
            problems.append(
                Problem(
                    f"{path}.replicas.min",
                    "0 lets KEDA scale the tier to zero, but the queue signal "
                    "(llm:queue_requests) disappears with the last pod: nothing wakes the tier up "
                    "again, and requests meanwhile get 503 from the gateway.",
                    "keep replicas.min at 1 for tiers that must answer; scale to zero only "
                    "tiers you start by hand.",
                    "scale-to-zero-wakeup",
                    "warning",
                )
            )
    return problems


def check_tier_alerts(tier: TierConfig) -> list[Problem]:
    """Alert thresholds that can never fire, or fire before the autoscaler reacts."""
    path = f"tiers[{tier.name}]"
    queue = tier.alerts.queue_size
    problems: list[Problem] = []
    if queue >= tier.max_concurrent_requests:
        problems.append(
            Problem(
                f"{path}.alerts.queueSize",
                f"{queue} can never be reached: TGI rejects requests beyond "
                f"maxConcurrentRequests {tier.max_concurrent_requests} in flight, so "
                "TgiQueueHigh would never fire (errors would, as overloaded).",
                f"lower alerts.queueSize below {tier.max_concurrent_requests}.",
                "alert-queue-reachable",
                "warning",
            )
        )
    if tier.replicas.max > tier.replicas.min and queue <= tier.autoscaling.queue_size_target:
        problems.append(
            Problem(
                f"{path}.alerts.queueSize",
                f"{queue} is at or below autoscaling.queueSizeTarget "
                f"{tier.autoscaling.queue_size_target}: the alert fires on load the "
                "autoscaler is meant to absorb.",
                f"raise alerts.queueSize above {tier.autoscaling.queue_size_target} "
                f"(e.g. {2 * tier.autoscaling.queue_size_target}).",
                "alert-queue-above-target",
                "warning",
            )
        )
    return problems

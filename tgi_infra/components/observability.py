"""`Observability`: monitors, alert rules, the dashboard and the autoscalers of every tier.

A thin component over `manifests.observability` and `manifests.autoscaling`: it only
registers what the builders render. Pass the tiers' components (by tier name) in `tiers`
so each tier's monitor and autoscaler wait for its Service and Deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from tgi_infra import naming
from tgi_infra.component_args import ObservabilityArgs
from tgi_infra.components.kube import register_objects
from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests.autoscaling import build_autoscaling_objects
from tgi_infra.manifests.observability import build_observability_objects


class Observability(pulumi.ComponentResource):
    """Per tier: a ServiceMonitor/PodMonitor, a PrometheusRule, an HPA or ScaledObject;
    once: the Grafana dashboard ConfigMap and the prometheus-adapter rules.

    `weight_bytes` maps tier names to checkpoint sizes (from the planner); it sizes the
    autoscalers' stabilization windows and the time-based alerts.
    """

    resources: dict[str, pulumi.CustomResource]
    monitors: list[str]
    autoscalers: list[str]

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tgi-infra:observability:Observability", name, None, opts)
        cfg, weight_bytes, tiers = args.config, dict(args.weight_bytes), args.tiers
        assert isinstance(cfg, PlatformConfig)
        with naming.platform(args.platform or name):
            observability = build_observability_objects(cfg, weight_bytes)
            autoscaling = build_autoscaling_objects(cfg, weight_bytes)
            self._register(observability + autoscaling, tiers)

    def _register(
        self, objects: list[dict[str, Any]], tiers: Mapping[str, pulumi.Resource]
    ) -> None:
        self.resources = {}
        for obj in objects:
            # A tier's monitor, rules and autoscaler wait for that tier's Service/Deployment.
            tier = (obj["metadata"].get("labels") or {}).get(naming.TIER_LABEL)
            after = [tiers[tier]] if tiers and tier in tiers else []
            self.resources.update(register_objects([obj], parent=self, depends_on=after))
        self.monitors = [
            key for key in self.resources if key.split("/")[0] in ("ServiceMonitor", "PodMonitor")
        ]
        self.autoscalers = [
            key
            for key in self.resources
            if key.split("/")[0] in ("HorizontalPodAutoscaler", "ScaledObject")
        ]
        self.register_outputs(
            {
                "monitors": self.monitors,
                "autoscalers": self.autoscalers,
                "objects": sorted(self.resources),
            }
        )

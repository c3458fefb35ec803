"""`Observability` under Pulumi's mocks: what it registers, under which parent."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pulumi
import pytest

from tests._observability_cfg import WEIGHTS, platform, prod
from tgi_infra.component_args import ObservabilityArgs
from tgi_infra.components.observability import Observability
from tgi_infra.offline.mocks import PlanMocks

COMPONENT = "tgi-infra:observability:Observability"


@pytest.fixture
def mocks() -> PlanMocks:
    m = PlanMocks()
    pulumi.runtime.set_mocks(m, preview=False)
    return m


def types(mocks: PlanMocks) -> Counter[str]:
    return Counter(r.type for r in mocks.resources)


def test_prod_registers_monitors_rules_dashboard_and_autoscalers(mocks: PlanMocks) -> None:
    @pulumi.runtime.test
    def run() -> Any:
        obs = Observability("observability", ObservabilityArgs(prod(), WEIGHTS, platform="tgi"))

        def check(urns: list[str]) -> None:
            counts = types(mocks)
            assert counts[COMPONENT] == 1
            assert counts["kubernetes:monitoring.coreos.com/v1:ServiceMonitor"] == 5
            assert counts["kubernetes:monitoring.coreos.com/v1:PrometheusRule"] == 5
            assert counts["kubernetes:autoscaling/v2:HorizontalPodAutoscaler"] == 5
            assert counts["kubernetes:core/v1:ConfigMap"] == 2  # dashboard, adapter rules
            assert all(f"{COMPONENT}$kubernetes:" in urn for urn in urns)
            assert sorted(obs.monitors) == [
                "ServiceMonitor/tgi-chat",
                "ServiceMonitor/tgi-chat-vllm",
                "ServiceMonitor/tgi-large",
                "ServiceMonitor/tgi-quantized",
                "ServiceMonitor/tgi-quantized-sglang",
            ]
            assert len(obs.autoscalers) == 5

        return pulumi.Output.all(*[r.urn for r in obs.resources.values()]).apply(check)

    run()


def test_inputs_are_the_builder_output(mocks: PlanMocks) -> None:
    @pulumi.runtime.test
    def run() -> Any:
        obs = Observability(
            "obs", ObservabilityArgs(platform(autoscaler="keda"), WEIGHTS, platform="tgi")
        )

        def check(_: Any) -> None:
            scaled = [
                r for r in mocks.resources if r.type == "kubernetes:keda.sh/v1alpha1:ScaledObject"
            ]
            assert [r.name for r in scaled] == ["tgi-tgi-chat", "tgi-tgi-large"]
            spec = scaled[0].inputs["spec"]
            assert spec["triggers"][0]["metadata"]["query"] == (
                'sum(llm:queue_requests{namespace="tgi",tier="chat"})'
            )
            assert scaled[0].inputs["metadata"]["namespace"] == "tgi"
            assert not [
                r
                for r in mocks.resources
                if r.type == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
            ]

        return pulumi.Output.all(*[r.urn for r in obs.resources.values()]).apply(check)

    run()


def test_annotations_mode_without_autoscaler(mocks: PlanMocks) -> None:
    @pulumi.runtime.test
    def run() -> Any:
        cfg = platform(scrapeMode="annotations", autoscaler="none")
        obs = Observability("obs", ObservabilityArgs(cfg, WEIGHTS, platform="tgi"))

        def check(_: Any) -> None:
            counts = types(mocks)
            assert counts["kubernetes:core/v1:ConfigMap"] == 2  # rule file, dashboard
            assert not any("monitoring.coreos.com" in t for t in counts)
            assert obs.monitors == [] and obs.autoscalers == []

        return pulumi.Output.all(*[r.urn for r in obs.resources.values()]).apply(check)

    run()

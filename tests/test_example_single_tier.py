"""examples/single-tier under Pulumi's mocks: TgiTier and ModelCache without TgiPlatform."""

from __future__ import annotations

import copy
import functools
import json
import runpy
from typing import Any

import pulumi
import pytest

from tests.support import ROOT, assert_schema_valid
from tgi_infra import naming
from tgi_infra.config.loader import read_stack_file
from tgi_infra.manifests import credentials
from tgi_infra.offline.plan import UNKNOWN_SHOWN, OfflinePlan, run_offline

EXAMPLE = ROOT / "examples" / "single-tier"
PROJECT = "tgi-single-tier"
TOKEN = "hf_single_tier_placeholder"


def example_config() -> dict[str, Any]:
    return read_stack_file(EXAMPLE / "Pulumi.example.yaml")


def plan_example(config: dict[str, Any]) -> OfflinePlan:
    def program() -> None:
        runpy.run_path(str(EXAMPLE / "__main__.py"), run_name="__main__")

    return run_offline(
        program,
        config,
        stack="example",
        project=PROJECT,
        secrets={f"{PROJECT}:hfToken": TOKEN},
    )


@functools.cache
def example_plan() -> OfflinePlan:
    return plan_example(example_config())


def only(plan: OfflinePlan, type_token: str) -> Any:
    (resource,) = [r for r in plan.resources if r.type == type_token]
    return resource


def test_the_example_builds_a_tier_and_its_cache() -> None:
    plan = example_plan()
    tier = only(plan, "tgi-infra:serving:TgiTier")
    cache = only(plan, "tgi-infra:serving:ModelCache")
    assert not plan.of_type("tgi-infra:platform:")
    deployment = only(plan, "kubernetes:apps/v1:Deployment")
    service = only(plan, "kubernetes:core/v1:Service")
    job = only(plan, "kubernetes:batch/v1:Job")
    assert deployment.parent == tier.urn and service.parent == tier.urn
    assert job.parent == cache.urn
    assert job.urn in deployment.dependencies
    assert deployment.urn in service.dependencies
    # Kubernetes names come from the component's name, "chat".
    assert service.inputs["metadata"]["name"] == "chat"
    # Resolved from the Service's id, which a preview does not know yet.
    assert plan.outputs["serviceName"] == UNKNOWN_SHOWN
    assert deployment.inputs["metadata"]["name"].startswith("chat-")

    pod = deployment.inputs["spec"]["template"]
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["MODEL_ID"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert env["MAX_TOTAL_TOKENS"] == "16384"
    assert pod["spec"]["nodeSelector"] == {naming.POOL_LABEL: "l40s"}
    # Serving pods read the cache offline: no token, and no restart when it rotates; the
    # download Job, which reads it, carries its fingerprint.
    assert "HF_TOKEN" not in env
    assert credentials.FINGERPRINT_ANNOTATION not in pod["metadata"].get("annotations", {})
    job_pod = job.inputs["spec"]["template"]["metadata"]
    assert job_pod["annotations"] == {
        credentials.FINGERPRINT_ANNOTATION: credentials.token_fingerprint(TOKEN)
    }
    job_env = {e["name"] for e in job.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "HF_TOKEN" in job_env
    # The tier admits the configured client namespace; download Jobs may reach the Hub.
    policies = {
        p.inputs["metadata"]["name"]: p.inputs["spec"]
        for p in plan.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    }
    assert set(policies) == {"chat", "chat-download"}
    admitted = [
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in policies["chat"]["ingress"][0]["from"]
    ]
    assert admitted == ["apps", "monitoring"]


def test_no_plaintext_secret() -> None:
    plan = example_plan()
    text = json.dumps([r.inputs for r in plan.resources]) + json.dumps(plan.outputs)
    assert TOKEN not in text
    secret = only(plan, "kubernetes:core/v1:Secret")
    assert secret.inputs["stringData"] == {"token": "[secret]"}


def test_a_bad_tier_stops_the_program() -> None:
    config = copy.deepcopy(example_config())
    config[f"{PROJECT}:tier"]["maxInputTokens"] = config[f"{PROJECT}:tier"]["maxTotalTokens"]
    with pytest.raises(pulumi.RunError, match="maxInputTokens"):
        plan_example(config)


def test_the_example_objects_pass_the_kubernetes_schemas() -> None:
    objects = example_plan().kubernetes_objects()
    assert len(objects) == 8
    assert_schema_valid(objects)

"""The real program under mocks, per stack: structure, wiring, blue/green, secrets, schemas."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import STACKS, offline_plan, raw_stack, require_tool
from tgi_infra import naming
from tgi_infra.manifests import credentials
from tgi_infra.offline.plan import PLACEHOLDER, REDACTED, OfflinePlan, PlannedResource, run_offline
from tgi_infra.program import main
from tgi_infra.validation import (
    SchemaUnavailable,
    crd_directory,
    is_custom_resource,
    validate_core_object,
    validate_custom_resource,
)

# Envoy Gateway's Backend CRD is not among ../shared/crds; its shape is asserted by hand in
# tests/test_manifests_gateway.py.
CRDS_NOT_VENDORED = {"Backend"}


@functools.cache
def plan_of(stack: str) -> OfflinePlan:
    return offline_plan(stack)


def named(plan: OfflinePlan, kind: str, name: str) -> PlannedResource:
    return next(
        r
        for r in plan.resources
        if r.type.endswith(f":{kind}") and r.inputs["metadata"]["name"] == name
    )


def test_components_and_their_children() -> None:
    plan = plan_of("prod")
    (platform,) = plan.of_type("tgi-infra:platform:TgiPlatform")
    kinds = {r.type for r in plan.children(platform.urn)}
    assert {
        "tgi-infra:serving:TgiTier",
        "tgi-infra:serving:ModelCache",
        "tgi-infra:nodepools:GpuNodePool",
        "tgi-infra:gateway:TenantGateway",
        "tgi-infra:observability:Observability",
    } <= kinds
    tiers = plan.of_type("tgi-infra:serving:TgiTier")
    assert len(tiers) == 5  # chat, large, quantized on TGI; chat-vllm; quantized-sglang
    for tier in tiers:
        children = {r.type.split(":")[-1] for r in plan.children(tier.urn)}
        assert children == {
            "ServiceAccount",
            "Deployment",
            "Service",
            "NetworkPolicy",
            "PodDisruptionBudget",
        }


def test_pods_wait_for_the_cache_and_the_service_for_the_pods() -> None:
    plan = plan_of("prod")
    cfg_tier = "chat"
    urns = {r.urn: r for r in plan.resources}
    deployment = next(
        r
        for r in plan.of_type("kubernetes:apps/v1:Deployment")
        if re.fullmatch(naming.deployment_name_pattern(cfg_tier), r.inputs["metadata"]["name"])
    )
    service = named(plan, "Service", naming.service_name(cfg_tier))
    deps = {urns[d].type.split(":")[-1] for d in deployment.dependencies}
    # depends_on a component means on each of its children: the pool's node group, the
    # device plugin's DaemonSet.
    assert {"Job", "NodeGroup", "DaemonSet", "ServiceAccount"} <= deps
    assert deployment.urn in service.dependencies


def test_every_resource_uses_the_stack_providers() -> None:
    plan = plan_of("prod")
    providers = {r.type for r in plan.resources if r.type.startswith("pulumi:providers:")}
    assert providers == {"pulumi:providers:aws", "pulumi:providers:kubernetes"}


def test_model_swap_is_blue_green() -> None:
    before = plan_of("prod")
    raw = raw_stack("prod")["tgi-infra:platform"]
    tiers = [dict(t) for t in raw["tiers"]]
    tiers[0]["revision"] = "f" * 40
    after = offline_plan("prod", tiers=tiers)

    def server(plan: OfflinePlan) -> PlannedResource:
        return next(
            r
            for r in plan.of_type("kubernetes:apps/v1:Deployment")
            if r.name.endswith("-tgi-chat-server")
        )

    old, new = server(before), server(after)
    # Same Pulumi resource, new Kubernetes name: Pulumi replaces it create-before-delete.
    assert old.name == new.name
    assert old.inputs["metadata"]["name"] != new.inputs["metadata"]["name"]
    old_svc = named(before, "Service", "tgi-chat")
    new_svc = named(after, "Service", "tgi-chat")
    new_hash = new.inputs["metadata"]["labels"][naming.MODEL_HASH_LABEL]
    assert new_svc.inputs["spec"]["selector"][naming.MODEL_HASH_LABEL] == new_hash
    assert old_svc.inputs["spec"]["selector"] != new_svc.inputs["spec"]["selector"]
    assert new.urn in new_svc.dependencies
    # The new model gets its own cache and download before its pods start.
    job = next(
        r for r in after.of_type("kubernetes:batch/v1:Job") if r.name.endswith("tgi-chat-download")
    )
    assert new_hash in job.inputs["metadata"]["name"]
    # Other tiers are untouched.
    assert server(before).inputs != server(after).inputs
    unchanged = [r for r in before.of_type("kubernetes:apps/v1:Deployment") if "chat" not in r.name]
    assert all(r.inputs in [a.inputs for a in after.resources] for r in unchanged)


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_in_plaintext(stack: str) -> None:
    token = "hf_" + "k" * 34
    config = {**raw_stack(stack), "tgi-infra:hfToken": {"secure": "v1:AAAA"}}
    plan = run_offline(main, config, stack=stack, secrets={"tgi-infra:hfToken": token})
    text = json.dumps([r.inputs for r in plan.resources]) + json.dumps(plan.outputs)
    assert token not in text and PLACEHOLDER not in text
    assert "tgi-infra:hfToken" in plan.secrets
    secret = named(plan, "Secret", naming.hf_token_secret_name())
    assert secret.inputs["stringData"] == {"token": "[secret]"}
    tenants = [t["name"] for t in raw_stack(stack)["tgi-infra:platform"].get("tenants", [])]
    assert plan.outputs["tenantKeys"] == "[secret]"  # generated keys: unknown and secret
    for tenant in tenants:
        key = named(plan, "Secret", naming.tenant_key_secret_name(tenant))
        assert key.inputs["stringData"] == REDACTED  # generated: unknown and secret


def test_a_token_rotation_replaces_only_the_download_jobs() -> None:
    """The fingerprint is on the download Jobs' pod templates (they read the token); the
    serving pods read the cache offline, so a rotation leaves their spec as it was."""

    def plan_with(token: str) -> OfflinePlan:
        config = {**raw_stack("prod"), "tgi-infra:hfToken": {"secure": "v1:AAAA"}}
        return run_offline(main, config, stack="prod", secrets={"tgi-infra:hfToken": token})

    old, new = plan_with("hf_" + "a" * 34), plan_with("hf_" + "b" * 34)
    def deployments(plan: OfflinePlan) -> dict[str, dict]:
        found = plan.of_type("kubernetes:apps/v1:Deployment")
        return {r.inputs["metadata"]["name"]: r.inputs for r in found}

    assert deployments(old) and deployments(old) == deployments(new)
    for deployment in deployments(old).values():
        pod = deployment["spec"]["template"]
        assert credentials.FINGERPRINT_ANNOTATION not in pod["metadata"].get("annotations", {})

    def downloads(plan: OfflinePlan) -> dict[str, str]:
        return {
            r.inputs["metadata"]["name"]: r.inputs["spec"]["template"]["metadata"]["annotations"][
                credentials.FINGERPRINT_ANNOTATION
            ]
            for r in plan.of_type("kubernetes:batch/v1:Job")
            if r.inputs["metadata"]["name"].endswith("-download")
        }

    before, after = downloads(old), downloads(new)
    assert before and before.keys() == after.keys()
    assert set(before.values()) == {credentials.token_fingerprint("hf_" + "a" * 34)}
    assert set(after.values()) == {credentials.token_fingerprint("hf_" + "b" * 34)}


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_objects_validate_against_real_schemas(stack: str) -> None:
    objects = plan_of(stack).kubernetes_objects()
    failures: list[str] = []
    unvalidated: set[str] = set()
    for obj in objects:
        if not is_custom_resource(obj):
            # A generated key's stringData is unknown and secret in a preview: no shape yet.
            failures += validate_core_object({k: v for k, v in obj.items() if v != REDACTED})
            continue
        if crd_directory() is None:
            pytest.skip("no ../shared/crds beside the checkout: CRD schemas unavailable")
        try:
            failures += validate_custom_resource(obj)
        except SchemaUnavailable:
            unvalidated.add(obj["kind"])
    assert not failures, "\n".join(failures)
    assert unvalidated <= CRDS_NOT_VENDORED
    assert len(objects) > 20


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_manifests_pass_checkov(stack: str, tmp_path: Path) -> None:
    checkov = require_tool("checkov")
    for i, obj in enumerate(plan_of(stack).kubernetes_objects()):
        (tmp_path / f"{i:03d}.yaml").write_text(yaml.safe_dump(obj))
    result = subprocess.run(
        [checkov, "-d", str(tmp_path), "--framework", "kubernetes", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [f"{f['check_id']} {f['resource']}" for f in report["results"]["failed_checks"]]
    assert not failed, "\n".join(failed)
    assert report["summary"]["passed"] > 100
    # Every accepted finding carries its reason in the manifest itself.
    skipped = report["results"]["skipped_checks"]
    assert skipped
    for check in skipped:
        assert len(check["check_result"]["suppress_comment"]) > 20, check["check_id"]


def test_plan_fails_cleanly_on_a_bad_stack() -> None:
    import pulumi

    raw = raw_stack("dev")["tgi-infra:platform"]
    tiers = [dict(raw["tiers"][0], maxInputTokens=99_999)]
    with pytest.raises(pulumi.RunError, match="nothing was changed"):
        offline_plan("dev", tiers=tiers)

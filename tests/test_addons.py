"""Add-ons: values from the config, compatibility of pins, controllers refused when off,
and the order the offline plan records (each custom resource after its controller)."""

from __future__ import annotations

import copy
import functools
import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import offline_plan, raw_stack, stack_config
from tgi_infra.checks.addons import (
    AI_GATEWAY_NEEDS,
    ENVOY_GATEWAY_BUNDLES,
    check_addons,
    check_compatibility,
    check_controllers,
)
from tgi_infra.config.loader import parse_platform
from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests import addons as builders
from tgi_infra.manifests.addons_aws import efs_file_system_args, efs_read_mibps
from tgi_infra.manifests.autoscaling import prometheus_adapter_rules
from tgi_infra.manifests.cluster import subnet_plan
from tgi_infra.offline.plan import OfflinePlan, PlannedResource

FIXTURES = Path(__file__).parent / "fixtures" / "addons"


def prod_raw(**addons: Any) -> dict[str, Any]:
    raw = copy.deepcopy(raw_stack("prod")["tgi-infra:platform"])
    for key, value in addons.items():
        raw["addons"][key] = value
    return raw


def prod(**addons: Any) -> PlatformConfig:
    return parse_platform(prod_raw(**addons))


def checks_named(problems: list[Any], path: str) -> list[Any]:
    return [p for p in problems if p.path == path and p.severity == "error"]


# --- values, read against the upstream files they come from ---------------------------


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(_leaves(v, f"{prefix}.{k}" if prefix else k))
    return out


def test_envoy_gateway_values_hold_what_ai_gateway_requires() -> None:
    upstream = yaml.safe_load(
        (FIXTURES / "ai-gateway-v1.1.0-envoy-gateway-values.yaml").read_text()
    )
    ours = _leaves(builders.envoy_gateway_values(prod()))
    for key, value in _leaves(upstream).items():
        assert ours.get(key) == value, key
    addon = yaml.safe_load(
        (FIXTURES / "ai-gateway-v1.1.0-token-ratelimit-values-addon.yaml").read_text()
    )
    backend = addon["config"]["envoyGateway"]["rateLimit"]["backend"]
    ours_backend = builders.envoy_gateway_values(prod())["config"]["envoyGateway"]["rateLimit"]
    assert ours_backend["backend"]["type"] == backend["type"] == "Redis"
    assert ours_backend["backend"]["redis"]["url"] == (
        "redis.envoy-gateway-system.svc.cluster.local:6379"
    )


def test_without_ai_gateway_no_extension_manager_and_existing_redis() -> None:
    cfg = prod(
        aiGateway={"mode": "off"},
        envoyGateway={"mode": "install", "redis": "existing", "redisUrl": "redis.infra:6379"},
    )
    eg = builders.envoy_gateway_values(cfg)["config"]["envoyGateway"]
    assert "extensionManager" not in eg
    assert eg["extensionApis"]["enableBackend"] is True
    assert eg["rateLimit"]["backend"]["redis"]["url"] == "redis.infra:6379"
    assert builders.redis_url(cfg) == "redis.infra:6379"
    # With an existing Redis the plan installs none.
    raw = prod_raw(envoyGateway={"mode": "install", "redis": "existing", "redisUrl": "r.x:6379"})
    plan = offline_plan("prod", addons=raw["addons"])
    assert not [r for r in plan.resources if r.name.endswith("-redis")]


def test_adapter_values_carry_the_observability_rules() -> None:
    cfg = prod()
    values = builders.adapter_values(cfg)
    assert values["rules"]["custom"] == prometheus_adapter_rules(cfg)
    assert values["rules"]["default"] is False
    assert values["prometheus"] == {
        "url": "http://kube-prometheus-stack-prometheus.monitoring.svc",
        "port": 9090,
    }


def test_prod_releases_are_pinned_and_ordered() -> None:
    specs = {s.key: s for s in builders.addon_releases(prod())}
    assert set(specs) == {
        "envoyGateway",
        "aiGatewayCrds",
        "aiGateway",
        "prometheus",
        "prometheusAdapter",
        "karpenter",
        "efs",
        "metricsServer",
    }  # nvidia: the device plugin DaemonSet, not a release
    operator = prod(nvidia={"mode": "install", "kind": "gpu-operator"})
    (gpu,) = [s for s in builders.addon_releases(operator) if s.key == "nvidia"]
    assert gpu.chart == "gpu-operator" and gpu.values["driver"] == {"enabled": False}
    assert specs["envoyGateway"].version == "v1.9.0"
    assert specs["aiGateway"].version == specs["aiGatewayCrds"].version == "v1.1.0"
    assert specs["aiGateway"].skip_crds and not specs["aiGatewayCrds"].skip_crds
    assert specs["karpenter"].values["settings"]["clusterName"] == "ml-prod"


def test_user_values_merge_and_managed_keys_are_refused() -> None:
    merged, conflicts = builders.merge_values(
        {"a": {"b": 1, "c": 2}}, {"a": {"c": 2, "d": 3}, "e": 4}
    )
    assert merged == {"a": {"b": 1, "c": 2, "d": 3}, "e": 4}
    assert conflicts == []
    cfg = prod(
        envoyGateway={
            "mode": "install",
            "values": {
                "deployment": {"replicas": 2},
                "config": {"envoyGateway": {"extensionApis": {"enableBackend": False}}},
            },
        }
    )
    (problem,) = [p for p in check_addons(cfg) if "values" in p.path]
    assert (
        problem.path == "addons.envoyGateway.values.config.envoyGateway.extensionApis.enableBackend"
    )
    spec = next(s for s in builders.addon_releases(cfg) if s.key == "envoyGateway")
    assert spec.values["deployment"] == {"replicas": 2}


def test_unknown_addon_key_and_bad_mode_are_config_errors() -> None:
    from tgi_infra.problems import ConfigInvalid

    raw = prod_raw()
    raw["addons"]["envoyGatway"] = {"mode": "install"}
    with pytest.raises(ConfigInvalid, match="envoyGateway"):
        parse_platform(raw)
    with pytest.raises(ConfigInvalid, match="mode"):
        parse_platform(prod_raw(keda={"mode": "maybe"}))


# --- compatibility, against the projects' tables -------------------------------------


def _rows(name: str) -> list[list[str]]:
    rows = []
    for line in (FIXTURES / name).read_text().splitlines():
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and not set(cells[0]) <= {"-"}:
            rows.append(cells)
    return rows


def test_tables_match_the_projects_matrices() -> None:
    for version, eg, k8s, gw_api, _status in _rows("ai-gateway-compatibility.md"):
        match = re.match(r"v(\d+\.\d+)\.x", version)
        if not match:
            continue
        eg_min, api, k8s_min = AI_GATEWAY_NEEDS[match.group(1)]
        assert eg.startswith(f"v{eg_min}+") or eg.startswith(f"v{eg_min[:-2]}.x+"), version
        assert gw_api == f"v{api}.x" and k8s == f"v{k8s_min}+", version
    for row in _rows("envoy-gateway-matrix.md")[1:]:
        version, _proxy, _rl, gw_api, k8s = row[:5]
        minor = version.removeprefix("v")
        if minor in ENVOY_GATEWAY_BUNDLES:
            bundled, supported = ENVOY_GATEWAY_BUNDLES[minor]
            assert gw_api == f"v{bundled}"
            assert k8s.replace("v", "").split(", ") == list(supported)


def test_default_pins_are_compatible() -> None:
    # Only the warning that EG 1.9 bundles a newer Gateway API than AI Gateway 1.1 tested.
    (problem,) = check_compatibility(prod())
    assert problem.severity == "warning" and "tested with Gateway API 1.5.x" in problem.message


@pytest.mark.parametrize(
    ("eg_version", "message"),
    [
        ("v1.8.3", "operation.path"),  # Gateway API 1.5, but the SecurityPolicy needs 1.9
        ("v1.8.0", "needs Envoy Gateway 1.8.1 or newer"),
        ("v1.7.2", "needs Envoy Gateway 1.8.1"),
        ("v2.0.0", "not in Envoy Gateway's compatibility matrix"),
    ],
)
def test_incompatible_envoy_gateway_pins_are_refused(eg_version: str, message: str) -> None:
    cfg = prod(envoyGateway={"mode": "install", "version": eg_version})
    problems = [p for p in check_compatibility(cfg) if p.severity == "error"]
    assert any(message in p.message for p in problems), problems


def test_older_gateway_api_than_ai_gateway_needs_is_an_error() -> None:
    # Held out: AI Gateway 1.0 needs Gateway API 1.5; EG 1.7 bundles 1.4.1.
    cfg = prod(
        aiGateway={"mode": "install", "version": "v1.0.0"},
        envoyGateway={"mode": "install", "version": "v1.7.2"},
    )
    errors = [p.message for p in check_compatibility(cfg) if p.severity == "error"]
    assert any("needs Gateway API 1.5.x" in m for m in errors), errors


def test_ai_gateway_pin_and_kubernetes_version() -> None:
    problems = check_compatibility(prod(aiGateway={"mode": "install", "version": "v0.4.0"}))
    assert any("compatibility matrix" in p.message for p in problems)
    # Held out: 0.6 pairs with Gateway API 1.4 and EG 1.7 (which bundles 1.4.1); only the
    # SecurityPolicy field of EG 1.9 is missing.
    problems = check_compatibility(
        prod(
            aiGateway={"mode": "install", "version": "v0.6.2"},
            envoyGateway={"mode": "install", "version": "v1.7.2"},
        )
    )
    assert [p.message.split(":")[0] for p in problems] == ["v1.7.2"]
    raw = prod_raw()
    raw["cluster"] = {**raw["cluster"], "create": True, "settings": {"kubernetesVersion": "1.31"}}
    problems = [p for p in check_compatibility(parse_platform(raw)) if p.severity == "error"]
    assert {p.path for p in problems} == {"cluster.settings.kubernetesVersion"}
    # Both refusals: EG 1.9 supports 1.33-1.36, AI Gateway 1.1 needs 1.32+.
    assert len(problems) == 2


# --- controllers the stack's objects need --------------------------------------------


@pytest.mark.parametrize(
    ("addon", "expect"),
    [
        ("envoyGateway", "Gateway"),
        ("aiGateway", "AIGatewayRoute"),
        ("prometheus", "ServiceMonitor"),
        ("karpenter", "NodePool"),
    ],
)
def test_objects_whose_controller_is_off_are_refused(addon: str, expect: str) -> None:
    problems = checks_named(
        check_controllers(prod(**{addon: {"mode": "off"}})), f"addons.{addon}.mode"
    )
    assert len(problems) == 1 and expect in problems[0].message


def test_other_needs() -> None:
    assert checks_named(
        check_controllers(prod(prometheusAdapter={"mode": "off"})), "addons.prometheusAdapter.mode"
    )
    raw = prod_raw()
    raw["observability"] = {**raw["observability"], "autoscaler": "keda"}
    assert checks_named(check_controllers(parse_platform(raw)), "addons.keda.mode")
    assert checks_named(check_controllers(prod(efs={"mode": "off"})), "cache.storageClassName")
    raw = prod_raw()
    raw["gateway"] = {**raw["gateway"], "clusterIssuer": "letsencrypt"}
    assert checks_named(check_controllers(parse_platform(raw)), "gateway.clusterIssuer")
    assert checks_named(check_controllers(prod(nvidia={"mode": "off"})), "addons.nvidia.mode")
    # The unchanged prod stack needs nothing it lacks.
    assert [p for p in check_addons(prod()) if p.severity == "error"] == []


# --- AWS and cluster decisions --------------------------------------------------------


@pytest.mark.parametrize("zones", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "172.20.0.0/18", "10.64.0.0/20"])
def test_subnets_are_disjoint_and_inside_the_vpc(zones: int, cidr: str) -> None:
    plan = subnet_plan(cidr, zones)
    nets = [ipaddress.ip_network(s.cidr) for s in plan]
    assert len(nets) == 2 * zones
    assert all(n.subnet_of(ipaddress.ip_network(cidr)) for n in nets)
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])
    assert sorted(s.zone_index for s in plan if not s.public) == list(range(zones))


def test_efs_throughput_from_the_weights() -> None:
    cfg = prod(efs={"mode": "install", "throughputMode": "provisioned", "loadSeconds": 600})
    weights = {"chat": 16 * 2**30, "large": 140 * 2**30, "quantized": 40 * 2**30}
    # chat 16 GiB × 8 + large 140 × 4 + quantized 40 × 6 = 928 GiB in 600 s.
    assert efs_read_mibps(cfg, weights) == -(-928 * 1024 // 600)
    assert efs_file_system_args(cfg, weights)["provisioned_throughput_in_mibps"] == 1584
    assert "provisioned_throughput_in_mibps" not in efs_file_system_args(prod(), weights)


# --- the offline plan: releases shown, order recorded ---------------------------------


@functools.cache
def prod_plan() -> OfflinePlan:
    return offline_plan("prod")


def _waits_for(plan: OfflinePlan, res: PlannedResource) -> set[str]:
    urns = {r.urn: r for r in plan.resources}
    return {urns[d].name for d in res.dependencies if d in urns}


def test_plan_shows_every_release_with_chart_version_values() -> None:
    releases = {r.name: r for r in prod_plan().of_type("kubernetes:helm.sh/v3:Release")}
    assert len(releases) == 8
    eg = releases["tgi-addons-envoyGateway"].inputs
    assert eg["chart"] == "oci://docker.io/envoyproxy/gateway-helm"
    assert eg["version"] == "v1.9.0"
    assert eg["values"]["config"]["envoyGateway"]["extensionApis"]["enableBackend"] is True
    kps = releases["tgi-addons-prometheus"].inputs
    assert kps["repositoryOpts"] == {"repo": "https://prometheus-community.github.io/helm-charts"}


KIND_WAITS_FOR = {
    "Gateway": "tgi-addons-envoyGateway",
    "GatewayClass": "tgi-addons-envoyGateway",
    "HTTPRoute": "tgi-addons-envoyGateway",
    "SecurityPolicy": "tgi-addons-envoyGateway",
    "BackendTrafficPolicy": "tgi-addons-envoyGateway",
    "Backend": "tgi-addons-envoyGateway",
    "AIGatewayRoute": "tgi-addons-aiGateway",
    "AIServiceBackend": "tgi-addons-aiGatewayCrds",
    "ServiceMonitor": "tgi-addons-prometheus",
    "PrometheusRule": "tgi-addons-prometheus",
    "NodePool": "tgi-addons-karpenter",
    "EC2NodeClass": "tgi-addons-karpenter",
    "HorizontalPodAutoscaler": "tgi-addons-prometheusAdapter",
    "PersistentVolumeClaim": "efs-sc",
}


def test_each_custom_resource_waits_for_its_controller() -> None:
    plan = prod_plan()
    seen = set()
    for res in plan.resources:
        kind = res.type.rsplit(":", 1)[-1]
        if res.custom and kind in KIND_WAITS_FOR:
            seen.add(kind)
            assert KIND_WAITS_FOR[kind] in _waits_for(plan, res), res.name
    assert seen == set(KIND_WAITS_FOR)


def test_tiers_wait_for_the_gpu_operator_and_the_storage_class() -> None:
    addons = prod_raw(nvidia={"mode": "install", "kind": "gpu-operator"})["addons"]
    plan = offline_plan("prod", addons=addons)
    assert not plan.of_type("kubernetes:apps/v1:DaemonSet")  # the operator brings its own
    servers = [
        r for r in plan.of_type("kubernetes:apps/v1:Deployment") if r.name.endswith("-server")
    ]
    assert len(servers) == len(stack_config("prod").tiers)
    for server in servers:
        assert {"tgi-addons-nvidia", "efs-sc", "tgi-addons-efs"} <= _waits_for(plan, server)
    (sc,) = plan.of_type("kubernetes:storage.k8s.io/v1:StorageClass")
    assert sc.inputs["provisioner"] == "efs.csi.aws.com"
    # The EFS file system is created by this stack: its id is unknown in a preview.
    assert sc.inputs["parameters"]["fileSystemId"] == "[unknown]"
    assert "tgi-addons-efs" in _waits_for(plan, sc)


def test_karpenter_release_waits_for_its_role_and_queue() -> None:
    plan = prod_plan()
    (release,) = [
        r
        for r in plan.resources
        if r.name == "tgi-addons-karpenter" and r.custom and "Release" in r.type
    ]
    waits = _waits_for(plan, release)
    assert {"tgi-addons-karpenter-interruption"} <= waits
    rules = plan.of_type("aws:cloudwatch/eventRule:EventRule")
    assert len(rules) == 5
    assert release.inputs["values"]["settings"]["interruptionQueue"] == "ml-prod-karpenter"


def test_existing_addons_install_nothing() -> None:
    plan = offline_plan("dev")
    assert not plan.of_type("kubernetes:helm.sh/v3:Release")
    assert not plan.of_type("aws:efs/")
    # dev keeps today's device plugin DaemonSet.
    assert plan.of_type("kubernetes:apps/v1:DaemonSet")


def test_cluster_create_adds_the_cluster_and_nodes_wait_for_it() -> None:
    raw = raw_stack("prod")["tgi-infra:platform"]
    cluster = {
        **raw["cluster"],
        "create": True,
        "settings": {"adminPrincipalArns": ["arn:aws:iam::123456789012:role/admin"]},
    }
    plan = offline_plan("prod", cluster=cluster)
    (eks,) = plan.of_type("aws:eks/cluster:Cluster")
    assert eks.inputs["name"] == "ml-prod"
    assert eks.inputs["accessConfig"]["authenticationMode"] == "API"
    assert len(plan.of_type("aws:ec2/subnet:Subnet")) == 6
    assert len(plan.of_type("aws:ec2/natGateway:NatGateway")) == 1
    (agent,) = plan.of_type("aws:eks/addon:Addon")
    assert agent.inputs["addonName"] == "eks-pod-identity-agent"
    groups = {r.name: r for r in plan.of_type("aws:eks/nodeGroup:NodeGroup")}
    assert set(groups) == {"tgi-cluster-system", "tgi-pool-l40s-ng", "tgi-pool-l40s-x4-ng"}
    for res in plan.resources:
        if res.type.startswith("aws:eks/") and res.type != "aws:eks/cluster:Cluster":
            assert "tgi-cluster-eks" in _waits_for(plan, res), res.name
    # A cluster this stack creates: its endpoint is unknown in a preview.
    assert plan.outputs["clusterEndpoint"] == "[unknown]"
    assert not [c for c in plan.resources if c.type == "aws:eks/getCluster:getCluster"]


def test_addon_costs_of_a_created_cluster() -> None:
    from tgi_infra.checks.addon_cost import addon_costs

    raw = prod_raw()
    raw["cluster"] = {**raw["cluster"], "create": True}
    cfg = parse_platform(raw)
    weights = {"chat": 16 * 10**9, "large": 141 * 10**9, "quantized": 41 * 10**9}
    weights |= {"chat-vllm": weights["chat"], "quantized-sglang": weights["quantized"]}
    lines = {c.item.split(" (")[0]: c for c in addon_costs(cfg, weights)}
    assert round(lines["EKS control plane"].monthly_max) == 73
    assert round(lines["NAT gateway"].monthly_max, 2) == 32.85
    assert round(lines["system nodes m7i.large"].monthly_min, 2) == round(0.1008 * 730 * 2, 2)
    # Per-tier caches: weights × 1.3 headroom, rounded up to GiB, at $0.30/GB-month.
    efs = lines["EFS cache"]
    # 241 GiB for the three TGI tiers, + 20 (chat-vllm, 16 GB) + 50 (quantized-sglang, 41 GB).
    assert efs.item == "EFS cache (311 GiB)"
    assert round(efs.monthly_max, 2) == round(311 * 1.073741824 * 0.30, 2)
    given = prod_raw()
    given["cluster"] = {**given["cluster"], "create": True, "settings": {"subnetIds": ["subnet-1"]}}
    assert "NAT gateway" not in {
        c.item.split(" (")[0] for c in addon_costs(parse_platform(given), weights)
    }
    assert [c.item for c in addon_costs(prod(efs={"mode": "existing"}), weights)] == []


def test_plan_and_render_show_the_addons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tgi_infra.cli import main

    assert main(["plan", "--stack", "prod"]) == 0
    out = capsys.readouterr().out
    assert "add-ons (Helm releases)" in out and "oci://docker.io/envoyproxy/gateway-helm" in out
    assert "EFS cache" in out and "read 2026-12-02" in out
    assert re.search(r"│ keda +│ off", out) and re.search(r"│ certManager +│ off", out)
    assert main(["render", "--stack", "prod", "--out", str(tmp_path)]) == 0
    rendered = yaml.safe_load((tmp_path / "addons" / "karpenter.yaml").read_text())
    assert rendered["version"] == "1.14.1"
    assert rendered["values"]["settings"]["interruptionQueue"] == "ml-prod-karpenter"
    assert len(list((tmp_path / "addons").iterdir())) == 8


def test_staging_scaled_objects_wait_for_keda() -> None:
    plan = offline_plan("staging")
    scaled = plan.of_type("kubernetes:keda.sh/v1alpha1:ScaledObject")
    assert scaled
    for res in scaled:
        assert "tgi-addons-keda" in _waits_for(plan, res)
    releases = {r.name for r in plan.of_type("kubernetes:helm.sh/v3:Release")}
    assert releases == {
        "tgi-addons-envoyGateway",
        "tgi-addons-aiGatewayCrds",
        "tgi-addons-aiGateway",
        "tgi-addons-keda",
    }


def test_cluster_create_with_given_subnets_builds_no_vpc() -> None:
    raw = raw_stack("prod")["tgi-infra:platform"]
    subnets = ["subnet-0aa", "subnet-0bb"]
    cluster = {**raw["cluster"], "create": True, "settings": {"subnetIds": subnets}}
    plan = offline_plan("prod", cluster=cluster)
    assert not plan.of_type("aws:ec2/vpc:Vpc") and not plan.of_type("aws:ec2/natGateway:")
    (eks,) = plan.of_type("aws:eks/cluster:Cluster")
    assert eks.inputs["vpcConfig"]["subnetIds"] == subnets
    mounts = plan.of_type("aws:efs/mountTarget:MountTarget")
    assert sorted(m.inputs["subnetId"] for m in mounts) == subnets


def test_platform_addons_alone_wire_their_own_children() -> None:
    import pulumi

    from tgi_infra.components.addons import AddonNetwork, PlatformAddons
    from tgi_infra.offline.plan import run_offline

    cfg = prod()

    def program() -> None:
        network = AddonNetwork(["subnet-a", "subnet-b"], "vpc-1", "10.1.0.0/16")
        PlatformAddons("lib", cfg, {"chat": 16 * 2**30}, network=network)
        pulumi.export("ok", True)

    plan = run_offline(program, {}, stack="lib")
    (gc,) = plan.of_type("kubernetes:gateway.networking.k8s.io/v1:GatewayClass")
    assert "lib-envoyGateway" in _waits_for(plan, gc)
    (sg,) = plan.of_type("aws:ec2/securityGroup:SecurityGroup")
    assert sg.inputs["vpcId"] == "vpc-1"
    assert sg.inputs["ingress"][0]["cidrBlocks"] == ["10.1.0.0/16"]
    assert len(plan.of_type("aws:efs/mountTarget:MountTarget")) == 2

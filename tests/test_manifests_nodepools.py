"""The GPU node pool builders: labels, taints, scheduling, managed node group arguments,
Karpenter NodePool / EC2NodeClass, the NVIDIA device plugin; every object schema-checked."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import assert_schema_valid, small_raw, stack_config
from tgi_infra import naming
from tgi_infra.config.loader import parse_platform
from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests import nodepools as b


def platform(**pool_changes: Any) -> PlatformConfig:
    raw = small_raw()
    raw["nodePools"][0].update(pool_changes)
    return parse_platform(raw)


def test_tier_scheduling_selects_the_pool_and_tolerates_its_taint() -> None:
    pool = platform().node_pools[0]
    selector, tolerations = b.tier_scheduling(pool)
    assert selector == {naming.POOL_LABEL: "l40s"}
    assert tolerations == [
        {"key": naming.GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert b.pool_taints(pool) == [
        {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
    ]


def test_node_labels_carry_pool_gpu_and_user_labels_and_ours_win() -> None:
    pool = platform(labels={"example.com/team": "search", naming.POOL_LABEL: "other"}).node_pools[0]
    assert b.pool_node_labels(pool) == {
        "example.com/team": "search",
        naming.POOL_LABEL: "l40s",
        naming.GPU_LABEL: "l40s",
    }


def test_managed_node_group_args() -> None:
    cfg = platform(capacityType="SPOT", minSize=1, maxSize=4, diskSizeGib=300)
    args = b.managed_node_group_args(cfg, cfg.node_pools[0])
    assert args["ami_type"] == "AL2023_x86_64_NVIDIA"
    assert args["capacity_type"] == "SPOT"
    assert args["instance_types"] == ["g6e.xlarge"]
    assert args["scaling_config"] == {"min_size": 1, "max_size": 4, "desired_size": 1}
    assert args["update_config"] == {"max_unavailable": 1}
    assert args["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert args["labels"] == {naming.POOL_LABEL: "l40s", naming.GPU_LABEL: "l40s"}
    assert "subnet_ids" not in args  # the component uses the cluster's subnets
    assert "disk_size" not in args  # EKS rejects disk_size together with a launch template
    lt = args["launch_template"]
    assert lt["metadata_options"]["http_tokens"] == "required"
    assert lt["metadata_options"]["http_put_response_hop_limit"] == 1
    [root] = lt["block_device_mappings"]
    assert root["device_name"] == "/dev/xvda"
    assert root["ebs"]["volume_size"] == 300
    assert root["ebs"]["encrypted"] == "true"
    assert root["ebs"]["volume_type"] == "gp3"
    assert {t["resource_type"] for t in lt["tag_specifications"]} == {"instance", "volume"}


def test_managed_args_desired_size_and_subnets() -> None:
    cfg = platform(minSize=1, maxSize=4, desiredSize=3, subnetIds=["subnet-a", "subnet-b"])
    args = b.managed_node_group_args(cfg, cfg.node_pools[0])
    assert args["scaling_config"]["desired_size"] == 3
    assert args["subnet_ids"] == ["subnet-a", "subnet-b"]


def test_bottlerocket_sizes_the_data_volume() -> None:
    cfg = platform(amiType="BOTTLEROCKET_x86_64_NVIDIA", diskSizeGib=250)
    pool = cfg.node_pools[0]
    lt = b.managed_node_group_args(cfg, pool)["launch_template"]
    sizes = {m["device_name"]: m["ebs"]["volume_size"] for m in lt["block_device_mappings"]}
    assert sizes == {"/dev/xvda": b.BOTTLEROCKET_OS_VOLUME_GIB, "/dev/xvdb": 250}
    node_class = b.karpenter_node_class(cfg, pool, "role")
    [root] = [m for m in node_class["spec"]["blockDeviceMappings"] if m.get("rootVolume")]
    assert root["deviceName"] == "/dev/xvdb"
    assert root["ebs"]["volumeSize"] == "250Gi"
    assert node_class["spec"]["amiSelectorTerms"] == [{"alias": "bottlerocket@latest"}]


def karpenter_platform(**changes: Any) -> PlatformConfig:
    base = {
        "provisioner": "karpenter",
        "instanceTypes": ["g6e.12xlarge", "g6e.24xlarge"],
        "minSize": 0,
        "maxSize": 3,
        "diskSizeGib": 300,
    }
    return platform(**{**base, **changes})


def test_karpenter_node_class() -> None:
    cfg = karpenter_platform()
    node_class = b.karpenter_node_class(cfg, cfg.node_pools[0], "KarpenterNodeRole-test")
    spec = node_class["spec"]
    assert node_class["metadata"]["name"] == "tgi-l40s"
    assert spec["amiSelectorTerms"] == [{"alias": "al2023@latest"}]
    assert spec["role"] == "KarpenterNodeRole-test"
    assert "instanceProfile" not in spec  # role and instanceProfile exclude each other
    discovery = [{"tags": {"karpenter.sh/discovery": "test"}}]
    assert spec["subnetSelectorTerms"] == discovery
    assert spec["securityGroupSelectorTerms"] == discovery
    assert spec["metadataOptions"]["httpTokens"] == "required"
    [root] = spec["blockDeviceMappings"]
    assert root == {
        "deviceName": "/dev/xvda",
        "rootVolume": True,
        "ebs": {
            "volumeSize": "300Gi",
            "volumeType": "gp3",
            "iops": b.EBS_IOPS,
            "throughput": b.EBS_THROUGHPUT_MIBS,
            "encrypted": True,
            "deleteOnTermination": True,
        },
    }


def test_karpenter_node_pool() -> None:
    cfg = karpenter_platform(capacityType="SPOT")
    node_pool = b.karpenter_node_pool(cfg, cfg.node_pools[0])
    spec = node_pool["spec"]
    template = spec["template"]["spec"]
    assert template["nodeClassRef"] == {
        "group": "karpenter.k8s.aws",
        "kind": "EC2NodeClass",
        "name": "tgi-l40s",
    }
    requirements = {r["key"]: r["values"] for r in template["requirements"]}
    assert requirements["node.kubernetes.io/instance-type"] == ["g6e.12xlarge", "g6e.24xlarge"]
    assert requirements["karpenter.sh/capacity-type"] == ["spot"]
    assert template["taints"] == b.pool_taints(cfg.node_pools[0])
    assert spec["template"]["metadata"]["labels"][naming.POOL_LABEL] == "l40s"
    # 3 nodes × 4 L40S: the pool's GPU bound without a gpuLimit.
    assert spec["limits"] == {"nvidia.com/gpu": "12"}
    # Never consolidate a node that runs (or loads) a model; one node at a time.
    assert spec["disruption"] == {
        "consolidationPolicy": "WhenEmpty",
        "consolidateAfter": "10m",
        "budgets": [{"nodes": "1"}],
    }
    assert template["expireAfter"] == "Never"


@pytest.mark.parametrize(("gpu_limit", "expected"), [(8, "8"), (64, "12")])
def test_karpenter_gpu_limit_is_the_lower_bound(gpu_limit: int, expected: str) -> None:
    cfg = karpenter_platform(gpuLimit=gpu_limit)
    assert b.karpenter_node_pool(cfg, cfg.node_pools[0])["spec"]["limits"] == {
        "nvidia.com/gpu": expected
    }


def test_karpenter_labels_avoid_restricted_domains() -> None:
    """The CRDs' CEL rules (not checked by the JSON schema): Karpenter-owned label
    domains and one alias term only."""
    cfg = karpenter_platform()
    pool = cfg.node_pools[0]
    labels = b.karpenter_node_pool(cfg, pool)["spec"]["template"]["metadata"]["labels"]
    for key in labels:
        domain = key.split("/")[0]
        assert not domain.endswith(("karpenter.sh", "karpenter.k8s.aws"))
        assert key != "kubernetes.io/hostname"
    terms = b.karpenter_node_class(cfg, pool, "r")["spec"]["amiSelectorTerms"]
    assert len(terms) == 1 and set(terms[0]) == {"alias"}


def test_karpenter_objects_validate_against_the_crds() -> None:
    objs: list[dict[str, Any]] = []
    for changes in (
        {},
        {"capacityType": "SPOT", "gpuLimit": 8},
        {"amiType": "BOTTLEROCKET_x86_64_NVIDIA"},
    ):
        cfg = karpenter_platform(**changes)
        objs += b.karpenter_objects(cfg, cfg.node_pools[0], naming.node_role_name("test", "l40s"))
    assert_schema_valid(objs)


def test_stack_objects_validate(stack_name: str) -> None:
    cfg = stack_config(stack_name)
    objs = b.device_plugin_objects(cfg)
    for pool in cfg.node_pools:
        if pool.provisioner == "karpenter":
            objs += b.karpenter_objects(
                cfg, pool, naming.node_role_name(cfg.cluster.name, pool.name)
            )
    assert objs
    assert_schema_valid(objs)


def test_device_plugin_daemonset() -> None:
    raw = small_raw()
    raw["nodePools"].append(
        {
            "name": "br",
            "instanceTypes": ["g6.xlarge"],
            "maxSize": 1,
            "amiType": "BOTTLEROCKET_x86_64_NVIDIA",
        }
    )
    cfg = parse_platform(raw)
    ds = b.device_plugin_daemonset(cfg)
    assert ds is not None
    assert ds["metadata"]["namespace"] == "kube-system"
    pod = ds["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"].startswith("nvcr.io/nvidia/k8s-device-plugin:v")
    assert not container["image"].endswith(":latest")
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["priorityClassName"] == "system-node-critical"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    # Bottlerocket ships its own device plugin: only the AL2023 pool gets the DaemonSet.
    [term] = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert term["matchExpressions"] == [
        {"key": naming.POOL_LABEL, "operator": "In", "values": ["l40s"]}
    ]
    assert (
        ds["spec"]["selector"]["matchLabels"].items()
        <= ds["spec"]["template"]["metadata"]["labels"].items()
    )
    assert_schema_valid([ds])


def test_no_device_plugin_with_gpu_operator_or_only_bottlerocket() -> None:
    raw = small_raw()
    raw["cluster"]["gpuOperatorInstalled"] = True
    assert b.device_plugin_objects(parse_platform(raw)) == []
    assert b.device_plugin_objects(platform(amiType="BOTTLEROCKET_x86_64_NVIDIA")) == []


def test_node_role_name_fits_iam() -> None:
    assert naming.node_role_name("ml-prod", "h100") == "tgi-ml-prod-h100-node"
    long = naming.node_role_name("c" * 90, "pool")
    assert len(long) == 64
    assert long != naming.node_role_name("c" * 89 + "d", "pool")

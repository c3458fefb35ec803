"""GPU node pools as plain values: node labels and taints, a tier's scheduling, the EKS
managed node group and launch template arguments, Karpenter's NodePool and EC2NodeClass,
and the NVIDIA device plugin DaemonSet.

One function decides what a pool's nodes carry (`pool_node_labels`, `pool_taints`) and one
what a tier's pods ask for (`tier_scheduling`), so the two agree by construction;
`checks.nodepools` verifies the rendered result against them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tgi_infra import naming
from tgi_infra.capacity.catalog import UnknownHardwareError, instance_type
from tgi_infra.config.models import NodePoolConfig, PlatformConfig
from tgi_infra.manifests.checkov import skip_annotations

K8s = dict[str, Any]

GPU_TAINT_VALUE = "true"
GPU_TAINT_EFFECT = "NoSchedule"
DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.19.2"
DEVICE_PLUGIN_NAMESPACE = "kube-system"
DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"
KARPENTER_NODE_CLASS_GROUP = "karpenter.k8s.aws"
# Bottlerocket boots from a small OS volume; images and kubelet data live on /dev/xvdb.
BOTTLEROCKET_OS_VOLUME_GIB = 4
# gp3: 3000 IOPS is the free baseline; 250 MiB/s (baseline 125) halves the pull of a
# ~12 GiB TGI image for about $5 per node-month.
EBS_VOLUME_TYPE = "gp3"
EBS_IOPS = 3000
EBS_THROUGHPUT_MIBS = 250
# Empty nodes linger this long before Karpenter removes them, so a scale-in followed by a
# scale-out reuses the node (and its pulled image) instead of buying a new one.
KARPENTER_CONSOLIDATE_AFTER = "10m"
EKS_TAINT_EFFECTS = {
    "NoSchedule": "NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
}
KARPENTER_CAPACITY_TYPES = {"ON_DEMAND": "on-demand", "SPOT": "spot"}


def is_bottlerocket(pool: NodePoolConfig) -> bool:
    return pool.ami_type.startswith("BOTTLEROCKET")


def pool_gpu_name(pool: NodePoolConfig) -> str | None:
    """The catalog GPU of the pool's first instance type; None when the catalog lacks it."""
    try:
        return instance_type(pool.instance_types[0]).gpu.name
    except UnknownHardwareError:
        return None


def pool_node_labels(pool: NodePoolConfig) -> dict[str, str]:
    """Labels every node of the pool carries. Reserved keys win over the pool's `labels`
    (`checks.nodepools` reports the override)."""
    out = {**pool.labels, **naming.pool_node_label(pool.name)}
    gpu = pool_gpu_name(pool)
    if gpu:
        out[naming.GPU_LABEL] = naming.gpu_label_value(gpu)
    return out


def gpu_taint() -> K8s:
    return {"key": naming.GPU_TAINT_KEY, "value": GPU_TAINT_VALUE, "effect": GPU_TAINT_EFFECT}


def pool_taints(pool: NodePoolConfig) -> list[K8s]:
    """Taints every node of the pool carries: only GPU work lands there."""
    return [gpu_taint()]


def tier_scheduling(pool: NodePoolConfig) -> tuple[dict[str, str], list[K8s]]:
    """(nodeSelector, tolerations) for the pods of a tier that runs on `pool`."""
    tolerations = [
        {"key": t["key"], "operator": "Exists", "effect": t["effect"]} for t in pool_taints(pool)
    ]
    return naming.pool_node_label(pool.name), tolerations


def root_volumes(pool: NodePoolConfig) -> list[tuple[str, int, bool]]:
    """(device, GiB, holds kubelet/containerd data) per EBS volume of a node."""
    if is_bottlerocket(pool):
        return [
            ("/dev/xvda", BOTTLEROCKET_OS_VOLUME_GIB, False),
            ("/dev/xvdb", pool.disk_size_gib, True),
        ]
    return [("/dev/xvda", pool.disk_size_gib, True)]


def _tags(cfg: PlatformConfig, pool: NodePoolConfig) -> dict[str, str]:
    return {
        naming.POOL_LABEL: pool.name,
        "tgi-infra/cluster": cfg.cluster.name,
        "tgi-infra/environment": cfg.environment,
    }


def launch_template_args(cfg: PlatformConfig, pool: NodePoolConfig) -> K8s:
    """`aws.ec2.LaunchTemplate` arguments: sized encrypted gp3 volumes, IMDSv2 only.

    Hop limit 1 keeps pods (not on the host network) away from the node's credentials.
    Instance types, AMI and IAM stay on the node group, as EKS requires.
    """
    tags = _tags(cfg, pool)
    instance_name = naming.prefixed(f"{cfg.cluster.name}-{pool.name}")  # carries the platform
    return {
        "description": f"tgi-infra GPU pool {pool.name} on {cfg.cluster.name}",
        "update_default_version": True,
        "block_device_mappings": [
            {
                "device_name": device,
                "ebs": {
                    "volume_size": size,
                    "volume_type": EBS_VOLUME_TYPE,
                    "iops": EBS_IOPS,
                    "throughput": EBS_THROUGHPUT_MIBS,
                    "encrypted": "true",
                    "delete_on_termination": "true",
                },
            }
            for device, size, _ in root_volumes(pool)
        ],
        "metadata_options": {
            "http_endpoint": "enabled",
            "http_tokens": "required",
            "http_put_response_hop_limit": 1,
        },
        "tag_specifications": [
            {"resource_type": kind, "tags": {**tags, "Name": instance_name}}
            for kind in ("instance", "volume")
        ],
        "tags": tags,
    }


def managed_node_group_args(cfg: PlatformConfig, pool: NodePoolConfig) -> K8s:
    """`aws.eks.NodeGroup` arguments (snake_case) plus `launch_template`: the template's own
    arguments. The component adds cluster name, node role, subnets and the template id."""
    args: K8s = {
        "ami_type": pool.ami_type,
        "capacity_type": pool.capacity_type,
        "instance_types": list(pool.instance_types),
        "scaling_config": {
            "min_size": pool.min_size,
            "max_size": pool.max_size,
            "desired_size": pool.min_size if pool.desired_size is None else pool.desired_size,
        },
        # One node at a time: every replaced node is a model reload somewhere.
        "update_config": {"max_unavailable": 1},
        "labels": pool_node_labels(pool),
        "taints": [
            {"key": t["key"], "value": t["value"], "effect": EKS_TAINT_EFFECTS[t["effect"]]}
            for t in pool_taints(pool)
        ],
        "tags": _tags(cfg, pool),
        "launch_template": launch_template_args(cfg, pool),
    }
    if pool.subnet_ids:
        args["subnet_ids"] = list(pool.subnet_ids)
    return args


def _cr_labels(pool: NodePoolConfig) -> dict[str, str]:
    return {
        "app.kubernetes.io/part-of": naming.PART_OF,
        "app.kubernetes.io/managed-by": naming.MANAGED_BY,
        naming.POOL_LABEL: pool.name,
    }


def karpenter_node_class(
    cfg: PlatformConfig, pool: NodePoolConfig, role_name: str, cluster: Any = None
) -> K8s:
    """The EC2NodeClass: latest EKS AMI of the family (Karpenter picks the NVIDIA variant
    for GPU instance types), subnets and security groups by `karpenter.sh/discovery`, whose
    value is the cluster's real name: `cluster` (may be a Pulumi input), else the config's."""
    discovery = [{"tags": {"karpenter.sh/discovery": cluster or cfg.cluster.name}}]
    alias = "bottlerocket@latest" if is_bottlerocket(pool) else "al2023@latest"
    devices = []
    for device, size, root in root_volumes(pool):
        mapping: K8s = {
            "deviceName": device,
            "ebs": {
                "volumeSize": f"{size}Gi",
                "volumeType": EBS_VOLUME_TYPE,
                "iops": EBS_IOPS,
                "throughput": EBS_THROUGHPUT_MIBS,
                "encrypted": True,
                "deleteOnTermination": True,
            },
        }
        if root:
            mapping["rootVolume"] = True
        devices.append(mapping)
    return {
        "apiVersion": f"{KARPENTER_NODE_CLASS_GROUP}/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": naming.karpenter_pool_name(pool.name), "labels": _cr_labels(pool)},
        "spec": {
            "amiSelectorTerms": [{"alias": alias}],
            "role": role_name,
            "subnetSelectorTerms": discovery,
            "securityGroupSelectorTerms": discovery,
            "blockDeviceMappings": devices,
            "metadataOptions": {
                "httpEndpoint": "enabled",
                "httpProtocolIPv6": "disabled",
                "httpPutResponseHopLimit": 1,
                "httpTokens": "required",
            },
            "tags": _tags(cfg, pool),
        },
    }


def karpenter_gpu_limit(pool: NodePoolConfig) -> int:
    """The NodePool's GPU limit: maxSize nodes of the largest instance type, or `gpuLimit`
    when lower. It is what bounds a Karpenter pool (NodePools have no maximum size)."""
    try:
        per_node = max(instance_type(t).gpu_count for t in pool.instance_types)
    except UnknownHardwareError:
        per_node = 8
    by_size = pool.max_size * per_node
    return by_size if pool.gpu_limit is None else min(by_size, pool.gpu_limit)


def karpenter_node_pool(cfg: PlatformConfig, pool: NodePoolConfig) -> K8s:
    """The Karpenter NodePool: the pool's instance types and capacity type, the GPU taint,
    a GPU limit, and disruption that never moves a serving (or loading) model to save
    money: only empty nodes are consolidated, nodes do not expire, one node at a time."""
    name = naming.karpenter_pool_name(pool.name)
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": name, "labels": _cr_labels(pool)},
        "spec": {
            "template": {
                "metadata": {"labels": pool_node_labels(pool)},
                "spec": {
                    "nodeClassRef": {
                        "group": KARPENTER_NODE_CLASS_GROUP,
                        "kind": "EC2NodeClass",
                        "name": name,
                    },
                    "requirements": [
                        {
                            "key": "node.kubernetes.io/instance-type",
                            "operator": "In",
                            "values": list(pool.instance_types),
                        },
                        {
                            "key": "karpenter.sh/capacity-type",
                            "operator": "In",
                            "values": [KARPENTER_CAPACITY_TYPES[pool.capacity_type]],
                        },
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                    ],
                    "taints": pool_taints(pool),
                    # Replace nodes for a reason (drift: a new AMI), not for their age.
                    "expireAfter": "Never",
                },
            },
            "limits": {naming.GPU_RESOURCE: str(karpenter_gpu_limit(pool))},
            "disruption": {
                "consolidationPolicy": "WhenEmpty",
                "consolidateAfter": KARPENTER_CONSOLIDATE_AFTER,
                "budgets": [{"nodes": "1"}],
            },
        },
    }


def karpenter_objects(
    cfg: PlatformConfig, pool: NodePoolConfig, role_name: str, cluster: Any = None
) -> list[K8s]:
    return [karpenter_node_class(cfg, pool, role_name, cluster), karpenter_node_pool(cfg, pool)]


def device_plugin_pools(cfg: PlatformConfig) -> list[str]:
    """Pools whose nodes need the device plugin DaemonSet: AL2023 NVIDIA AMIs ship the
    driver but not the plugin; Bottlerocket NVIDIA ships both; the GPU operator brings its
    own."""
    nvidia = (cfg.addons.nvidia.mode, cfg.addons.nvidia.kind)
    if cfg.cluster.gpu_operator_installed or nvidia != ("install", "device-plugin"):
        return []
    return [p.name for p in cfg.node_pools if not is_bottlerocket(p)]


def _tolerate_all(pools: Iterable[NodePoolConfig]) -> list[K8s]:
    """One `Exists` toleration per distinct taint key and effect of the pools."""
    seen = {(t["key"], t["effect"]) for pool in pools for t in pool_taints(pool)}
    return [{"key": k, "operator": "Exists", "effect": e} for k, e in sorted(seen)]


def device_plugin_daemonset(cfg: PlatformConfig) -> K8s | None:
    """NVIDIA's device plugin, so kubelet advertises `nvidia.com/gpu`; None when no pool
    needs it."""
    pools = device_plugin_pools(cfg)
    if not pools:
        return None
    name = naming.device_plugin_name()
    selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": naming.PART_OF}
    labels = {
        **selector,
        "app.kubernetes.io/component": "device-plugin",
        "app.kubernetes.io/part-of": naming.PART_OF,
        "app.kubernetes.io/managed-by": naming.MANAGED_BY,
    }
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": naming.POOL_LABEL, "operator": "In", "values": pools}
                        ]
                    }
                ]
            }
        }
    }
    container = {
        "name": name,
        "image": DEVICE_PLUGIN_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "200m", "memory": "256Mi"},
        },
        "volumeMounts": [{"name": "device-plugin", "mountPath": DEVICE_PLUGIN_DIR}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": name,
            "namespace": DEVICE_PLUGIN_NAMESPACE,
            "labels": labels,
            "annotations": skip_annotations(
                "CKV_K8S_15", "CKV_K8S_43", "CKV_K8S_23", "CKV_K8S_40", "CKV_K8S_8", "CKV_K8S_9"
            ),
        },
        "spec": {
            "selector": {"matchLabels": selector},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "automountServiceAccountToken": False,
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "affinity": affinity,
                    "tolerations": [
                        *_tolerate_all(cfg.node_pool(p) for p in pools),
                        {"key": "CriticalAddonsOnly", "operator": "Exists"},
                    ],
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "device-plugin",
                            "hostPath": {"path": DEVICE_PLUGIN_DIR, "type": "Directory"},
                        }
                    ],
                },
            },
        },
    }


def device_plugin_network_policy(daemonset: K8s) -> K8s:
    """The plugin talks to kubelet over a unix socket only: no network in or out."""
    meta = daemonset["metadata"]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": dict(meta["labels"]),
        },
        "spec": {
            "podSelector": {"matchLabels": daemonset["spec"]["selector"]["matchLabels"]},
            "policyTypes": ["Ingress", "Egress"],
        },
    }


def device_plugin_objects(cfg: PlatformConfig) -> list[K8s]:
    ds = device_plugin_daemonset(cfg)
    return [ds, device_plugin_network_policy(ds)] if ds else []

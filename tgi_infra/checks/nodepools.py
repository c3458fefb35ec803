"""Node pools against the tiers that run on them: scheduling, labels, packing, disk, Spot.

`check_node_pools` runs every check here. `check_tier_scheduling` compares what a tier's
pods ask for (its Deployment's pod spec when given, else `tier_scheduling`) with what the
pool's nodes carry (`pool_node_labels`, `pool_taints`): a mismatch means pods that stay
Pending forever, on GPUs that are paid for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from tgi_infra import naming
from tgi_infra.checks.cost import max_nodes, nodes_needed, replica_gpus
from tgi_infra.checks.pools import PoolHardware
from tgi_infra.config.models import NodePoolConfig, PlatformConfig, TierConfig
from tgi_infra.engines import engine_of
from tgi_infra.manifests.nodepools import (
    KARPENTER_CAPACITY_TYPES,
    is_bottlerocket,
    pool_node_labels,
    pool_taints,
    tier_scheduling,
)
from tgi_infra.problems import Problem, bounded_join

GIB = 2**30
TGI_IMAGE_GIB = 12
"""An engine image extracted on a node (CUDA, PyTorch, kernels): about 12 GiB (TGI's; vLLM's
and SGLang's are of the same order)."""
NODE_SYSTEM_GIB = 20
"""OS, kubelet, logs, daemonset images and eviction headroom on the same volume."""
ANY = None
"""A node label whose value we cannot know at preview (zone, hostname, node group name)."""
RESERVED_LABELS = (naming.POOL_LABEL, naming.GPU_LABEL)
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_LABEL_NAME = re.compile(rf"^{_NAME}$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# kubelet may only set kubernetes.io / k8s.io labels under these prefixes (NodeRestriction).
_KUBELET_PREFIXES = ("kubelet.kubernetes.io", "node.kubernetes.io")

PodSpec = Mapping[str, Any]
NodeLabels = dict[str, set[str] | None]


def check_node_pools(
    cfg: PlatformConfig,
    pools: Mapping[str, PoolHardware],
    pod_specs: Mapping[str, Mapping[str, Any]] | None = None,
    weights_bytes: Mapping[str, int] | None = None,
) -> list[Problem]:
    """Every check of this module. See the functions for the arguments."""
    return [
        *check_pool_labels(cfg),
        *check_tier_scheduling(cfg, pod_specs),
        *check_pool_packing(cfg, pools),
        *check_pool_sizes(cfg, pools),
        *check_spot_tiers(cfg),
        *check_pool_disk(cfg, weights_bytes),
        *check_gpu_operator(cfg),
    ]


# --- labels ---------------------------------------------------------------------------


def _label_domain_problem(key: str) -> str | None:
    prefix = key.split("/", 1)[0] if "/" in key else ""
    if prefix == "karpenter.sh" or prefix.endswith(".karpenter.sh"):
        return "the karpenter.sh domain is reserved for Karpenter"
    if prefix == "karpenter.k8s.aws" or prefix.endswith(".karpenter.k8s.aws"):
        return "the karpenter.k8s.aws domain is reserved for Karpenter"
    kube = prefix in ("kubernetes.io", "k8s.io") or prefix.endswith((".kubernetes.io", ".k8s.io"))
    allowed = any(prefix == p or prefix.endswith("." + p) for p in _KUBELET_PREFIXES)
    if kube and not allowed:
        return (
            "kubelet refuses kubernetes.io and k8s.io labels outside "
            f"{' and '.join(_KUBELET_PREFIXES)} (the node would not register)"
        )
    return None


def _label_syntax_problem(key: str, value: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"key prefix {prefix!r} is not a DNS subdomain"
    if len(name) > 63 or not _LABEL_NAME.match(name):
        return f"key name {name!r} is not a label name (≤ 63 of [A-Za-z0-9-_.], alphanumeric ends)"
    if value and (len(value) > 63 or not _LABEL_NAME.match(value)):
        return f"value {value!r} is not a label value (≤ 63 of [A-Za-z0-9-_.], alphanumeric ends)"
    return None


def check_pool_labels(cfg: PlatformConfig) -> list[Problem]:
    """A pool's own `labels`: valid, not in a reserved domain, not overriding ours."""
    problems: list[Problem] = []
    for pool in cfg.node_pools:
        path = f"nodePools[{pool.name}].labels"
        ours = pool_node_labels(pool)
        for key, value in pool.labels.items():
            where = f"{path}[{key}]"
            if key in RESERVED_LABELS:
                if value != ours.get(key, value):
                    problems.append(
                        Problem(
                            where,
                            f"{value!r} overrides tgi-infra's label; the nodes carry "
                            f"{key}={ours[key]} and the tiers select on it.",
                            f"drop {key} from the pool's labels.",
                            "pool-labels-reserved",
                        )
                    )
                continue
            syntax = _label_syntax_problem(key, value)
            if syntax:
                problems.append(
                    Problem(
                        where, f"{syntax}.", "use a valid Kubernetes label.", "pool-labels-syntax"
                    )
                )
                continue
            domain = _label_domain_problem(key)
            if domain:
                problems.append(
                    Problem(
                        where,
                        f"{domain}.",
                        "use a label under your own domain (e.g. example.com/team).",
                        "pool-labels-restricted",
                    )
                )
    return problems


# --- scheduling -----------------------------------------------------------------------


def node_labels(pool: NodePoolConfig) -> NodeLabels:
    """Every label a node of the pool carries: ours, the pool's, and the well-known ones
    kubelet, EKS and Karpenter add (ANY where the value is only known at run time)."""
    out: NodeLabels = {k: {v} for k, v in pool_node_labels(pool).items()}
    out.update(
        {
            "kubernetes.io/arch": {"amd64"},
            "kubernetes.io/os": {"linux"},
            "kubernetes.io/hostname": ANY,
            "node.kubernetes.io/instance-type": set(pool.instance_types),
            "topology.kubernetes.io/region": ANY,
            "topology.kubernetes.io/zone": ANY,
        }
    )
    if pool.provisioner == "karpenter":
        out["karpenter.sh/capacity-type"] = {KARPENTER_CAPACITY_TYPES[pool.capacity_type]}
        out["karpenter.sh/nodepool"] = {naming.karpenter_pool_name(pool.name)}
        out["karpenter.k8s.aws/instance-gpu-name"] = ANY
        out["karpenter.k8s.aws/instance-family"] = {t.split(".")[0] for t in pool.instance_types}
    else:
        out["eks.amazonaws.com/capacityType"] = {pool.capacity_type}
        out["eks.amazonaws.com/nodegroup"] = ANY
    return out


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Kubernetes' rule: effect (if set) equal; empty key with Exists tolerates all; else
    same key and Exists, or Equal with the same value."""
    if toleration.get("effect") and toleration["effect"] != taint["effect"]:
        return False
    operator = toleration.get("operator", "Equal")
    if not toleration.get("key"):
        return operator == "Exists"
    if toleration["key"] != taint["key"]:
        return False
    return operator == "Exists" or toleration.get("value", "") == taint.get("value", "")


def _expression_holds(expr: Mapping[str, Any], labels: NodeLabels) -> bool:
    key, op = expr["key"], expr["operator"]
    values = set(expr.get("values") or [])
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if key not in labels:
        return op == "NotIn"
    have = labels[key]
    if have is ANY:
        return True
    if op == "In":
        return bool(have & values)
    if op == "NotIn":
        return not have <= values
    return True  # Gt / Lt on labels we model as exact sets: not decidable here


def pod_spec_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod spec of a Deployment (or a pod spec itself)."""
    if obj.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return obj["spec"]["template"]["spec"]
    return obj


def pod_gpus(spec: Mapping[str, Any]) -> int:
    total = 0
    for container in spec.get("containers", []):
        resources = container.get("resources") or {}
        amount = (resources.get("limits") or {}).get(naming.GPU_RESOURCE) or (
            resources.get("requests") or {}
        ).get(naming.GPU_RESOURCE)
        total += int(amount or 0)
    return total


def check_tier_scheduling(
    cfg: PlatformConfig, pod_specs: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Problem]:
    """Each tier's pods can land on its pool's nodes, and get the GPUs they shard over.

    `pod_specs` maps tier names to the rendered Deployment (or its pod spec); tiers
    without one are checked with what `tier_scheduling` gives them.
    """
    problems: list[Problem] = []
    pools = {p.name: p for p in cfg.node_pools}
    for tier in cfg.tiers:
        pool = pools.get(tier.node_pool)
        if pool is None:
            continue  # references reports it
        rendered = (pod_specs or {}).get(tier.name)
        if rendered is not None:
            spec = pod_spec_of(rendered)
            selector = dict(spec.get("nodeSelector") or {})
            tolerations = list(spec.get("tolerations") or [])
        else:
            spec = {}
            selector, tolerations = tier_scheduling(pool)
        problems += _selector_problems(tier, pool, selector, spec)
        problems += _taint_problems(tier, pool, tolerations)
        if rendered is not None:
            gpus = pod_gpus(spec)
            if gpus != tier.num_shard:
                problems.append(
                    Problem(
                        f"tiers[{tier.name}].numShard",
                        f"{engine_of(tier).display_name} starts {tier.num_shard} shard(s), "
                        f"one per GPU, but the pod requests {gpus} {naming.GPU_RESOURCE}; the "
                        "server would fail or leave GPUs idle.",
                        f"request {naming.GPU_RESOURCE}: {tier.num_shard} in the server container.",
                        "tier-gpus-match-shards",
                    )
                )
    return problems


def _selector_problems(
    tier: TierConfig, pool: NodePoolConfig, selector: Mapping[str, str], spec: Mapping[str, Any]
) -> list[Problem]:
    labels = node_labels(pool)
    problems: list[Problem] = []
    for key, value in selector.items():
        have = labels.get(key, set())
        if have is ANY or value in have:
            continue
        carried = (
            f"{key}={sorted(have)[0]}"
            if len(have) == 1
            else (f"{key} in {sorted(have)}" if have else f"no {key} label")
        )
        problems.append(
            Problem(
                f"tiers[{tier.name}]",
                f"the pods select {key}={value}, but the nodes of pool {pool.name!r} carry "
                f"{carried}; the pods would stay Pending.",
                f"select {naming.POOL_LABEL}={pool.name} (tier_scheduling), or add the label to "
                f"nodePools[{pool.name}].labels.",
                "tier-selector-matches-pool",
            )
        )
    affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    if terms and not any(
        all(_expression_holds(e, labels) for e in t.get("matchExpressions") or []) for t in terms
    ):
        problems.append(
            Problem(
                f"tiers[{tier.name}]",
                f"no term of the pods' required node affinity matches the nodes of pool "
                f"{pool.name!r}; the pods would stay Pending.",
                "relax the affinity, or point the tier at a pool whose nodes match.",
                "tier-selector-matches-pool",
            )
        )
    return problems


def _taint_problems(
    tier: TierConfig, pool: NodePoolConfig, tolerations: Iterable[Mapping[str, Any]]
) -> list[Problem]:
    tolerations = list(tolerations)
    problems: list[Problem] = []
    for taint in pool_taints(pool):
        if taint["effect"] == "PreferNoSchedule" or any(tolerates(t, taint) for t in tolerations):
            continue
        shown = f"{taint['key']}={taint.get('value', '')}:{taint['effect']}"
        problems.append(
            Problem(
                f"tiers[{tier.name}]",
                f"the nodes of pool {pool.name!r} carry the taint {shown}, which the pods do not "
                f"tolerate (they tolerate {[_show(t) for t in tolerations] or 'nothing'}); the "
                "pods would stay Pending.",
                f"add the toleration {{key: {taint['key']}, operator: Exists, effect: "
                f"{taint['effect']}}} (tier_scheduling gives it).",
                "tier-tolerates-pool",
            )
        )
    return problems


def _show(toleration: Mapping[str, Any]) -> str:
    key = toleration.get("key") or "*"
    op = toleration.get("operator", "Equal")
    value = "" if op == "Exists" else f"={toleration.get('value', '')}"
    return f"{key}{value}:{toleration.get('effect') or '*'}"


# --- sizes ----------------------------------------------------------------------------


def check_pool_packing(cfg: PlatformConfig, pools: Mapping[str, PoolHardware]) -> list[Problem]:
    """Replicas cannot span nodes: GPUs left over on each node do not add up.

    (`check_pool_fit` counts GPUs in total; this catches the pools that pass it only on
    paper, e.g. 3-shard replicas on 4-GPU nodes.)
    """
    problems: list[Problem] = []
    for name, hw in pools.items():
        tiers = [t for t in cfg.tiers if t.node_pool == name]
        sizes = replica_gpus(tiers, "max")
        if sum(sizes) > hw.max_gpus:
            continue  # check_pool_fit reports it
        needed = nodes_needed(hw.gpus_per_node, sizes)
        limit = max_nodes(hw)
        if needed is None or needed <= limit:
            continue
        parts = bounded_join(
            f"{t.name} {t.replicas.max}×{t.num_shard} GPU "
            f"({hw.gpus_per_node // t.num_shard} per node)"
            for t in tiers
        )
        problems.append(
            Problem(
                f"nodePools[{name}].maxSize",
                f"tiers at max replicas need {needed} nodes of {hw.gpus_per_node} "
                f"{hw.gpu.name} ({parts}): a replica's shards share one node, so the "
                f"{sum(sizes)} GPUs do not pack into {limit} nodes.",
                f"raise maxSize to {needed}"
                + (
                    f" and gpuLimit to {needed * hw.gpus_per_node}"
                    if hw.pool.provisioner == "karpenter" and hw.pool.gpu_limit
                    else ""
                )
                + ", or use shard counts that divide the node's GPUs.",
                "pool-packing",
            )
        )
    return problems


def check_pool_sizes(cfg: PlatformConfig, pools: Mapping[str, PoolHardware]) -> list[Problem]:
    """Sizes each provisioner actually honours."""
    problems: list[Problem] = []
    for name, hw in pools.items():
        pool, path = hw.pool, f"nodePools[{name}]"
        tiers = [t for t in cfg.tiers if t.node_pool == name]
        at_min = nodes_needed(hw.gpus_per_node, replica_gpus(tiers, "min")) or 0
        per_node = max(t.gpu_count for t in hw.instance_types)
        if pool.provisioner == "karpenter":
            if pool.min_size:
                problems.append(
                    Problem(
                        f"{path}.minSize",
                        f"{pool.min_size} is not enforced: a Karpenter NodePool has no minimum; "
                        f"it keeps the nodes pods need ({at_min} at the tiers' replicas.min).",
                        "set minSize: 0, and keep capacity with the tiers' replicas.min.",
                        "karpenter-min-size",
                        "warning",
                    )
                )
            if pool.gpu_limit is not None and pool.gpu_limit < per_node:
                problems.append(
                    Problem(
                        f"{path}.gpuLimit",
                        f"{pool.gpu_limit} is below the {per_node} GPUs of one "
                        f"{hw.instance_types[0].name}: Karpenter could never launch a node.",
                        f"raise gpuLimit to at least {per_node}.",
                        "karpenter-gpu-limit",
                    )
                )
            continue
        desired = pool.min_size if pool.desired_size is None else pool.desired_size
        if at_min > desired:
            parts = bounded_join(f"{t.name} {t.replicas.min}×{t.num_shard}" for t in tiers)
            problems.append(
                Problem(
                    f"{path}.minSize",
                    f"the node group starts with {desired} node(s), but the tiers at replicas.min "
                    f"need {at_min} ({parts} GPUs on {hw.gpus_per_node}-GPU nodes); pods stay "
                    "Pending until the Cluster Autoscaler (not deployed by tgi-infra) adds nodes.",
                    f"raise minSize to {min(at_min, pool.max_size)}, or run the Cluster "
                    "Autoscaler.",
                    "pool-min-covers-replicas",
                    "warning",
                )
            )
    return problems


def check_spot_tiers(cfg: PlatformConfig) -> list[Problem]:
    """A Spot interruption gives 2 minutes' notice; a model takes longer to come back."""
    problems: list[Problem] = []
    pools = {p.name: p for p in cfg.node_pools}
    for tier in cfg.tiers:
        pool = pools.get(tier.node_pool)
        if pool is None or pool.capacity_type != "SPOT" or tier.replicas.min != 1:
            continue
        problems.append(
            Problem(
                f"tiers[{tier.name}].replicas.min",
                f"1 replica on Spot pool {pool.name!r}: an interruption (2 minutes' notice) takes "
                "the tier down until a new node pulls the image and loads the model.",
                "run replicas.min 2 or more, or use capacityType ON_DEMAND for this pool.",
                "spot-single-replica",
                "warning",
            )
        )
    return problems


def check_pool_disk(
    cfg: PlatformConfig, weights_bytes: Mapping[str, int] | None = None
) -> list[Problem]:
    """The node volume holds the system, each engine image its tiers run (plus room for the
    next during an upgrade), and any weights cached on the node itself.

    `weights_bytes` maps tier names to checkpoint bytes kept on the node's volume (a
    node-local cache); leave it out when the weight caches are PersistentVolumeClaims.
    """
    problems: list[Problem] = []
    for pool in cfg.node_pools:
        tiers = [t for t in cfg.tiers if t.node_pool == pool.name]
        if not tiers:
            continue
        versions = sorted({engine_of(t).image(t) for t in tiers})
        images = TGI_IMAGE_GIB * (len(versions) + 1)
        weights = sum((weights_bytes or {}).get(t.name, 0) for t in tiers) / GIB
        need = NODE_SYSTEM_GIB + images + weights
        if pool.disk_size_gib >= need:
            continue
        volume = "data volume (/dev/xvdb)" if is_bottlerocket(pool) else "root volume"
        parts = (
            f"{NODE_SYSTEM_GIB} GiB system + {images} GiB for image(s) {', '.join(versions)} "
            "and one upgrade"
        )
        if weights:
            parts += f" + {weights:.0f} GiB of weights cached on the node"
        problems.append(
            Problem(
                f"nodePools[{pool.name}].diskSizeGib",
                f"{pool.disk_size_gib} GiB {volume} is below the {need:.0f} GiB its tiers need "
                f"({parts}); kubelet would evict pods under disk pressure.",
                f"raise diskSizeGib to at least {int(-(-need // 1))}.",
                "pool-disk-size",
            )
        )
    return problems


def check_gpu_operator(cfg: PlatformConfig) -> list[Problem]:
    """Bottlerocket NVIDIA AMIs ship the driver and device plugin; the GPU operator does
    not support Bottlerocket and must leave those nodes alone."""
    if not cfg.cluster.gpu_operator_installed:
        return []
    return [
        Problem(
            f"nodePools[{pool.name}].amiType",
            f"{pool.ami_type} nodes bring their own NVIDIA driver and device plugin, and the "
            "NVIDIA GPU operator (cluster.gpuOperatorInstalled) does not support Bottlerocket.",
            "keep the operator's driver, toolkit and device plugin off these nodes, or use "
            "AL2023_x86_64_NVIDIA.",
            "gpu-operator-bottlerocket",
            "warning",
        )
        for pool in cfg.node_pools
        if is_bottlerocket(pool)
    ]

"""Node pools against the tiers that run on them: GPU model, shard fit, total GPUs."""

from __future__ import annotations

from dataclasses import dataclass

from tgi_infra.capacity.catalog import Gpu, InstanceType, UnknownHardwareError, instance_type
from tgi_infra.capacity.node_fit import (
    allocatable,
    cpu_millis,
    default_requests,
    memory_bytes,
    replicas_per_node,
)
from tgi_infra.config.models import NodePoolConfig, PlatformConfig
from tgi_infra.problems import Problem, bounded_join


@dataclass(frozen=True)
class PoolHardware:
    """What a pool's nodes carry: one GPU model, the fewest GPUs any of its types has."""

    pool: NodePoolConfig
    instance_types: tuple[InstanceType, ...]

    @property
    def gpu(self) -> Gpu:
        return self.instance_types[0].gpu

    @property
    def gpus_per_node(self) -> int:
        return min(t.gpu_count for t in self.instance_types)

    @property
    def max_gpus(self) -> int:
        by_size = self.pool.max_size * max(t.gpu_count for t in self.instance_types)
        if self.pool.provisioner == "karpenter" and self.pool.gpu_limit is not None:
            return min(by_size, self.pool.gpu_limit)
        return by_size

    def hourly_usd(self, nodes: int) -> float:
        return nodes * self.instance_types[0].hourly_usd


def pool_hardware(pool: NodePoolConfig) -> PoolHardware | None:
    """The pool's hardware, or None when an instance type is unknown (`resolve_pools`
    reports which)."""
    try:
        return PoolHardware(pool, tuple(instance_type(t) for t in pool.instance_types))
    except UnknownHardwareError:
        return None


def resolve_pools(cfg: PlatformConfig) -> tuple[dict[str, PoolHardware], list[Problem]]:
    pools: dict[str, PoolHardware] = {}
    problems: list[Problem] = []
    for pool in cfg.node_pools:
        types: list[InstanceType] = []
        for i, name in enumerate(pool.instance_types):
            try:
                types.append(instance_type(name))
            except UnknownHardwareError as exc:
                problems.append(
                    Problem(
                        f"nodePools[{pool.name}].instanceTypes[{i}]",
                        str(exc),
                        "use a GPU instance type from the catalog (tgi-infra catalog).",
                        "instance-type-known",
                    )
                )
        gpus = sorted({t.gpu.name for t in types})
        if len(gpus) > 1:
            problems.append(
                Problem(
                    f"nodePools[{pool.name}].instanceTypes",
                    f"mixes GPU models {gpus}; a tier's memory plan needs one GPU model per pool.",
                    "split the pool by GPU model.",
                    "pool-single-gpu-model",
                )
            )
        elif types:
            pools[pool.name] = PoolHardware(pool, tuple(types))
    return pools, problems


def check_pool_fit(cfg: PlatformConfig, pools: dict[str, PoolHardware]) -> list[Problem]:
    """Every tier at max replicas must fit its pool's GPUs at max size."""
    problems: list[Problem] = []
    for name, hw in pools.items():
        tiers = [t for t in cfg.tiers if t.node_pool == name]
        demand = sum(t.replicas.max * t.num_shard for t in tiers)
        if demand > hw.max_gpus:
            parts = bounded_join((f"{t.name} {t.replicas.max}×{t.num_shard}" for t in tiers), " + ")
            per_node = max(t.gpu_count for t in hw.instance_types)
            nodes = -(-demand // per_node)
            problems.append(
                Problem(
                    f"nodePools[{name}].maxSize",
                    f"tiers at max replicas need {demand} GPUs ({parts}), but the pool offers "
                    f"{hw.max_gpus} ({hw.pool.max_size} nodes × {per_node} {hw.gpu.name}"
                    + (f", gpuLimit {hw.pool.gpu_limit}" if hw.pool.gpu_limit else "")
                    + ").",
                    _capacity_fix(hw, nodes, demand),
                    "pool-capacity",
                )
            )
        min_demand = sum(t.replicas.min * t.num_shard for t in tiers)
        if min_demand and hw.pool.max_size * hw.gpus_per_node < min_demand:
            problems.append(
                Problem(
                    f"nodePools[{name}]",
                    f"tiers at min replicas already need {min_demand} GPUs.",
                    "raise maxSize.",
                    "pool-capacity",
                )
            )
        if not tiers:
            problems.append(
                Problem(
                    f"nodePools[{name}]",
                    "no tier runs on this pool; its minSize nodes idle.",
                    "remove the pool or point a tier at it.",
                    "pool-unused",
                    "warning",
                )
            )
    return problems


def _capacity_fix(hw: PoolHardware, nodes: int, gpus: int) -> str:
    """Raise only what binds: maxSize, the Karpenter GPU limit, or both."""
    raises = []
    if nodes > hw.pool.max_size:
        raises.append(f"maxSize to {nodes}")
    limit = hw.pool.gpu_limit
    if hw.pool.provisioner == "karpenter" and limit is not None and limit < gpus:
        raises.append(f"gpuLimit to {gpus}")
    return f"raise {' and '.join(raises)}, or lower the tiers' replicas.max."


def check_tier_requests(cfg: PlatformConfig, pools: dict[str, PoolHardware]) -> list[Problem]:
    """Explicit CPU/memory requests of the replicas one node holds must fit its allocatable
    share (after the kubelet's reservation and the DaemonSets): else pods stay Pending."""
    problems: list[Problem] = []
    for tier in cfg.tiers:
        hw = pools.get(tier.node_pool)
        if hw is None or not (tier.cpu_request or tier.memory_request):
            continue
        smallest = min(hw.instance_types, key=lambda t: t.vcpus)
        cpu_free, memory_free = allocatable(smallest)
        per_node = replicas_per_node(smallest, tier.num_shard)
        cpu_fit, memory_fit = default_requests(smallest, tier.num_shard)
        asks = (
            ("cpuRequest", tier.cpu_request, cpu_millis, cpu_free, f"{cpu_free}m", cpu_fit),
            (
                "memoryRequest",
                tier.memory_request,
                memory_bytes,
                memory_free,
                f"{memory_free / 2**30:.1f}Gi",
                memory_fit,
            ),
        )
        for key, value, parse, free, shown, fit in asks:
            if value and parse(value) * per_node > free:
                problems.append(
                    Problem(
                        f"tiers[{tier.name}].{key}",
                        f"{value} × {per_node} replica(s) per {smallest.name} node exceeds what "
                        f"the node can give pods ({shown}): the pods would stay Pending.",
                        f"lower it to at most {fit} (or leave it unset), or use a larger instance.",
                        "requests-fit-node",
                    )
                )
    return problems

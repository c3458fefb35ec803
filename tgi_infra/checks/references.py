"""Names and cross-references: unique names, tiers on pools that exist, tenants on tiers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tgi_infra.config.models import PlatformConfig
from tgi_infra.problems import Problem


def check_references(cfg: PlatformConfig) -> list[Problem]:
    problems: list[Problem] = []
    problems += _unique("nodePools", (p.name for p in cfg.node_pools))
    problems += _unique("tiers", (t.name for t in cfg.tiers))
    problems += _unique("tenants", (t.name for t in cfg.tenants))
    served = Counter(t.model_name for t in cfg.tiers)
    for tier in cfg.tiers:
        if served[tier.model_name] > 1:
            problems.append(
                Problem(
                    f"tiers[{tier.name}].servedModelName",
                    f"{tier.model_name!r} is served by {served[tier.model_name]} tiers; the "
                    "gateway routes by model name, so each must be unique.",
                    "give each tier its own servedModelName.",
                    "unique-model-name",
                )
            )
    pools = {p.name for p in cfg.node_pools}
    tiers = {t.name for t in cfg.tiers}
    for tier in cfg.tiers:
        if tier.node_pool not in pools:
            problems.append(
                Problem(
                    f"tiers[{tier.name}].nodePool",
                    f"{tier.node_pool!r} is not a node pool.",
                    f"use one of {sorted(pools)} or add the pool to nodePools.",
                    "pool-exists",
                )
            )
        if tier.replicas.min > tier.replicas.max:
            problems.append(
                Problem(
                    f"tiers[{tier.name}].replicas",
                    f"min {tier.replicas.min} is above max {tier.replicas.max}.",
                    f"raise max to at least {tier.replicas.min}.",
                    "replicas-order",
                )
            )
    lists = [(f"tenants[{t.name}].tiers", t.tiers) for t in cfg.tenants]
    for pool in cfg.node_pools:
        lists += [
            (f"nodePools[{pool.name}].instanceTypes", pool.instance_types),
            (f"nodePools[{pool.name}].subnetIds", pool.subnet_ids),
        ]
    for path, items in lists:
        twice = sorted(item for item, n in Counter(items).items() if n > 1)
        if twice:
            problems.append(
                Problem(
                    path,
                    f"lists {', '.join(repr(i[:60]) for i in twice[:5])}"
                    f"{' ...' if len(twice) > 5 else ''} more than once.",
                    "list each entry once.",
                    "unique-items",
                )
            )
    for tenant in cfg.tenants:
        for name in tenant.tiers:
            if name not in tiers:
                problems.append(
                    Problem(
                        f"tenants[{tenant.name}].tiers",
                        f"{name!r} is not a tier.",
                        f"use one of {sorted(tiers)}.",
                        "tenant-tier-exists",
                    )
                )
    for pool in cfg.node_pools:
        path = f"nodePools[{pool.name}]"
        if pool.min_size > pool.max_size:
            problems.append(
                Problem(
                    f"{path}.minSize",
                    f"{pool.min_size} is above maxSize {pool.max_size}.",
                    f"lower minSize to at most {pool.max_size}.",
                    "pool-size-order",
                )
            )
        if (
            pool.desired_size is not None
            and not pool.min_size <= pool.desired_size <= pool.max_size
        ):
            problems.append(
                Problem(
                    f"{path}.desiredSize",
                    f"{pool.desired_size} is outside [{pool.min_size}, {pool.max_size}].",
                    "set it between minSize and maxSize, or drop it.",
                    "pool-size-order",
                )
            )
        if pool.provisioner == "karpenter" and (pool.desired_size is not None or pool.subnet_ids):
            problems.append(
                Problem(
                    path,
                    "desiredSize and subnetIds apply to managed node groups only.",
                    "drop them, or use provisioner: managed.",
                    "pool-provisioner-options",
                )
            )
        if pool.provisioner == "managed" and pool.gpu_limit is not None:
            problems.append(
                Problem(
                    f"{path}.gpuLimit",
                    "gpuLimit applies to Karpenter pools only; managed "
                    "groups are bounded by maxSize.",
                    "drop gpuLimit.",
                    "pool-provisioner-options",
                )
            )
    return problems


def _unique(kind: str, names: Iterable[str]) -> list[Problem]:
    counts = Counter(names)
    return [
        Problem(
            f"{kind}[{name}]",
            f"the name {name!r} is used {n} times.",
            "give each entry its own name.",
            "unique-names",
        )
        for name, n in counts.items()
        if n > 1
    ]

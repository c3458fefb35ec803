"""What node pools and tiers cost, and how many nodes their replicas need.

Prices are the catalog's dated On-Demand list prices (`catalog.PRICES_READ`, region
`catalog.PRICES_REGION`): a planning figure, not a bill. EBS, EKS, data transfer and Spot
discounts are not in it. A month is 730 hours, as AWS's calculator counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from tgi_infra.capacity.catalog import PRICES_READ, PRICES_REGION, InstanceType
from tgi_infra.checks.pools import PoolHardware
from tgi_infra.config.models import TierConfig

HOURS_PER_MONTH = 730
Bound = Literal["min", "max"]


def nodes_needed(gpus_per_node: int, replica_gpus: Iterable[int]) -> int | None:
    """Nodes that hold replicas of the given GPU counts, each replica on one node
    (first-fit decreasing); None when a replica needs more GPUs than a node has."""
    free: list[int] = []
    for size in sorted(replica_gpus, reverse=True):
        if size > gpus_per_node:
            return None
        for i, room in enumerate(free):
            if room >= size:
                free[i] -= size
                break
        else:
            free.append(gpus_per_node - size)
    return len(free)


def replica_gpus(tiers: Iterable[TierConfig], bound: Bound) -> list[int]:
    """One entry (its shard count) per replica of the tiers at min or max replicas."""
    out: list[int] = []
    for tier in tiers:
        count = tier.replicas.min if bound == "min" else tier.replicas.max
        out += [tier.num_shard] * count
    return out


def priced_type(hw: PoolHardware) -> InstanceType:
    """The instance type a pool buys: a managed group launches its first type; Karpenter
    the cheapest that fits."""
    if hw.pool.provisioner == "karpenter":
        return min(hw.instance_types, key=lambda t: t.hourly_usd)
    return hw.instance_types[0]


def max_nodes(hw: PoolHardware) -> int:
    """maxSize, or fewer when a Karpenter gpuLimit stops launches earlier."""
    per_node = max(t.gpu_count for t in hw.instance_types)
    return min(hw.pool.max_size, hw.max_gpus // per_node)


def min_nodes(hw: PoolHardware, tiers: Sequence[TierConfig]) -> int:
    """Nodes that run at the tiers' replicas.min: a managed group never goes below
    minSize; Karpenter has no minimum and keeps only the nodes pods need."""
    needed = nodes_needed(hw.gpus_per_node, replica_gpus(tiers, "min")) or 0
    floor = 0 if hw.pool.provisioner == "karpenter" else hw.pool.min_size
    return min(max(floor, needed), max_nodes(hw))


class _CostRange:
    """$/hour and $/month at the low and the high count of priced units (nodes, replicas)."""

    @property
    def _range(self) -> tuple[float, int, int]:  # (price per unit-hour, low, high)
        raise NotImplementedError

    @property
    def hourly_min(self) -> float:
        price, low, _ = self._range
        return low * price

    @property
    def hourly_max(self) -> float:
        price, _, high = self._range
        return high * price

    @property
    def monthly_min(self) -> float:
        return self.hourly_min * HOURS_PER_MONTH

    @property
    def monthly_max(self) -> float:
        return self.hourly_max * HOURS_PER_MONTH


@dataclass(frozen=True)
class PoolCost(_CostRange):
    pool: str
    instance_type: str
    hourly_per_node: float
    nodes_min: int
    nodes_max: int
    spot: bool = False
    price_estimated: bool = False

    @property
    def _range(self) -> tuple[float, int, int]:
        return self.hourly_per_node, self.nodes_min, self.nodes_max


def pool_cost(hw: PoolHardware, tiers: Sequence[TierConfig] = ()) -> PoolCost:
    """The pool at its smallest (tiers at replicas.min) and largest (maxSize) size."""
    priced = priced_type(hw)
    return PoolCost(
        pool=hw.pool.name,
        instance_type=priced.name,
        hourly_per_node=priced.hourly_usd,
        nodes_min=min_nodes(hw, tiers),
        nodes_max=max_nodes(hw),
        spot=hw.pool.capacity_type == "SPOT",
        price_estimated=priced.price_estimated,
    )


@dataclass(frozen=True)
class TierCost(_CostRange):
    """A tier's share of its pool: each replica pays for the node fraction it occupies."""

    tier: str
    hourly_per_replica: float
    replicas_min: int
    replicas_max: int

    @property
    def _range(self) -> tuple[float, int, int]:
        return self.hourly_per_replica, self.replicas_min, self.replicas_max


def tier_cost(tier: TierConfig, hw: PoolHardware) -> TierCost:
    """Replicas per node = GPUs per node // shards (leftover GPUs are paid for, unused)."""
    per_node = max(1, hw.gpus_per_node // tier.num_shard)
    return TierCost(
        tier=tier.name,
        hourly_per_replica=priced_type(hw).hourly_usd / per_node,
        replicas_min=tier.replicas.min,
        replicas_max=tier.replicas.max,
    )


def price_note() -> str:
    return (
        f"On-Demand list prices, {PRICES_REGION}, read {PRICES_READ.isoformat()}; "
        "EBS, EKS and data transfer excluded"
    )


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value < 100 else f"${value:,.0f}"


def format_pool_cost(cost: PoolCost) -> str:
    """`l40s: 2–8 × g6e.xlarge, $3.72–$14.89/h, $2,717–$10,868/month`"""
    text = (
        f"{cost.pool}: {cost.nodes_min}–{cost.nodes_max} × {cost.instance_type}, "
        f"{_usd(cost.hourly_min)}–{_usd(cost.hourly_max)}/h, "
        f"{_usd(cost.monthly_min)}–{_usd(cost.monthly_max)}/month"
    )
    if cost.price_estimated:
        text += " (price estimated)"
    if cost.spot:
        text += " (Spot: usually well below this On-Demand figure)"
    return text


def format_tier_cost(cost: TierCost) -> str:
    return (
        f"{cost.tier}: {cost.replicas_min}–{cost.replicas_max} replicas × "
        f"{_usd(cost.hourly_per_replica)}/h, "
        f"{_usd(cost.monthly_min)}–{_usd(cost.monthly_max)}/month"
    )

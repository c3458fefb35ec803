"""What the day-0 parts cost beside the GPU pools: the EKS control plane, the NAT gateway
and system nodes of a created cluster, the EFS cache. Dated list prices, us-east-1.

A planning figure, not a bill: data processed by the NAT gateway and EFS reads/writes are
per GB and shown as unit prices, not guessed volumes.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

from tgi_infra.checks.cost import HOURS_PER_MONTH
from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests.cache import cache_size_gib

PRICES_READ = dt.date(2026, 12, 2)
# us-east-1 list prices. Sources (read on PRICES_READ): EKS standard support $0.10 per
# cluster-hour (aws.amazon.com/blogs/containers/amazon-eks-extended-support-for-kubernetes-
# versions-pricing); NAT gateway $0.045/hour and $0.045/GB processed (VPC pricing, as quoted
# by basavytix.com/blog/aws-nat-gateway-pricing, 2026); EFS Standard $0.30/GB-month
# (aws.amazon.com/efs/pricing) and Elastic Throughput $0.03/GB read, $0.06/GB written
# (factualminds.com EFS pricing, June 2026).
EKS_CONTROL_PLANE_HOURLY = 0.10
NAT_GATEWAY_HOURLY = 0.045
NAT_GATEWAY_PER_GB = 0.045
EFS_STANDARD_GB_MONTH = 0.30
EFS_ELASTIC_READ_PER_GB = 0.03
# Not read from a published list here: the m7i.large On-Demand figure AWS has listed for
# us-east-1 since its launch. Other system instance types are unpriced.
SYSTEM_NODE_HOURLY = {"m7i.large": 0.1008}
GIB_PER_GB = 1.073741824


@dataclass(frozen=True)
class AddonCost:
    item: str
    monthly_min: float
    monthly_max: float
    note: str = ""


def cache_gib(cfg: PlatformConfig, weight_bytes: Mapping[str, int]) -> int:
    """GiB the EFS cache holds: each tier's cache volume, or the one shared volume."""
    if cfg.cache.mode == "shared":
        return cache_size_gib(sum(weight_bytes.values()), cfg.cache)
    return sum(
        cache_size_gib(weight_bytes.get(t.name, 0), cfg.cache, t.cache_size_gib) for t in cfg.tiers
    )


def addon_costs(cfg: PlatformConfig, weight_bytes: Mapping[str, int]) -> list[AddonCost]:
    """Monthly cost lines of the cluster and add-ons the stack creates."""
    out: list[AddonCost] = []
    if cfg.cluster.create:
        settings = cfg.cluster.settings
        eks = EKS_CONTROL_PLANE_HOURLY * HOURS_PER_MONTH
        out.append(AddonCost("EKS control plane", eks, eks, "standard support"))
        if not settings.subnet_ids:
            nat = NAT_GATEWAY_HOURLY * HOURS_PER_MONTH
            out.append(
                AddonCost("NAT gateway (1)", nat, nat, f"+ ${NAT_GATEWAY_PER_GB}/GB processed")
            )
        nodes = settings.system_nodes
        hourly = SYSTEM_NODE_HOURLY.get(nodes.instance_type)
        if hourly is not None:
            out.append(
                AddonCost(
                    f"system nodes {nodes.instance_type}",
                    hourly * HOURS_PER_MONTH * nodes.min_size,
                    hourly * HOURS_PER_MONTH * max(nodes.max_size, nodes.min_size),
                    f"{nodes.min_size}–{nodes.max_size} nodes, price estimated",
                )
            )
        else:
            out.append(AddonCost(f"system nodes {nodes.instance_type}", 0, 0, "unpriced"))
    if cfg.addons.efs.mode == "install":
        gib = cache_gib(cfg, weight_bytes)
        storage = gib * GIB_PER_GB * EFS_STANDARD_GB_MONTH
        reads = sum(weight_bytes.get(t.name, 0) * t.replicas.max for t in cfg.tiers)
        per_fill = math.ceil(reads / 1e9) * EFS_ELASTIC_READ_PER_GB
        out.append(
            AddonCost(
                f"EFS cache ({gib:,} GiB)",
                storage,
                storage,
                f"+ ${per_fill:,.2f} per cold start of every replica (elastic reads)",
            )
        )
    return out


def price_note() -> str:
    return f"add-on list prices, us-east-1, read {PRICES_READ.isoformat()}"

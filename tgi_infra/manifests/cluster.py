"""Pure decisions for `cluster.create: true`: subnet layout of the VPC, tags, the system
node group, the cluster's IAM policies. Plain values; `components/cluster.py` registers them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests.addons_aws import service_trust_policy

EKS_TRUST_POLICY = service_trust_policy("eks.amazonaws.com")
CLUSTER_POLICIES = {"cluster": "AmazonEKSClusterPolicy"}
ADMIN_POLICY_ARN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
SYSTEM_LABEL = {"tgi-infra/pool": "system"}


@dataclass(frozen=True)
class SubnetPlan:
    zone_index: int
    cidr: str
    public: bool


def subnet_plan(vpc_cidr: str, zones: int) -> list[SubnetPlan]:
    """One public and one private subnet per zone: the VPC split into 2×zones equal
    blocks (rounded up to a power of two); private subnets get the upper half."""
    net = ipaddress.ip_network(vpc_cidr)
    bits = max(1, (2 * zones - 1).bit_length())
    blocks = list(net.subnets(prefixlen_diff=bits))
    half = len(blocks) // 2
    out = [SubnetPlan(i, str(blocks[i]), True) for i in range(zones)]
    out += [SubnetPlan(i, str(blocks[half + i]), False) for i in range(zones)]
    return out


def subnet_tags(cfg: PlatformConfig, public: bool) -> dict[str, str]:
    """Load balancer role tags for the AWS LB controller / in-tree service controller, and
    Karpenter's discovery tag on the private subnets."""
    name = cfg.cluster.name
    tags = {f"kubernetes.io/cluster/{name}": "shared"}
    if public:
        tags["kubernetes.io/role/elb"] = "1"
    else:
        tags["kubernetes.io/role/internal-elb"] = "1"
        tags["karpenter.sh/discovery"] = name
    return tags


def system_node_group_args(cfg: PlatformConfig) -> dict[str, Any]:
    """Managed node group for the controllers: On-Demand, untainted, labelled."""
    nodes = cfg.cluster.settings.system_nodes
    return {
        "cluster_name": cfg.cluster.name,
        "node_group_name": f"{cfg.cluster.name}-system"[:63],
        "instance_types": [nodes.instance_type],
        "capacity_type": "ON_DEMAND",
        "ami_type": "AL2023_x86_64_STANDARD",
        "disk_size": nodes.disk_size_gib,
        "scaling_config": {
            "min_size": nodes.min_size,
            "max_size": max(nodes.max_size, nodes.min_size),
            "desired_size": nodes.min_size,
        },
        "labels": dict(SYSTEM_LABEL),
        "tags": {"tgi-infra/cluster": cfg.cluster.name},
    }


def cluster_args(cfg: PlatformConfig) -> dict[str, Any]:
    """aws.eks.Cluster arguments besides role and subnets: access entries (API mode),
    the creator as admin, private and public endpoint."""
    return {
        "name": cfg.cluster.name,
        "version": cfg.cluster.settings.kubernetes_version,
        "access_config": {
            "authentication_mode": "API",
            "bootstrap_cluster_creator_admin_permissions": True,
        },
        "tags": {"tgi-infra/cluster": cfg.cluster.name},
    }

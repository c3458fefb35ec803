"""`GpuNodePool`: one GPU node pool on an existing EKS cluster, and the NVIDIA device plugin.

Managed pools are an EKS managed node group with its own launch template and node role;
Karpenter pools are a node role plus the NodePool and EC2NodeClass from
`manifests.nodepools`. Every decision is in that builder; this module registers it.
Providers come from `opts` (`providers=[aws_provider, k8s_provider]`) and reach every
child through its parent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from tgi_infra import naming
from tgi_infra.checks.cost import PoolCost, pool_cost
from tgi_infra.checks.pools import pool_hardware
from tgi_infra.components.kube import register_objects
from tgi_infra.config.models import NodePoolConfig, PlatformConfig
from tgi_infra.manifests.nodepools import (
    device_plugin_objects,
    karpenter_objects,
    managed_node_group_args,
)

NODE_POLICIES = {
    "worker": "AmazonEKSWorkerNodePolicy",
    "cni": "AmazonEKS_CNI_Policy",
    "ecr": "AmazonEC2ContainerRegistryReadOnly",
}
EC2_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def aws_partition(region: str) -> str:
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"


def managed_policy_arn(region: str, policy: str) -> str:
    return f"arn:{aws_partition(region)}:iam::aws:policy/{policy}"


class GpuNodePool(pulumi.ComponentResource):
    """A pool of GPU nodes that carry `tgi-infra/pool=<pool>` and the GPU taint.

    Outputs: `node_role_arn`, `node_role_name`, `node_group_arn` (managed) or
    `karpenter_node_pool` (karpenter), and `cost` (plain numbers from the catalog).
    """

    node_role_arn: pulumi.Output[str]
    node_role_name: pulumi.Output[str]
    node_group_arn: pulumi.Output[str] | None
    karpenter_node_pool: str | None
    cost: PoolCost | None

    def __init__(
        self,
        name: str,
        *,
        cfg: PlatformConfig,
        pool: NodePoolConfig,
        subnet_ids: pulumi.Input[Sequence[str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("tgi-infra:nodepools:GpuNodePool", name, None, opts)
        self._role(name, cfg, pool)
        self.node_group_arn = None
        self.karpenter_node_pool = None
        if pool.provisioner == "managed":
            self._managed(name, cfg, pool, subnet_ids)
        else:
            self._karpenter(name, cfg, pool)
        hw = pool_hardware(pool)
        tiers = [t for t in cfg.tiers if t.node_pool == pool.name]
        self.cost = pool_cost(hw, tiers) if hw else None
        outputs: dict[str, object] = {
            "nodeRoleArn": self.node_role_arn,
            "nodeRoleName": self.node_role_name,
        }
        if self.node_group_arn is not None:
            outputs["nodeGroupArn"] = self.node_group_arn
        if self.karpenter_node_pool is not None:
            outputs["karpenterNodePool"] = self.karpenter_node_pool
        if self.cost is not None:
            outputs["cost"] = {
                "instanceType": self.cost.instance_type,
                "nodes": [self.cost.nodes_min, self.cost.nodes_max],
                "hourlyUsd": [round(self.cost.hourly_min, 2), round(self.cost.hourly_max, 2)],
                "monthlyUsd": [round(self.cost.monthly_min), round(self.cost.monthly_max)],
            }
        self.register_outputs(outputs)

    def _role(self, name: str, cfg: PlatformConfig, pool: NodePoolConfig) -> None:
        """The nodes' IAM role: the configured one, or a new one with EKS's node policies."""
        self.role: aws.iam.Role | None = None
        self.attachments: list[aws.iam.RolePolicyAttachment] = []
        if pool.node_role_name:
            found = aws.iam.get_role_output(
                name=pool.node_role_name, opts=pulumi.InvokeOptions(parent=self)
            )
            self.node_role_arn = found.arn
            self.node_role_name = pulumi.Output.from_input(pool.node_role_name)
            return
        self.role = aws.iam.Role(
            f"{name}-node",
            name=naming.node_role_name(cfg.cluster.name, pool.name),
            description=f"tgi-infra GPU nodes of pool {pool.name} on {cfg.cluster.name}",
            assume_role_policy=json.dumps(EC2_TRUST_POLICY),
            tags={naming.POOL_LABEL: pool.name, "tgi-infra/cluster": cfg.cluster.name},
            opts=pulumi.ResourceOptions(parent=self),
        )
        for short, policy in NODE_POLICIES.items():
            self.attachments.append(
                aws.iam.RolePolicyAttachment(
                    f"{name}-node-{short}",
                    role=self.role.name,
                    policy_arn=managed_policy_arn(cfg.cluster.region, policy),
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        self.node_role_arn = self.role.arn
        self.node_role_name = self.role.name

    def _managed(
        self,
        name: str,
        cfg: PlatformConfig,
        pool: NodePoolConfig,
        subnet_ids: pulumi.Input[Sequence[str]] | None,
    ) -> None:
        args = managed_node_group_args(cfg, pool)
        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-lt", **args.pop("launch_template"), opts=pulumi.ResourceOptions(parent=self)
        )
        subnets = args.pop("subnet_ids", None) or subnet_ids
        if subnets is None:
            found = aws.eks.get_cluster_output(
                name=cfg.cluster.name, opts=pulumi.InvokeOptions(parent=self)
            )
            subnets = found.vpc_config.subnet_ids
        self.node_group = aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name=cfg.cluster.name,
            node_role_arn=self.node_role_arn,
            subnet_ids=subnets,
            launch_template={
                "id": self.launch_template.id,
                "version": self.launch_template.latest_version.apply(str),
            },
            **args,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(self.attachments),
                # The Cluster Autoscaler owns desiredSize once the group exists.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )
        self.node_group_arn = self.node_group.arn

    def _karpenter(self, name: str, cfg: PlatformConfig, pool: NodePoolConfig) -> None:
        depends: list[pulumi.Resource] = list(self.attachments)
        if self.role is not None:
            # Nodes of a role EKS did not create for a node group need an access entry to
            # join (cluster authentication mode API or API_AND_CONFIG_MAP).
            self.access_entry = aws.eks.AccessEntry(
                f"{name}-access",
                cluster_name=cfg.cluster.name,
                principal_arn=self.role.arn,
                type="EC2_LINUX",
                opts=pulumi.ResourceOptions(parent=self),
            )
            depends += [self.role, self.access_entry]
        role_name = pool.node_role_name or naming.node_role_name(cfg.cluster.name, pool.name)
        self.objects = register_objects(
            karpenter_objects(cfg, pool, role_name), parent=self, depends_on=depends
        )
        self.karpenter_node_pool = naming.karpenter_pool_name(pool.name)


class NvidiaDevicePlugin(pulumi.ComponentResource):
    """The NVIDIA device plugin DaemonSet on the pools that need it (see
    `manifests.nodepools.device_plugin_pools`)."""

    def __init__(
        self, name: str, *, cfg: PlatformConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tgi-infra:nodepools:NvidiaDevicePlugin", name, None, opts)
        self.objects = register_objects(device_plugin_objects(cfg), parent=self)
        self.register_outputs({})


def node_pools(
    cfg: PlatformConfig,
    *,
    parent: pulumi.Resource,
    prefix: str = "pool",
    subnet_ids: pulumi.Input[Sequence[str]] | None = None,
) -> tuple[dict[str, GpuNodePool], NvidiaDevicePlugin | None]:
    """A `GpuNodePool` per configured pool under `parent`, and the device plugin unless the
    cluster has the GPU operator or every pool runs Bottlerocket. `subnet_ids`: managed
    pools' subnets (default: the existing cluster's)."""
    pools = {
        p.name: GpuNodePool(
            f"{prefix}-{p.name}",
            cfg=cfg,
            pool=p,
            subnet_ids=subnet_ids,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for p in cfg.node_pools
    }
    plugin = None
    if device_plugin_objects(cfg):
        plugin = NvidiaDevicePlugin(
            "nvidia-device-plugin", cfg=cfg, opts=pulumi.ResourceOptions(parent=parent)
        )
    return pools, plugin

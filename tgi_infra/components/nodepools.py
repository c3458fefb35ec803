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
from tgi_infra.component_args import GpuNodePoolArgs, PoolCost, gpu_node_pool_args
from tgi_infra.components.kube import register_objects
from tgi_infra.config.models import NodePoolConfig, PlatformConfig
from tgi_infra.manifests.credentials import EC2_TRUST_POLICY, node_policy_arns
from tgi_infra.manifests.nodepools import (
    device_plugin_objects,
    karpenter_objects,
    managed_node_group_args,
)


def renamed(name: str, old: str | None) -> pulumi.ResourceOptions:
    """Aliases that keep a resource's URN when its component was renamed from `old`
    (its name then started with `old` instead of the component's new name)."""
    if old is None:
        return pulumi.ResourceOptions()
    return pulumi.ResourceOptions(aliases=[pulumi.Alias(name=old)])


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
        args: GpuNodePoolArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        renamed_from: str | None = None,
    ) -> None:
        """`renamed_from`: the component's previous name; it and its children keep their
        URNs (aliases)."""
        self._old = renamed_from
        opts = pulumi.ResourceOptions.merge(opts, renamed(name, renamed_from))
        super().__init__("tgi-infra:nodepools:GpuNodePool", name, None, opts)
        pool = args.pool
        assert isinstance(pool, NodePoolConfig)
        cfg = args.platform_view(name)
        self._cluster = args.cluster_name  # the real name; cfg's is the plain label
        self.node_group_arn = None
        self.karpenter_node_pool = None
        with naming.platform(args.platform or name):
            self._role(name, cfg, pool, args.node_role_name)
            if pool.provisioner == "managed":
                self._managed(name, cfg, pool, args.subnet_ids)
            else:
                self._karpenter(name, cfg, pool)
        self.cost = args.cost
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

    def _child(self, name: str, suffix: str, **kwargs: object) -> pulumi.ResourceOptions:
        """Options of the child `<name>-<suffix>`: parent, and its old name's alias."""
        old = f"{self._old}-{suffix}" if self._old else None
        return pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(parent=self, **kwargs),  # type: ignore[arg-type]
            renamed(f"{name}-{suffix}", old),
        )

    def _role(
        self,
        name: str,
        cfg: PlatformConfig,
        pool: NodePoolConfig,
        role_name: pulumi.Input[str] | None,
    ) -> None:
        """The nodes' IAM role: the given one, or a new one with EKS's node policies."""
        self.role: aws.iam.Role | None = None
        self.attachments: list[aws.iam.RolePolicyAttachment] = []
        existing = role_name or pool.node_role_name
        if existing:
            found = aws.iam.get_role_output(name=existing, opts=pulumi.InvokeOptions(parent=self))
            self.node_role_arn = found.arn
            self.node_role_name = pulumi.Output.from_input(existing)
            return
        self.role = aws.iam.Role(
            f"{name}-node",
            name=naming.node_role_name(cfg.cluster.name, pool.name),
            description=f"tgi-infra GPU nodes of pool {pool.name} on {cfg.cluster.name}",
            assume_role_policy=json.dumps(EC2_TRUST_POLICY),
            tags={naming.POOL_LABEL: pool.name, "tgi-infra/cluster": cfg.cluster.name},
            opts=self._child(name, "node"),
        )
        for short, arn in node_policy_arns(cfg.cluster.region).items():
            self.attachments.append(
                aws.iam.RolePolicyAttachment(
                    f"{name}-node-{short}",
                    role=self.role.name,
                    policy_arn=arn,
                    opts=self._child(name, f"node-{short}"),
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
            f"{name}-lt", **args.pop("launch_template"), opts=self._child(name, "lt")
        )
        subnets = args.pop("subnet_ids", None) or subnet_ids
        if subnets is None:
            found = aws.eks.get_cluster_output(
                name=self._cluster, opts=pulumi.InvokeOptions(parent=self)
            )
            subnets = found.vpc_config.subnet_ids
        self.node_group = aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name=self._cluster,
            node_role_arn=self.node_role_arn,
            subnet_ids=subnets,
            launch_template={
                "id": self.launch_template.id,
                "version": self.launch_template.latest_version.apply(str),
            },
            **args,
            opts=self._child(
                name,
                "ng",
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
                cluster_name=self._cluster,
                principal_arn=self.role.arn,
                type="EC2_LINUX",
                opts=self._child(name, "access"),
            )
            depends += [self.role, self.access_entry]
        role_name = pool.node_role_name or naming.node_role_name(cfg.cluster.name, pool.name)
        self.objects = register_objects(
            karpenter_objects(cfg, pool, role_name, self._cluster),
            parent=self,
            depends_on=depends,
        )
        self.karpenter_node_pool = naming.karpenter_pool_name(pool.name)


class NvidiaDevicePlugin(pulumi.ComponentResource):
    """The NVIDIA device plugin DaemonSet on the pools that need it (see
    `manifests.nodepools.device_plugin_pools`)."""

    def __init__(
        self,
        name: str,
        cfg: PlatformConfig,
        opts: pulumi.ResourceOptions | None = None,
        *,
        renamed_from: str | None = None,
    ) -> None:
        opts = pulumi.ResourceOptions.merge(opts, renamed(name, renamed_from))
        super().__init__("tgi-infra:nodepools:NvidiaDevicePlugin", name, None, opts)
        self.objects = register_objects(device_plugin_objects(cfg), parent=self)
        self.register_outputs({})


def node_pools(
    cfg: PlatformConfig,
    *,
    parent: pulumi.Resource,
    platform: str = naming.DEFAULT_PLATFORM,
    subnet_ids: pulumi.Input[Sequence[str]] | None = None,
) -> tuple[dict[str, GpuNodePool], NvidiaDevicePlugin | None]:
    """A `GpuNodePool` per configured pool under `parent` (`<platform>-pool-<pool>`), and
    the device plugin unless the cluster has the GPU operator or every pool runs
    Bottlerocket. The "tgi" platform's pools keep the URNs they had as `pool-<pool>`.
    `subnet_ids`: managed pools' subnets (a created cluster's; default: looked up)."""
    legacy = platform == naming.DEFAULT_PLATFORM
    pools = {
        p.name: GpuNodePool(
            f"{platform}-pool-{p.name}",
            gpu_node_pool_args(cfg, p, platform, subnet_ids),
            pulumi.ResourceOptions(parent=parent),
            renamed_from=f"pool-{p.name}" if legacy else None,
        )
        for p in cfg.node_pools
    }
    plugin = None
    with naming.platform(platform):
        if device_plugin_objects(cfg):
            plugin = NvidiaDevicePlugin(
                f"{platform}-nvidia-device-plugin",
                cfg,
                pulumi.ResourceOptions(parent=parent),
                renamed_from=naming.LEGACY_DEVICE_PLUGIN if legacy else None,
            )
    return pools, plugin

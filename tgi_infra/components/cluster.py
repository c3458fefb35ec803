"""Cluster wiring: the AWS and Kubernetes providers for an existing EKS cluster, or the
cluster itself (`cluster.create: true`, `EksCluster`).

The cluster is looked up by name (`aws.eks.get_cluster`); the kubeconfig authenticates
with `aws eks get-token` (no credential in the kubeconfig or the state). Stacks whose
cluster is only reachable another way set `cluster.kubeconfigFromSecret` and store the
kubeconfig as the secret config value `tgi-infra:kubeconfig`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from tgi_infra.components.addons import AddonNetwork
from tgi_infra.config.models import ClusterConfig, PlatformConfig
from tgi_infra.manifests import cluster as plan
from tgi_infra.manifests.credentials import EC2_TRUST_POLICY, NODE_POLICIES, managed_policy_arn

KUBECONFIG_KEY = "kubeconfig"
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> dict[str, Any]:
    """A kubeconfig for one EKS cluster whose user runs `aws eks get-token`."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {"server": endpoint, "certificate-authority-data": ca_data},
            }
        ],
        "contexts": [
            {"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}
        ],
        "current-context": cluster_name,
        "preferences": {},
        "users": [
            {
                "name": cluster_name,
                "user": {
                    "exec": {
                        "apiVersion": EXEC_API_VERSION,
                        "command": "aws",
                        "args": [
                            "eks",
                            "get-token",
                            "--cluster-name",
                            cluster_name,
                            "--region",
                            region,
                            "--output",
                            "json",
                        ],
                    }
                },
            }
        ],
    }


def lookup_cluster(
    cluster: ClusterConfig, opts: pulumi.InvokeOptions | None = None
) -> pulumi.Output[aws.eks.GetClusterResult]:
    return aws.eks.get_cluster_output(name=cluster.name, opts=opts)


def cluster_kubeconfig(
    cluster: ClusterConfig, found: pulumi.Output[aws.eks.GetClusterResult]
) -> pulumi.Output[str]:
    return found.apply(
        lambda c: json.dumps(
            kubeconfig(c.name, c.endpoint, c.certificate_authorities[0].data, cluster.region)
        )
    )


def cluster_providers(
    cfg: PlatformConfig,
    *,
    name: str = "tgi",
    kubeconfig: pulumi.Input[str] | None = None,
    opts: pulumi.ResourceOptions | None = None,
) -> tuple[aws.Provider, k8s.Provider]:
    """(aws.Provider, kubernetes.Provider) for `cfg.cluster`; pass both down with
    `ResourceOptions(providers=[...])` so every child resource reaches this cluster.
    `kubeconfig` (secret; the program reads `tgi-infra:kubeconfig` when the cluster sets
    kubeconfigFromSecret) replaces the one built from the EKS cluster."""
    cluster = cfg.cluster
    aws_provider = aws.Provider(f"{name}-aws", region=cluster.region, opts=opts)
    if kubeconfig is not None:
        config: pulumi.Input[str] = pulumi.Output.secret(kubeconfig)
    elif cluster.kubeconfig_from_secret:
        raise ValueError("cluster.kubeconfigFromSecret: pass the kubeconfig (a secret).")
    else:
        found = lookup_cluster(cluster, pulumi.InvokeOptions(provider=aws_provider))
        config = cluster_kubeconfig(cluster, found)
    k8s_provider = k8s.Provider(f"{name}-k8s", kubeconfig=config, opts=opts)
    return aws_provider, k8s_provider


class EksCluster(pulumi.ComponentResource):
    """`cluster.create: true`: a VPC (or the given subnets), the EKS control plane in
    access-entry mode, a system node group for the controllers, the Pod Identity agent,
    admin access entries, and the discovery tag Karpenter selects the cluster SG by.

    Built from pulumi_aws resources, not pulumi-eks: pulumi-eks `Cluster` is a
    multi-language component that Pulumi's mocks register as one opaque resource with no
    children and unresolved outputs, so the offline plan could neither show what it
    creates nor build a kubeconfig from it (docs/day0.md).
    """

    kubeconfig: pulumi.Output[str]
    network: AddonNetwork

    def __init__(
        self, name: str, cfg: PlatformConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tgi-infra:cluster:EksCluster", name, None, opts)
        self._name, self._cfg = name, cfg
        settings = cfg.cluster.settings
        child = pulumi.ResourceOptions(parent=self)
        if settings.subnet_ids:
            first = aws.ec2.get_subnet_output(id=settings.subnet_ids[0], opts=self._invoke())
            vpc = aws.ec2.get_vpc_output(id=first.vpc_id, opts=self._invoke())
            private: list[pulumi.Input[str]] = list(settings.subnet_ids)
            public: list[pulumi.Input[str]] = []
            vpc_id, vpc_cidr = vpc.id, vpc.cidr_block
        else:
            vpc_id, private, public = self._vpc()
            vpc_cidr = settings.vpc_cidr
        role = aws.iam.Role(
            f"{name}-cluster",
            name=f"{cfg.cluster.name}-eks-cluster"[:64],
            assume_role_policy=json.dumps(plan.EKS_TRUST_POLICY),
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-cluster-{short}",
                role=role.name,
                policy_arn=managed_policy_arn(cfg.cluster.region, policy),
                opts=child,
            )
            for short, policy in plan.CLUSTER_POLICIES.items()
        ]
        self.cluster = aws.eks.Cluster(
            f"{name}-eks",
            role_arn=role.arn,
            vpc_config={"subnet_ids": [*private, *public]},
            **plan.cluster_args(cfg),
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
        )
        after = pulumi.ResourceOptions(parent=self, depends_on=[self.cluster])
        aws.ec2.Tag(
            f"{name}-sg-discovery",
            resource_id=self.cluster.vpc_config.cluster_security_group_id,
            key="karpenter.sh/discovery",
            value=cfg.cluster.name,
            opts=after,
        )
        aws.eks.Addon(
            f"{name}-pod-identity-agent",
            cluster_name=self.cluster.name,
            addon_name="eks-pod-identity-agent",
            opts=after,
        )
        for i, principal in enumerate(settings.admin_principal_arns):
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{i}",
                cluster_name=self.cluster.name,
                principal_arn=principal,
                opts=after,
            )
            aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{i}",
                cluster_name=self.cluster.name,
                principal_arn=principal,
                policy_arn=plan.ADMIN_POLICY_ARN,
                access_scope={"type": "cluster"},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[entry]),
            )
        self._system_nodes(private)
        self.kubeconfig = pulumi.Output.all(
            self.cluster.name, self.cluster.endpoint, self.cluster.certificate_authority.data
        ).apply(lambda a: json.dumps(kubeconfig(a[0], a[1], a[2], cfg.cluster.region)))
        self.network = AddonNetwork(private, vpc_id, vpc_cidr, self.cluster)
        self.register_outputs({"clusterName": self.cluster.name, "endpoint": self.cluster.endpoint})

    def _invoke(self) -> pulumi.InvokeOptions:
        return pulumi.InvokeOptions(parent=self)

    def _vpc(self) -> tuple[pulumi.Output[str], list[pulumi.Input[str]], list[pulumi.Input[str]]]:
        cfg, name = self._cfg, self._name
        settings = cfg.cluster.settings
        child = pulumi.ResourceOptions(parent=self)
        tags = {"tgi-infra/cluster": cfg.cluster.name}
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=settings.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**tags, "Name": cfg.cluster.name},
            opts=child,
        )
        zones = aws.get_availability_zones_output(state="available", opts=self._invoke())
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=child)

        def default_route(kind: str, **target: pulumi.Input[str]) -> aws.ec2.RouteTable:
            return aws.ec2.RouteTable(
                f"{name}-{kind}",
                vpc_id=vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", **target}],
                tags=tags,
                opts=child,
            )

        public_rt = default_route("public", gateway_id=igw.id)
        public: list[pulumi.Input[str]] = []
        private: list[pulumi.Input[str]] = []
        nat: aws.ec2.NatGateway | None = None
        private_rt: aws.ec2.RouteTable | None = None
        for sub in plan.subnet_plan(settings.vpc_cidr, settings.availability_zones):
            kind = "public" if sub.public else "private"
            subnet = aws.ec2.Subnet(
                f"{name}-{kind}-{sub.zone_index}",
                vpc_id=vpc.id,
                cidr_block=sub.cidr,
                availability_zone=zones.names[sub.zone_index],
                map_public_ip_on_launch=False,
                tags={**tags, **plan.subnet_tags(cfg, sub.public)},
                opts=child,
            )
            if sub.public:
                public.append(subnet.id)
                table = public_rt
                if nat is None:  # one NAT gateway, in the first zone (docs/day0.md: cost)
                    eip = aws.ec2.Eip(f"{name}-nat", domain="vpc", tags=tags, opts=child)
                    nat = aws.ec2.NatGateway(
                        f"{name}-nat",
                        allocation_id=eip.id,
                        subnet_id=subnet.id,
                        tags=tags,
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                    )
            else:
                if private_rt is None:
                    assert nat is not None  # subnet_plan lists every public subnet first
                    private_rt = default_route("private", nat_gateway_id=nat.id)
                private.append(subnet.id)
                table = private_rt
            aws.ec2.RouteTableAssociation(
                f"{name}-{kind}-{sub.zone_index}",
                subnet_id=subnet.id,
                route_table_id=table.id,
                opts=child,
            )
        return vpc.id, private, public

    def _system_nodes(self, subnets: list[pulumi.Input[str]]) -> None:
        cfg, name = self._cfg, self._name
        role = aws.iam.Role(
            f"{name}-system-node",
            name=f"{cfg.cluster.name}-system-node"[:64],
            assume_role_policy=json.dumps(EC2_TRUST_POLICY),
            opts=pulumi.ResourceOptions(parent=self),
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-system-node-{short}",
                role=role.name,
                policy_arn=managed_policy_arn(cfg.cluster.region, policy),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for short, policy in NODE_POLICIES.items()
        ]
        args = plan.system_node_group_args(cfg)
        args["cluster_name"] = self.cluster.name
        self.system_nodes = aws.eks.NodeGroup(
            f"{name}-system",
            node_role_arn=role.arn,
            subnet_ids=subnets,
            **args,
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
        )


@dataclass
class ClusterSetup:
    """What the program needs from the cluster step: providers, the add-ons' network
    (None: looked up from the existing cluster) and the created cluster, if any."""

    aws_provider: aws.Provider
    k8s_provider: k8s.Provider
    network: AddonNetwork | None = None
    cluster: EksCluster | None = None


def cluster_setup(
    cfg: PlatformConfig, *, name: str = "tgi", kubeconfig: pulumi.Input[str] | None = None
) -> ClusterSetup:
    """`cluster_providers` for an existing cluster (`kubeconfig` as there); for
    `cluster.create` the EKS cluster first, and a kubernetes provider reading its
    kubeconfig."""
    if not cfg.cluster.create:
        return ClusterSetup(*cluster_providers(cfg, name=name, kubeconfig=kubeconfig))
    aws_provider = aws.Provider(f"{name}-aws", region=cfg.cluster.region)
    created = EksCluster(f"{name}-cluster", cfg, pulumi.ResourceOptions(providers=[aws_provider]))
    k8s_provider = k8s.Provider(
        f"{name}-k8s",
        kubeconfig=created.kubeconfig,
        opts=pulumi.ResourceOptions(depends_on=[created.system_nodes]),
    )
    return ClusterSetup(aws_provider, k8s_provider, created.network, created)

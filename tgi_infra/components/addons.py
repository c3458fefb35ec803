"""`PlatformAddons`: the controllers a stack installs, as `helm.v3.Release`s, with the AWS
resources they need (Karpenter's role and interruption queue, the EFS file system), and
`AddonWiring`, the transformation that makes every custom resource wait for the release of
its controller, tiers for the GPU operator, claims for the StorageClass.

Every decision comes from `manifests.addons` / `manifests.addons_aws`; this module
registers and wires. Why `helm.v3.Release` (not `helm.v4.Chart`): see docs/day0.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from tgi_infra import naming
from tgi_infra.components.kube import register_object
from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests import addons as builders
from tgi_infra.manifests import addons_aws as aws_builders
from tgi_infra.manifests.credentials import aws_partition

RELEASE_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class AddonNetwork:
    """Where the AWS parts of the add-ons go: the cluster's private subnets (a list of known
    length: one EFS mount target each) and the VPC's CIDR (NFS ingress)."""

    subnet_ids: Sequence[pulumi.Input[str]]
    vpc_id: pulumi.Input[str]
    vpc_cidr: pulumi.Input[str]
    cluster: pulumi.Resource | None = None
    """A cluster created in the same program: EKS resources naming it by string wait for it."""


class AddonWiring:
    """A resource transformation, set on an ancestor of everything it wires (the platform):
    a resource registered after a capability's providers were added gets them as
    `depends_on` (see `manifests.addons.needs_of`)."""

    def __init__(self, storage_class: str | None = None) -> None:
        self.providers: dict[str, list[pulumi.Resource]] = {}
        self.storage_class = storage_class

    def add(self, need: str, *resources: pulumi.Resource) -> None:
        self.providers.setdefault(need, []).extend(resources)

    def __call__(
        self, args: pulumi.ResourceTransformationArgs
    ) -> pulumi.ResourceTransformationResult | None:
        needs = builders.needs_of(args.type_, args.props, self.storage_class)
        after = [r for need in sorted(needs) for r in self.providers.get(need, [])]
        after = [r for r in after if r is not args.resource]
        if not after:
            return None
        opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(depends_on=after))
        return pulumi.ResourceTransformationResult(args.props, opts)


def lookup_network(cfg: PlatformConfig, parent: pulumi.Resource) -> AddonNetwork:
    """The existing cluster's subnets and VPC CIDR (plain invokes, so the count is known)."""
    found = aws.eks.get_cluster(name=cfg.cluster.name, opts=pulumi.InvokeOptions(parent=parent))
    vpc = aws.ec2.get_vpc(id=found.vpc_config.vpc_id, opts=pulumi.InvokeOptions(parent=parent))
    return AddonNetwork(list(found.vpc_config.subnet_ids), vpc.id, vpc.cidr_block)


class PlatformAddons(pulumi.ComponentResource):
    """Helm releases of the `install` add-ons, Redis, the GatewayClass, the EFS file system
    and StorageClass, Karpenter's IAM role and interruption queue, a ClusterIssuer.

    `weight_bytes` (tier name to checkpoint size) sizes EFS throughput. `network` defaults
    to a lookup of the existing cluster. Pass `wiring` when an ancestor carries it; else
    this component carries its own. `releases` maps release keys to their resources.
    """

    releases: dict[str, k8s.helm.v3.Release]
    specs: list[builders.ReleaseSpec]
    wiring: AddonWiring

    def __init__(
        self,
        name: str,
        cfg: PlatformConfig,
        weight_bytes: Mapping[str, int],
        *,
        network: AddonNetwork | None = None,
        wiring: AddonWiring | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        self.wiring = wiring or AddonWiring()
        if cfg.cache.storage_class_name == cfg.addons.efs.storage_class_name:
            self.wiring.storage_class = cfg.addons.efs.storage_class_name
        if wiring is None:
            opts = pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(transformations=[self.wiring])
            )
        super().__init__("tgi-infra:addons:PlatformAddons", name, None, opts)
        self._name, self._cfg = name, cfg
        addons = cfg.addons
        aws_needed = addons.karpenter.mode == "install" or addons.efs.mode == "install"
        if aws_needed and network is None:
            network = lookup_network(cfg, self)
        if network is not None and network.cluster is not None:
            self.wiring.add("cluster", network.cluster)
        refs = builders.AddonRefs()
        before: dict[str, list[pulumi.Resource]] = {}
        if addons.karpenter.mode == "install":
            queue, deps = self._karpenter()
            before["karpenter"] = deps
            refs = builders.AddonRefs(karpenter_queue_name=queue)
        file_system = None
        if addons.efs.mode == "install" and network is not None:
            file_system, deps = self._efs(weight_bytes, network)
            before["efs"] = deps
            refs = builders.AddonRefs(refs.karpenter_queue_name, file_system.id)

        self.releases = {}
        self.specs = builders.addon_releases(cfg, refs)
        for spec in self.specs:
            after = list(before.get(spec.key, []))
            if spec.key == "aiGateway":
                after += [self.releases["aiGatewayCrds"]]
                after += [self.releases[k] for k in ("envoyGateway",) if k in self.releases]
            if spec.key == "prometheusAdapter" and "prometheus" in self.releases:
                after.append(self.releases["prometheus"])
            release = self._release(spec, after)
            self.releases[spec.key] = release
            self.wiring.add(f"addon:{spec.addon}", release)
            if spec.key == "nvidia":
                self.wiring.add("gpu", release)
        self._objects(cfg, file_system)
        self.register_outputs(
            {
                "releases": {
                    s.key: {"chart": s.chart, "version": s.version, "namespace": s.namespace}
                    for s in self.specs
                }
            }
        )

    def _opts(self, after: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(after))

    def _release(
        self, spec: builders.ReleaseSpec, after: Sequence[pulumi.Resource]
    ) -> k8s.helm.v3.Release:
        oci = spec.repo.startswith("oci://")
        return k8s.helm.v3.Release(
            f"{self._name}-{spec.key}",
            name=spec.name,
            chart=f"{spec.repo}/{spec.chart}" if oci else spec.chart,
            repository_opts=None if oci else {"repo": spec.repo},
            version=spec.version,
            namespace=spec.namespace,
            create_namespace=True,
            values=spec.values,
            skip_crds=spec.skip_crds,
            timeout=RELEASE_TIMEOUT_SECONDS,
            opts=self._opts(after),
        )

    def _pod_identity_role(
        self, short: str, service_account: str, namespace: str
    ) -> tuple[aws.iam.Role, aws.eks.PodIdentityAssociation]:
        cfg = self._cfg
        role = aws.iam.Role(
            f"{self._name}-{short}",
            name=f"{cfg.cluster.name}-{short}"[:64],
            assume_role_policy=json.dumps(aws_builders.POD_IDENTITY_TRUST_POLICY),
            tags={"tgi-infra/cluster": cfg.cluster.name},
            opts=self._opts(),
        )
        association = aws.eks.PodIdentityAssociation(
            f"{self._name}-{short}",
            cluster_name=cfg.cluster.name,
            namespace=namespace,
            service_account=service_account,
            role_arn=role.arn,
            opts=self._opts(),
        )
        return role, association

    def _karpenter(self) -> tuple[pulumi.Output[str] | None, list[pulumi.Resource]]:
        cfg = self._cfg
        partition = aws_partition(cfg.cluster.region)
        role, association = self._pod_identity_role(
            "karpenter",
            builders.KARPENTER_SERVICE_ACCOUNT,
            builders.addon_namespace(cfg, "karpenter"),
        )
        deps: list[pulumi.Resource] = [association]
        node_roles = [
            f"arn:{partition}:iam::*:role/"
            + (p.node_role_name or naming.node_role_name(cfg.cluster.name, p.name))
            for p in cfg.node_pools
            if p.provisioner == "karpenter"
        ]
        queue_arn: pulumi.Input[str | None] = None
        queue_name: pulumi.Output[str] | None = None
        if cfg.addons.karpenter.interruption_queue:
            queue = aws.sqs.Queue(
                f"{self._name}-karpenter-interruption",
                name=aws_builders.interruption_queue_name(cfg.cluster.name),
                message_retention_seconds=aws_builders.INTERRUPTION_QUEUE_RETENTION_SECONDS,
                sqs_managed_sse_enabled=True,
                opts=self._opts(),
            )
            policy = aws.sqs.QueuePolicy(
                f"{self._name}-karpenter-interruption",
                queue_url=queue.url,
                policy=queue.arn.apply(
                    lambda arn: json.dumps(aws_builders.interruption_queue_policy(arn))
                ),
                opts=self._opts(),
            )
            deps += [queue, policy]
            for rule_name, pattern in aws_builders.INTERRUPTION_RULES.items():
                rule = aws.cloudwatch.EventRule(
                    f"{self._name}-karpenter-{rule_name}",
                    event_pattern=json.dumps(pattern),
                    opts=self._opts(),
                )
                deps.append(
                    aws.cloudwatch.EventTarget(
                        f"{self._name}-karpenter-{rule_name}",
                        rule=rule.name,
                        arn=queue.arn,
                        target_id="KarpenterInterruptionQueueTarget",
                        opts=self._opts(),
                    )
                )
            queue_arn, queue_name = queue.arn, queue.name
        controller_policy = aws.iam.RolePolicy(
            f"{self._name}-karpenter",
            role=role.name,
            policy=pulumi.Output.from_input(queue_arn).apply(
                lambda arn: json.dumps(
                    aws_builders.karpenter_controller_policy(cfg, node_roles, arn)
                )
            ),
            opts=self._opts(),
        )
        deps.append(controller_policy)
        return queue_name, deps

    def _efs(
        self, weight_bytes: Mapping[str, int], network: AddonNetwork
    ) -> tuple[aws.efs.FileSystem, list[pulumi.Resource]]:
        cfg = self._cfg
        sg = aws.ec2.SecurityGroup(
            f"{self._name}-efs",
            description=f"NFS from {cfg.cluster.name}'s VPC to the tgi-infra model cache",
            vpc_id=network.vpc_id,
            ingress=[
                {
                    "protocol": "tcp",
                    "from_port": 2049,
                    "to_port": 2049,
                    "cidr_blocks": [network.vpc_cidr],
                    "description": "NFS",
                }
            ],
            tags={"tgi-infra/cluster": cfg.cluster.name},
            opts=self._opts(),
        )
        file_system = aws.efs.FileSystem(
            f"{self._name}-efs",
            **aws_builders.efs_file_system_args(cfg, weight_bytes),
            opts=self._opts(),
        )
        deps: list[pulumi.Resource] = [file_system]
        for i, subnet in enumerate(network.subnet_ids):
            deps.append(
                aws.efs.MountTarget(
                    f"{self._name}-efs-{i}",
                    file_system_id=file_system.id,
                    subnet_id=subnet,
                    security_groups=[sg.id],
                    opts=self._opts(),
                )
            )
        role, association = self._pod_identity_role(
            "efs-csi",
            builders.EFS_CONTROLLER_SERVICE_ACCOUNT,
            builders.addon_namespace(cfg, "efs"),
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{self._name}-efs-csi",
            role=role.name,
            policy_arn=f"arn:{aws_partition(cfg.cluster.region)}:iam::aws:policy/"
            + aws_builders.EFS_CSI_POLICY,
            opts=self._opts(),
        )
        return file_system, [*deps, association, attachment]

    def _objects(self, cfg: PlatformConfig, file_system: aws.efs.FileSystem | None) -> None:
        eg = self.releases.get("envoyGateway")
        if eg is not None:
            register_object(builders.gateway_class(cfg), self._opts())
            if cfg.addons.envoy_gateway.redis == "install":
                for obj in builders.redis_objects(cfg):
                    register_object(obj, self._opts([eg]))
        if file_system is not None:
            efs = self.releases.get("efs")
            sc = register_object(
                builders.efs_storage_class(cfg, file_system.id),
                self._opts([efs] if efs else []),
            )
            self.wiring.add("storage", sc, *([efs] if efs else []))
        issuer = builders.cluster_issuer(cfg)
        if issuer is not None:
            register_object(issuer, self._opts())

"""`GpuNodePool`, `NvidiaDevicePlugin` and the cluster providers under Pulumi's mocks:
what gets registered, with which inputs, under which parent and provider."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from tests.support import small_raw, stack_config
from tgi_infra import naming
from tgi_infra.component_args import gpu_node_pool_args
from tgi_infra.components.cluster import cluster_providers, kubeconfig
from tgi_infra.components.nodepools import GpuNodePool, node_pools
from tgi_infra.config.loader import parse_platform
from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests.credentials import managed_policy_arn
from tgi_infra.offline.mocks import MOCK_ACCOUNT, PlanMocks, RecordedResource

NODE_POLICIES = {
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
}


def run(program: Callable[[], Any]) -> tuple[PlanMocks, Any]:
    """Run `program` under fresh mocks; returns the mocks and the program's resolved result."""
    mocks = PlanMocks()
    pulumi.runtime.set_mocks(mocks, preview=False)
    result: dict[str, Any] = {}

    @pulumi.runtime.test
    def go() -> pulumi.Output[Any]:
        return pulumi.Output.from_input(program()).apply(lambda v: result.setdefault("v", v))

    go()
    return mocks, result.get("v")


def of_type(mocks: PlanMocks, typ: str) -> list[RecordedResource]:
    return [r for r in mocks.resources if r.type == typ]


def platform(**pool: Any) -> PlatformConfig:
    raw = small_raw()
    raw["nodePools"][0].update(pool)
    return parse_platform(raw)


def test_managed_pool() -> None:
    cfg = platform(minSize=1, maxSize=4, diskSizeGib=250)

    def program() -> Any:
        pool = GpuNodePool("pool-l40s", gpu_node_pool_args(cfg, cfg.node_pools[0], "tgi"))
        return pulumi.Output.all(pool.node_group.urn, pool.node_group_arn, pool.urn)

    mocks, (ng_urn, ng_arn, pool_urn) = run(program)
    assert "tgi-infra:nodepools:GpuNodePool" in pool_urn
    assert "tgi-infra:nodepools:GpuNodePool$aws:eks/nodeGroup:NodeGroup" in ng_urn
    assert ng_arn.startswith("arn:aws:eks:")

    [role] = of_type(mocks, "aws:iam/role:Role")
    assert role.inputs["name"] == naming.node_role_name("test", "l40s")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attachments = of_type(mocks, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert {a.inputs["policyArn"] for a in attachments} == NODE_POLICIES
    assert {a.inputs["role"] for a in attachments} == {role.inputs["name"]}

    [lt] = of_type(mocks, "aws:ec2/launchTemplate:LaunchTemplate")
    assert lt.inputs["metadataOptions"]["httpTokens"] == "required"
    [device] = lt.inputs["blockDeviceMappings"]
    assert device["ebs"]["volumeSize"] == 250
    assert device["ebs"]["encrypted"] == "true"

    [ng] = of_type(mocks, "aws:eks/nodeGroup:NodeGroup")
    inputs = ng.inputs
    assert inputs["clusterName"] == "test"
    assert inputs["amiType"] == "AL2023_x86_64_NVIDIA"
    assert inputs["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert inputs["labels"] == {naming.POOL_LABEL: "l40s", naming.GPU_LABEL: "l40s"}
    assert inputs["scalingConfig"] == {"minSize": 1, "maxSize": 4, "desiredSize": 1}
    assert inputs["launchTemplate"]["id"].startswith("lt-")
    assert inputs["launchTemplate"]["version"] == "1"
    assert inputs["nodeRoleArn"].startswith("arn:aws:iam::")
    # Subnets come from the EKS cluster lookup, which the mocks answer.
    assert inputs["subnetIds"] == ["subnet-mocked0a", "subnet-mocked1b", "subnet-mocked2c"]
    assert ("aws:eks/getCluster:getCluster", {"name": "test"}) in [
        (token, {k: v for k, v in args.items() if k == "name"}) for token, args in mocks.calls
    ]
    assert not of_type(mocks, "kubernetes:karpenter.sh/v1:NodePool")


def test_managed_pool_with_configured_subnets_needs_no_lookup() -> None:
    cfg = platform(subnetIds=["subnet-a"])
    mocks, _ = run(lambda: GpuNodePool("p", gpu_node_pool_args(cfg, cfg.node_pools[0], "tgi")).urn)
    [ng] = of_type(mocks, "aws:eks/nodeGroup:NodeGroup")
    assert ng.inputs["subnetIds"] == ["subnet-a"]
    assert not mocks.calls


def test_karpenter_pool() -> None:
    cfg = platform(provisioner="karpenter", instanceTypes=["g6e.12xlarge"], maxSize=2)

    def program() -> Any:
        pool = GpuNodePool("pool-l40s", gpu_node_pool_args(cfg, cfg.node_pools[0], "tgi"))
        return pulumi.Output.all(*(o.urn for o in pool.objects.values()))

    mocks, urns = run(program)
    assert all("tgi-infra:nodepools:GpuNodePool$kubernetes:" in u for u in urns)
    assert not of_type(mocks, "aws:eks/nodeGroup:NodeGroup")
    assert not of_type(mocks, "aws:ec2/launchTemplate:LaunchTemplate")
    [role] = of_type(mocks, "aws:iam/role:Role")
    attachments = of_type(mocks, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert {a.inputs["policyArn"] for a in attachments} == NODE_POLICIES
    [entry] = of_type(mocks, "aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["type"] == "EC2_LINUX"
    assert entry.inputs["clusterName"] == "test"
    assert entry.inputs["principalArn"].startswith("arn:aws:iam::")

    [node_class] = of_type(mocks, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")
    [node_pool] = of_type(mocks, "kubernetes:karpenter.sh/v1:NodePool")
    assert node_class.inputs["spec"]["role"] == role.inputs["name"]
    assert (
        node_pool.inputs["spec"]["template"]["spec"]["nodeClassRef"]["name"]
        == (node_class.inputs["metadata"]["name"])
    )
    assert node_pool.inputs["spec"]["limits"] == {"nvidia.com/gpu": "8"}


def test_karpenter_pool_reuses_an_existing_role() -> None:
    cfg = platform(provisioner="karpenter", nodeRoleName="KarpenterNodeRole-test")

    def program() -> Any:
        return GpuNodePool("p", gpu_node_pool_args(cfg, cfg.node_pools[0], "tgi")).node_role_arn

    mocks, arn = run(program)
    assert arn == f"arn:aws:iam::{MOCK_ACCOUNT}:role/KarpenterNodeRole-test"
    assert [t for t, _ in mocks.calls] == ["aws:iam/getRole:getRole"]
    assert not of_type(mocks, "aws:iam/role:Role")
    assert not of_type(mocks, "aws:eks/accessEntry:AccessEntry")
    [node_class] = of_type(mocks, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")
    assert node_class.inputs["spec"]["role"] == "KarpenterNodeRole-test"


def test_prod_pools_under_a_platform_with_providers_and_cost() -> None:
    cfg = stack_config("prod")
    pools: dict[str, GpuNodePool] = {}

    def program() -> Any:
        aws_provider, k8s_provider = cluster_providers(cfg)
        parent = pulumi.ComponentResource(
            "tgi-infra:index:TgiPlatform",
            "prod",
            opts=pulumi.ResourceOptions(providers=[aws_provider, k8s_provider]),
        )
        made, plugin = node_pools(cfg, parent=parent)
        pools.update(made)
        assert plugin is not None
        return pulumi.Output.all(aws_provider.urn, k8s_provider.urn)

    mocks, (aws_urn, k8s_urn) = run(program)
    assert set(pools) == {"l40s", "h100", "l40s-x4"}
    for r in mocks.resources:
        if r.type.startswith("aws:"):
            assert r.provider and r.provider.startswith(aws_urn), r.name
        if r.type.startswith("kubernetes:"):
            assert r.provider and r.provider.startswith(k8s_urn), r.name
    assert len(of_type(mocks, "aws:eks/nodeGroup:NodeGroup")) == 2
    assert len(of_type(mocks, "kubernetes:karpenter.sh/v1:NodePool")) == 1
    [ds] = of_type(mocks, "kubernetes:apps/v1:DaemonSet")
    assert ds.inputs["metadata"]["namespace"] == "kube-system"
    cost = pools["l40s"].cost
    assert cost is not None and round(cost.monthly_max) == 16302


def test_no_device_plugin_when_the_gpu_operator_runs() -> None:
    raw = small_raw()
    raw["cluster"]["gpuOperatorInstalled"] = True
    cfg = parse_platform(raw)

    def program() -> Any:
        parent = pulumi.ComponentResource("tgi-infra:index:TgiPlatform", "p")
        made, plugin = node_pools(cfg, parent=parent)
        assert plugin is None
        return made["l40s"].urn

    mocks, _ = run(program)
    assert not of_type(mocks, "kubernetes:apps/v1:DaemonSet")


def test_cluster_providers_build_an_exec_kubeconfig() -> None:
    cfg = stack_config("prod")

    def program() -> Any:
        aws_provider, k8s_provider = cluster_providers(cfg)
        assert isinstance(aws_provider, aws.Provider)
        assert isinstance(k8s_provider, k8s.Provider)
        return k8s_provider.urn

    mocks, _ = run(program)
    assert mocks.calls[0][0] == "aws:eks/getCluster:getCluster"
    assert mocks.calls[0][1]["name"] == "ml-prod"
    [aws_provider] = of_type(mocks, "pulumi:providers:aws")
    assert aws_provider.inputs["region"] == "us-east-1"
    [provider] = of_type(mocks, "pulumi:providers:kubernetes")
    config = json.loads(provider.inputs["kubeconfig"])
    assert config["clusters"][0]["cluster"]["server"].startswith("https://")
    user = config["users"][0]["user"]
    assert "token" not in user
    assert user["exec"]["command"] == "aws"
    assert user["exec"]["args"] == [
        "eks",
        "get-token",
        "--cluster-name",
        "ml-prod",
        "--region",
        "us-east-1",
        "--output",
        "json",
    ]


def test_cluster_providers_read_a_secret_kubeconfig() -> None:
    raw = small_raw()
    raw["cluster"]["kubeconfigFromSecret"] = True
    cfg = parse_platform(raw)

    def program() -> Any:
        _, k8s_provider = cluster_providers(cfg, kubeconfig="apiVersion: v1\nkind: Config\n")
        return k8s_provider.urn

    mocks, _ = run(program)
    assert not mocks.calls  # no cluster lookup
    assert of_type(mocks, "pulumi:providers:kubernetes")


def test_pure_helpers() -> None:
    assert managed_policy_arn("us-gov-west-1", "AmazonEKS_CNI_Policy") == (
        "arn:aws-us-gov:iam::aws:policy/AmazonEKS_CNI_Policy"
    )
    config = kubeconfig("c", "https://x", "Q0E=", "eu-west-1")
    assert config["current-context"] == "c"
    assert config["users"][0]["user"]["exec"]["apiVersion"] == (
        "client.authentication.k8s.io/v1beta1"
    )


def test_a_pool_alone_takes_the_cluster_and_subnets_not_a_platform() -> None:
    """GpuNodePoolArgs: the cluster's name and region, subnets from another resource."""
    from tgi_infra.component_args import GpuNodePoolArgs

    def program() -> Any:
        subnets = pulumi.Output.from_input(["subnet-a", "subnet-b"])
        args = GpuNodePoolArgs(
            pool={"name": "gpu", "instanceTypes": ["g6e.xlarge"], "maxSize": 2},
            cluster_name="ml-test",
            region="eu-west-1",
            subnet_ids=subnets,
        )
        return GpuNodePool("team", args).node_group_arn

    mocks, arn = run(program)
    assert arn.startswith("arn:aws:eks:")
    [group] = of_type(mocks, "aws:eks/nodeGroup:NodeGroup")
    assert group.inputs["subnetIds"] == ["subnet-a", "subnet-b"]
    assert group.inputs["clusterName"] == "ml-test"
    [role] = of_type(mocks, "aws:iam/role:Role")
    assert role.inputs["name"] == "team-ml-test-gpu-node"  # named from the component
    assert not mocks.calls  # no cluster lookup when subnets are given


def test_a_pool_takes_its_cluster_name_from_another_resource() -> None:
    """cluster_name may be an Output (a cluster created in the same program): it reaches the
    node group, the access entry and Karpenter's discovery; names and tags use a plain label."""
    from tgi_infra.component_args import GpuNodePoolArgs

    def program() -> Any:
        cluster = aws.eks.Cluster(
            "ml",
            name="ml-created",
            role_arn="arn:aws:iam::123456789012:role/eks",
            vpc_config={"subnet_ids": ["subnet-a"]},
        )
        pools = [
            GpuNodePool(
                f"team-{kind}",
                GpuNodePoolArgs(
                    pool={
                        "name": kind,
                        "instanceTypes": ["g6e.xlarge"],
                        "maxSize": 2,
                        "provisioner": provisioner,
                    },
                    cluster_name=cluster.name,
                    region="eu-west-1",
                    subnet_ids=["subnet-a"],
                ),
            )
            for kind, provisioner in (("gpu", "managed"), ("kgpu", "karpenter"))
        ]
        return pulumi.Output.all(*[p.node_role_arn for p in pools])

    mocks, _ = run(program)
    [group] = of_type(mocks, "aws:eks/nodeGroup:NodeGroup")
    assert group.inputs["clusterName"] == "ml-created"
    [entry] = of_type(mocks, "aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["clusterName"] == "ml-created"
    [node_class] = [
        r for r in mocks.resources if r.inputs.get("kind") == "EC2NodeClass"
    ]
    terms = node_class.inputs["spec"]["subnetSelectorTerms"]
    assert terms == [{"tags": {"karpenter.sh/discovery": "ml-created"}}]
    # Names and tags take the plain label: the component's name, as no platform is given.
    roles = {r.inputs["name"]: r.inputs["tags"] for r in of_type(mocks, "aws:iam/role:Role")}
    assert set(roles) == {"team-gpu-team-gpu-gpu-node", "team-kgpu-team-kgpu-kgpu-node"}
    assert roles["team-gpu-team-gpu-gpu-node"]["tgi-infra/cluster"] == "team-gpu"
    assert not mocks.calls  # no cluster lookup: subnets are given

"""Pulumi mocks that stand in for the engine and the providers, and record what was asked.

`PlanMocks` answers every resource with its inputs plus the outputs a real provider would
add (an id, a generated password, an ARN), and every provider function (`aws.eks.get_cluster`
...) with plausible data. Each area adds its answers to `RESOURCE_OUTPUTS` / `CALL_RESULTS`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi

Outputs = dict[str, Any]

# type token -> function(inputs, name) returning outputs a real provider adds.
RESOURCE_OUTPUTS: dict[str, Callable[[Outputs, str], Outputs]] = {}
# function token -> function(args) returning the function's result.
CALL_RESULTS: dict[str, Callable[[Outputs], Outputs]] = {}


def fake_hex(*parts: str, length: int = 16) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _random_password(inputs: Outputs, name: str) -> Outputs:
    length = int(inputs.get("length", 32))
    return {"result": ("k" + fake_hex("password", name, length=64))[:length]}


def _aws_arn(kind: str) -> Callable[[Outputs, str], Outputs]:
    def outputs(inputs: Outputs, name: str) -> Outputs:
        return {"arn": f"arn:aws:{kind}::123456789012:{name}", "id": name}

    return outputs


RESOURCE_OUTPUTS.update(
    {
        "random:index/randomPassword:RandomPassword": _random_password,
        "aws:iam/role:Role": _aws_arn("iam"),
        "aws:iam/instanceProfile:InstanceProfile": _aws_arn("iam"),
        "aws:ec2/launchTemplate:LaunchTemplate": lambda i, n: {
            "id": f"lt-{fake_hex(n)}",
            "latestVersion": 1,
        },
        "aws:eks/nodeGroup:NodeGroup": _aws_arn("eks"),
    }
)

CALL_RESULTS.update(
    {
        "aws:eks/getCluster:getCluster": lambda args: {
            "name": args.get("name"),
            "arn": f"arn:aws:eks:us-east-1:123456789012:cluster/{args.get('name')}",
            "endpoint": "https://"
            + fake_hex("eks", str(args.get("name")))
            + ".gr7.us-east-1.eks.amazonaws.com",
            "version": "1.33",
            "certificateAuthorities": [{"data": "LS0tLS1CRUdJTi1NT0NLLUNB"}],
            "vpcConfig": {
                "subnetIds": ["subnet-0a1b2c3d", "subnet-1a2b3c4d", "subnet-2a3b4c5d"],
                "clusterSecurityGroupId": "sg-0cluster",
                "vpcId": "vpc-0mock",
            },
            "roleArn": "arn:aws:iam::123456789012:role/eks-cluster",
            "id": args.get("name"),
        },
        "aws:index/getCallerIdentity:getCallerIdentity": lambda args: {
            "accountId": "123456789012",
            "arn": "arn:aws:iam::123456789012:user/plan",
            "userId": "AIDAPLAN",
            "id": "123456789012",
        },
        "aws:index/getPartition:getPartition": lambda args: {
            "partition": "aws",
            "dnsSuffix": "amazonaws.com",
            "id": "aws",
        },
    }
)

# GPU node pools (components/nodepools.py, components/cluster.py).
RESOURCE_OUTPUTS.update(
    {
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment": lambda i, n: {
            "id": f"{i.get('role')}-{fake_hex(n, length=8)}",
        },
        "aws:eks/accessEntry:AccessEntry": lambda i, n: {
            "accessEntryArn": f"arn:aws:eks:us-east-1:123456789012:access-entry/{n}",
            "kubernetesGroups": [],
            "userName": "system:node:{{EC2PrivateDNSName}}",
        },
    }
)
CALL_RESULTS.update(
    {
        "aws:iam/getRole:getRole": lambda args: {
            "name": args.get("name"),
            "arn": f"arn:aws:iam::123456789012:role/{args.get('name')}",
            "id": args.get("name"),
            "assumeRolePolicy": "{}",
            "path": "/",
        },
    }
)


@dataclass
class RecordedResource:
    type: str
    name: str
    inputs: Outputs
    parent: str | None
    urn: str
    provider: str | None = None


@dataclass
class PlanMocks(pulumi.runtime.Mocks):
    """Records every resource registration in order; answers like the providers would."""

    resources: list[RecordedResource] = field(default_factory=list)
    calls: list[tuple[str, Outputs]] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
        outputs = dict(args.inputs)
        extra = RESOURCE_OUTPUTS.get(args.typ)
        if extra:
            outputs.update(extra(args.inputs, args.name))
        resource_id = outputs.pop("id", None) or f"{args.name}-id"
        self.resources.append(
            RecordedResource(
                args.typ,
                args.name,
                dict(args.inputs),
                getattr(args, "parent", None),
                f"urn:pulumi:offline::tgi-infra::{args.typ}::{args.name}",
                getattr(args, "provider", None),
            )
        )
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> Outputs:
        self.calls.append((args.token, dict(args.args)))
        answer = CALL_RESULTS.get(args.token)
        return answer(dict(args.args)) if answer else {}


# Add-ons (components/addons.py): VPC lookup, queue, file system.
CALL_RESULTS.update(
    {
        "aws:ec2/getVpc:getVpc": lambda args: {
            "id": args.get("id") or "vpc-0mock",
            "cidrBlock": "10.0.0.0/16",
            "arn": f"arn:aws:ec2:us-east-1:123456789012:vpc/{args.get('id')}",
        },
    }
)
RESOURCE_OUTPUTS.update(
    {
        "aws:sqs/queue:Queue": lambda i, n: {
            "arn": f"arn:aws:sqs:us-east-1:123456789012:{i.get('name', n)}",
            "url": f"https://sqs.us-east-1.amazonaws.com/123456789012/{i.get('name', n)}",
        },
        "aws:efs/fileSystem:FileSystem": lambda i, n: {"id": f"fs-{fake_hex(n, length=8)}"},
        "aws:cloudwatch/eventRule:EventRule": lambda i, n: {"name": n},
        "aws:ec2/securityGroup:SecurityGroup": lambda i, n: {"id": f"sg-{fake_hex(n, length=8)}"},
    }
)
CALL_RESULTS.update(
    {
        "aws:index/getAvailabilityZones:getAvailabilityZones": lambda args: {
            "names": ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"],
            "zoneIds": ["use1-az1", "use1-az2", "use1-az4", "use1-az6"],
            "id": "us-east-1",
        },
        "aws:ec2/getSubnet:getSubnet": lambda args: {
            "id": args.get("id"),
            "vpcId": "vpc-0mock",
            "cidrBlock": "10.0.128.0/19",
        },
    }
)
# A created cluster (components/cluster.py EksCluster).
RESOURCE_OUTPUTS.update(
    {
        "aws:eks/cluster:Cluster": lambda i, n: {
            "arn": f"arn:aws:eks:us-east-1:123456789012:cluster/{i.get('name', n)}",
            "endpoint": f"https://{fake_hex('eks', n)}.gr7.us-east-1.eks.amazonaws.com",
            "certificateAuthority": {"data": "LS0tLS1CRUdJTi1NT0NLLUNB"},
            "vpcConfig": {**(i.get("vpcConfig") or {}), "clusterSecurityGroupId": "sg-0cluster"},
        },
        "aws:ec2/vpc:Vpc": lambda i, n: {"id": f"vpc-{fake_hex(n, length=8)}"},
        "aws:ec2/subnet:Subnet": lambda i, n: {"id": f"subnet-{fake_hex(n, length=8)}"},
    }
)

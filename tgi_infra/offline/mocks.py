"""Pulumi mocks that stand in for the engine and the providers, and record what was asked.

`PlanMocks` answers every resource with its inputs plus the outputs a real provider would
add (an id, a generated password, an ARN), and every provider function (`aws.eks.get_cluster`
...) with plausible data. Each area adds its answers to `RESOURCE_OUTPUTS` / `CALL_RESULTS`.

Nothing here was read from AWS, so every invented value says so: the account is
`MOCK_ACCOUNT`, ids and subnets contain `mocked`, the region is the stack's own. With
`unknown_computed` (what `tgi-infra plan` uses) the values a provider computes when it
creates a resource (ids, ARNs, generated passwords) are unknown, as in `pulumi preview`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi

Outputs = dict[str, Any]
MOCK_ACCOUNT = "000000000000"
"""The AWS account of every mocked ARN: no real account has it."""
MOCK_MARK = "mocked"
_REGION = {"value": "us-east-1"}

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
        return {"arn": f"arn:aws:{kind}::{MOCK_ACCOUNT}:{name}", "id": name}

    return outputs


RESOURCE_OUTPUTS.update(
    {
        "random:index/randomPassword:RandomPassword": _random_password,
        "aws:iam/role:Role": _aws_arn("iam"),
        "aws:iam/instanceProfile:InstanceProfile": _aws_arn("iam"),
        "aws:ec2/launchTemplate:LaunchTemplate": lambda i, n: {
            "id": f"lt-mocked{fake_hex(n, length=8)}",
            "latestVersion": 1,
        },
        "aws:eks/nodeGroup:NodeGroup": _aws_arn("eks"),
    }
)

CALL_RESULTS.update(
    {
        "aws:eks/getCluster:getCluster": lambda args: {
            "name": args.get("name"),
            "arn": f"arn:aws:eks:{_REGION['value']}:{MOCK_ACCOUNT}:cluster/{args.get('name')}",
            "endpoint": f"https://{MOCK_MARK}-"
            + fake_hex("eks", str(args.get("name")))
            + f".gr7.{_REGION['value']}.eks.amazonaws.com",
            "version": "1.33",
            "certificateAuthorities": [{"data": "TU9DS0VELUNB"}],  # base64 of MOCKED-CA
            "vpcConfig": {
                "subnetIds": [f"subnet-{MOCK_MARK}{i}" for i in ("0a", "1b", "2c")],
                "clusterSecurityGroupId": f"sg-{MOCK_MARK}",
                "vpcId": f"vpc-{MOCK_MARK}",
            },
            "roleArn": f"arn:aws:iam::{MOCK_ACCOUNT}:role/eks-cluster",
            "id": args.get("name"),
        },
        "aws:index/getCallerIdentity:getCallerIdentity": lambda args: {
            "accountId": MOCK_ACCOUNT,
            "arn": f"arn:aws:iam::{MOCK_ACCOUNT}:user/plan",
            "userId": "AIDAPLAN",
            "id": MOCK_ACCOUNT,
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
            "accessEntryArn": f"arn:aws:eks:{_REGION['value']}:{MOCK_ACCOUNT}:access-entry/{n}",
            "kubernetesGroups": [],
            "userName": "system:node:{{EC2PrivateDNSName}}",
        },
    }
)
CALL_RESULTS.update(
    {
        "aws:iam/getRole:getRole": lambda args: {
            "name": args.get("name"),
            "arn": f"arn:aws:iam::{MOCK_ACCOUNT}:role/{args.get('name')}",
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
    region: str = "us-east-1"
    unknown_computed: bool = False
    """Answer what a provider computes at creation (ids, ARNs, passwords) as unknown."""
    unknown: list[tuple[str, str, str]] = field(default_factory=list)
    """(type, name, output) answered unknown."""

    def __post_init__(self) -> None:
        _REGION["value"] = self.region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, Outputs]:
        outputs = dict(args.inputs)
        extra = RESOURCE_OUTPUTS.get(args.typ)
        computed = extra(args.inputs, args.name) if extra else {}
        if self.unknown_computed:
            from pulumi.runtime.rpc import UNKNOWN

            names = ["id", *(k for k in computed if k != "id")]
            self.unknown += [(args.typ, args.name, k) for k in names]
            outputs.update({k: UNKNOWN for k in computed if k != "id"})
            resource_id = ""  # unknown in a preview
        else:
            outputs.update(computed)
            resource_id = outputs.pop("id", None) or f"{args.name}-id"
        outputs.pop("id", None)
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

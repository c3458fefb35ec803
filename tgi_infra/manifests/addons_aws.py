"""Pure AWS decisions for the add-ons: IAM policies, the Karpenter interruption rules, EFS
throughput sized from the weights to load. Plain dicts and numbers; nothing imports Pulumi.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tgi_infra.config.models import PlatformConfig

MIB = 2**20


def service_trust_policy(service: str) -> dict[str, Any]:
    """A role trust policy for one AWS service principal (AssumeRole and TagSession)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }


POD_IDENTITY_TRUST_POLICY = service_trust_policy("pods.eks.amazonaws.com")
# AWS-managed policy for the EFS CSI driver's controller.
EFS_CSI_POLICY = "service-role/AmazonEFSCSIDriverPolicy"

# aws/karpenter-provider-aws 1d92708 website/.../getting-started-with-karpenter/
# cloudformation.yaml: the EventBridge rules that feed the interruption queue.
INTERRUPTION_RULES: dict[str, dict[str, list[str]]] = {
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Spot Instance Interruption Warning"],
    },
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "instance-state-change": {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Instance State-change Notification"],
    },
    "capacity-reservation-interruption": {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"],
    },
}
INTERRUPTION_QUEUE_RETENTION_SECONDS = 300  # same template: MessageRetentionPeriod


def interruption_queue_name(cluster: str) -> str:
    """Karpenter's getting-started names the queue after the cluster (SQS: ≤ 80 chars)."""
    return f"{cluster}-karpenter"[:80]


def interruption_queue_policy(queue_arn: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Id": "EC2InterruptionPolicy",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
            },
            {
                "Sid": "DenyHTTP",
                "Effect": "Deny",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                "Principal": "*",
            },
        ],
    }


def karpenter_controller_policy(
    cfg: PlatformConfig, node_role_arns: list[str], queue_arn: str | None
) -> dict[str, Any]:
    """The controller's permissions: the actions of Karpenter's CloudFormation template,
    scoped to the region, the cluster's tag and the pools' node roles (PassRole)."""
    region = cfg.cluster.region
    # Karpenter tags what it launches with the cluster's ownership tag.
    tag = {f"aws:RequestTag/kubernetes.io/cluster/{cfg.cluster.name}": "owned"}
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Read",
            "Effect": "Allow",
            "Resource": "*",
            "Action": [
                "ec2:DescribeCapacityReservations",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribePlacementGroups",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
                "ec2:DescribeInstanceStatus",
                "pricing:GetProducts",
                "ssm:GetParameter",
                "iam:GetInstanceProfile",
                "iam:ListInstanceProfiles",
            ],
            "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
        },
        {
            "Sid": "Launch",
            "Effect": "Allow",
            "Resource": "*",
            "Action": [
                "ec2:RunInstances",
                "ec2:CreateFleet",
                "ec2:CreateLaunchTemplate",
                "ec2:CreateTags",
            ],
            "Condition": {"StringEquals": {"aws:RequestedRegion": region, **tag}},
        },
        {
            "Sid": "Terminate",
            "Effect": "Allow",
            "Resource": "*",
            "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            "Condition": {
                "StringLike": {"ec2:ResourceTag/karpenter.sh/nodepool": "*"},
            },
        },
        {
            "Sid": "InstanceProfiles",
            "Effect": "Allow",
            "Resource": "*",
            "Action": [
                "iam:CreateInstanceProfile",
                "iam:TagInstanceProfile",
                "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:DeleteInstanceProfile",
            ],
        },
        {
            "Sid": "Cluster",
            "Effect": "Allow",
            "Resource": f"arn:aws:eks:{region}:*:cluster/{cfg.cluster.name}",
            "Action": "eks:DescribeCluster",
        },
    ]
    if node_role_arns:
        statements.append(
            {
                "Sid": "PassNodeRole",
                "Effect": "Allow",
                "Resource": sorted(node_role_arns),
                "Action": "iam:PassRole",
                "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com"]}},
            }
        )
    if queue_arn:
        statements.append(
            {
                "Sid": "Interruption",
                "Effect": "Allow",
                "Resource": queue_arn,
                "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def efs_read_mibps(cfg: PlatformConfig, weight_bytes: Mapping[str, int]) -> int:
    """MiB/s the cache must serve for every tier at replicas.max to read its weights within
    `addons.efs.loadSeconds` (each replica reads its whole checkpoint at start)."""
    total = sum(weight_bytes.get(t.name, 0) * t.replicas.max for t in cfg.tiers)
    return max(1, math.ceil(total / MIB / cfg.addons.efs.load_seconds))


def efs_file_system_args(cfg: PlatformConfig, weight_bytes: Mapping[str, int]) -> dict[str, Any]:
    """aws.efs.FileSystem arguments: encrypted, the chosen throughput mode; provisioned
    throughput (MiB/s) sized by `efs_read_mibps`."""
    efs = cfg.addons.efs
    args: dict[str, Any] = {
        "encrypted": True,
        "performance_mode": "generalPurpose",
        "throughput_mode": efs.throughput_mode,
        "tags": {"Name": f"{cfg.cluster.name}-tgi-cache", "tgi-infra/cluster": cfg.cluster.name},
    }
    if efs.throughput_mode == "provisioned":
        args["provisioned_throughput_in_mibps"] = efs_read_mibps(cfg, weight_bytes)
    return args

"""Pure builders of what the components used to decide: the HF token Secret, the token's
fingerprint annotation, and the IAM documents of a GPU node pool's role."""

from __future__ import annotations

import hashlib
from typing import Any

from tgi_infra import naming

HF_TOKEN_KEY = "token"
FINGERPRINT_ANNOTATION = "tgi-infra/hf-token-sha256"
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


def token_fingerprint(token: str) -> str:
    """A short hash of the HF token: the download Job's pod annotation (a rotation replaces it).

    A 64-bit prefix of the token's SHA-256 reveals nothing usable; kept secret it would
    mark the whole Deployment spec secret and hide it from every preview."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def hf_token_secret(namespace: Any, token: Any, *, instance: str) -> dict[str, Any]:
    """The Secret (key `token`) the download Jobs and gated-model pods read; `namespace`
    and `token` may be Pulumi inputs (the token is kept secret by the caller)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": naming.hf_token_secret_name(),
            "namespace": namespace,
            "labels": naming.labels("credentials", instance=instance),
        },
        "type": "Opaque",
        "stringData": {HF_TOKEN_KEY: token},
    }


def aws_partition(region: str) -> str:
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"


def managed_policy_arn(region: str, policy: str) -> str:
    return f"arn:{aws_partition(region)}:iam::aws:policy/{policy}"


def node_policy_arns(region: str) -> dict[str, str]:
    """Short name -> ARN of each AWS managed policy an EKS node role needs."""
    return {short: managed_policy_arn(region, p) for short, p in NODE_POLICIES.items()}

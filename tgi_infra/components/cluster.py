"""Cluster wiring: the AWS and Kubernetes providers for an existing EKS cluster.

The cluster is looked up by name (`aws.eks.get_cluster`); the kubeconfig authenticates
with `aws eks get-token` (no credential in the kubeconfig or the state). Stacks whose
cluster is only reachable another way set `cluster.kubeconfigFromSecret` and store the
kubeconfig as the secret config value `tgi-infra:kubeconfig`.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from tgi_infra.config.models import ClusterConfig, PlatformConfig

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

"""`addons:` in the stack config: one entry per controller the platform's objects need.

Each entry has a `mode`: `install` (a pinned Helm release, plus the AWS resources it
needs), `existing` (the cluster already runs it: nothing is installed, `tgi-infra doctor`
checks it is there) or `off` (not used; objects that need it are refused by the checks).
The default is `existing`, what the platform assumed before add-ons existed. Versions
default to the pins in `tgi_infra.manifests.addons`; `values` are extra Helm values
deep-merged over the managed ones (a key the platform manages cannot be overridden).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tgi_infra.config.base import DnsLabel, Model

AddonMode = Literal["install", "existing", "off"]
ChartVersion = str


def _mode(default: AddonMode = "existing") -> Any:
    return Field(
        default,
        description="install: a pinned Helm release; existing: the cluster already runs it "
        "(checked by `tgi-infra doctor`); off: not used, objects needing it are refused.",
    )


def _version() -> Any:
    return Field(
        None,
        pattern=r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$",
        description="Chart version; default: the pin in tgi_infra/manifests/addons.py. "
        "Checked against the projects' compatibility tables.",
    )


def _values() -> Any:
    return Field(
        default_factory=dict,
        description="Extra Helm values, deep-merged over the managed ones; keys the "
        "platform manages (listed in docs/day0.md) are refused.",
    )


class Addon(Model):
    """One controller: how it is provided, at which chart version, with which extra values."""

    mode: AddonMode = _mode()
    version: ChartVersion | None = _version()
    namespace: DnsLabel | None = Field(
        None, description="Namespace of the release; default: the add-on's own (docs/day0.md)."
    )
    values: dict[str, Any] = _values()


class EnvoyGatewayAddon(Addon):
    """Envoy Gateway, configured for Envoy AI Gateway and global rate limits."""

    redis: Literal["install", "existing"] = Field(
        "install",
        description="The rate-limit backend: install a single Redis Deployment/Service "
        "beside Envoy Gateway, or use `redisUrl`.",
    )
    redis_url: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9.-]+:\d{1,5}$",
        description="host:port of an existing Redis (redis: existing); default: the "
        "installed one, redis.<namespace>.svc.cluster.local:6379.",
    )


class PrometheusAddon(Addon):
    """The Prometheus operator: kube-prometheus-stack, or the operator alone."""

    stack: Literal["kube-prometheus-stack", "operator-only"] = Field(
        "kube-prometheus-stack",
        description="kube-prometheus-stack: operator, Prometheus, Alertmanager, Grafana, "
        "node-exporter; operator-only: the chart with only the operator and its CRDs, "
        "beside a Prometheus you run yourself.",
    )


class KarpenterAddon(Addon):
    """The Karpenter controller, its IAM role (EKS Pod Identity) and interruption queue."""

    interruption_queue: bool = Field(
        True,
        description="Create the SQS interruption queue and its EventBridge rules (Spot "
        "interruption, rebalance, instance state change, AWS Health, capacity reservation).",
    )


class EfsAddon(Addon):
    """The EFS CSI driver, an EFS file system, mount targets, security group, StorageClass."""

    storage_class_name: DnsLabel = Field(
        "efs-sc",
        description="Name of the StorageClass created; set `cache.storageClassName` to it "
        "for ReadWriteMany caches.",
    )
    throughput_mode: Literal["elastic", "provisioned", "bursting"] = Field(
        "elastic",
        description="EFS throughput mode. provisioned: sized from the weights to load "
        "(see loadSeconds).",
    )
    load_seconds: int = Field(
        600,
        ge=30,
        le=7200,
        description="Seconds in which every tier at replicas.max should be able to read "
        "its weights from the cache; sizes provisioned throughput and the plan's figure.",
    )


class NvidiaAddon(Addon):
    """How pods get nvidia.com/gpu: the NVIDIA device plugin or the GPU operator. Default
    install (the device plugin DaemonSet, as before add-ons existed);
    `cluster.gpuOperatorInstalled: true` means existing."""

    mode: AddonMode = _mode("install")

    kind: Literal["device-plugin", "gpu-operator"] = Field(
        "device-plugin",
        description="device-plugin: the DaemonSet of manifests/nodepools.py (install); "
        "gpu-operator: NVIDIA's gpu-operator chart (driver off: the EKS GPU AMIs ship it).",
    )


class ClusterIssuerConfig(Model):
    """An ACME ClusterIssuer that solves HTTP-01 through the platform's Gateway."""

    name: DnsLabel = Field(
        "letsencrypt", description="ClusterIssuer name; set gateway.clusterIssuer."
    )
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", description="ACME account e-mail.")
    server: str = Field(
        "https://acme-v02.api.letsencrypt.org/directory",
        pattern=r"^https://",
        description="ACME directory URL (Let's Encrypt production by default).",
    )


class CertManagerAddon(Addon):
    """cert-manager with Gateway API support, and optionally a ClusterIssuer."""

    mode: AddonMode = _mode("off")
    cluster_issuer: ClusterIssuerConfig | None = Field(
        None, description="Create this ACME ClusterIssuer (install only)."
    )


class AddonsConfig(Model):
    """Every controller the platform can install or rely on."""

    envoy_gateway: EnvoyGatewayAddon = Field(
        EnvoyGatewayAddon(), description="Envoy Gateway (Gateway API CRDs, its own CRDs)."
    )
    ai_gateway: Addon = Field(
        Addon(), description="Envoy AI Gateway: ai-gateway-crds-helm and ai-gateway-helm."
    )
    prometheus: PrometheusAddon = Field(
        PrometheusAddon(), description="Prometheus operator (ServiceMonitor, PrometheusRule)."
    )
    prometheus_adapter: Addon = Field(
        Addon(), description="prometheus-adapter: the custom metrics the HPAs read."
    )
    keda: Addon = Field(Addon(), description="KEDA (ScaledObject), for autoscaler: keda.")
    karpenter: KarpenterAddon = Field(
        KarpenterAddon(), description="Karpenter (NodePool, EC2NodeClass)."
    )
    efs: EfsAddon = Field(EfsAddon(), description="EFS for ReadWriteMany model caches.")
    nvidia: NvidiaAddon = Field(NvidiaAddon(), description="nvidia.com/gpu on GPU nodes.")
    metrics_server: Addon = Field(
        Addon(), description="metrics-server (resource metrics API: kubectl top, CPU HPAs)."
    )
    cert_manager: CertManagerAddon = Field(
        CertManagerAddon(), description="cert-manager (off by default)."
    )

    def entries(self) -> dict[str, Addon]:
        """Each add-on by its YAML key (camelCase)."""
        return {
            (field.alias or name): getattr(self, name)
            for name, field in type(self).model_fields.items()
        }


class SystemNodesConfig(Model):
    """The created cluster's node group for controllers (no GPU, no taint)."""

    instance_type: str = Field("m7i.large", description="EC2 instance type of system nodes.")
    min_size: int = Field(2, ge=1, le=20, description="Fewest system nodes.")
    max_size: int = Field(3, ge=1, le=50, description="Most system nodes.")
    disk_size_gib: int = Field(50, ge=20, le=1000, description="Root volume, GiB.")


class ClusterCreateSettings(Model):
    """How `cluster.create: true` builds the cluster."""

    kubernetes_version: str = Field(
        "1.33",
        pattern=r"^1\.\d{2}$",
        description="EKS Kubernetes version (Envoy AI Gateway 1.1 needs 1.32 or newer).",
    )
    vpc_cidr: str = Field(
        "10.0.0.0/16",
        pattern=r"^\d{1,3}(\.\d{1,3}){3}/(1[6-9]|2[0-4])$",
        description="CIDR of the VPC created when `subnetIds` is empty.",
    )
    availability_zones: int = Field(
        3,
        ge=2,
        le=6,
        description="Zones of the created VPC: one public and one private "
        "subnet each, one NAT gateway in the first zone.",
    )
    subnet_ids: list[str] = Field(
        default_factory=list,
        description="Existing private subnets for the cluster and nodes; when set no VPC "
        "is created (tag them `karpenter.sh/discovery: <cluster>` for Karpenter).",
    )
    admin_principal_arns: list[str] = Field(
        default_factory=list,
        description="IAM principals given cluster-admin through EKS access entries.",
    )
    system_nodes: SystemNodesConfig = Field(
        SystemNodesConfig(), description="The system node group for the controllers."
    )

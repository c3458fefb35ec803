"""The stack's typed configuration: one pydantic model per concern.

YAML keys are camelCase (Pulumi's convention), Python fields snake_case. Unknown keys are
errors. Field constraints that need no other field live here; rules that relate fields or
need model facts live in ``tgi_infra.checks`` so that every problem is reported at once.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from tgi_infra.engines import EngineName

DEFAULT_TGI_VERSION = "3.3.6"

DnsLabel = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$"),
]
"""A lowercase DNS label short enough to prefix Kubernetes object names (≤ 40 chars)."""

# TGI's launcher enums (launcher/src/main.rs): Quantization, Dtype, KVCacheDtype.
Quantize = Literal[
    "awq",
    "compressed-tensors",
    "eetq",
    "exl2",
    "gptq",
    "marlin",
    "bitsandbytes",
    "bitsandbytes-nf4",
    "bitsandbytes-fp4",
    "fp8",
]
Dtype = Literal["float16", "bfloat16"]
KvCacheDtype = Literal["fp8_e4m3fn", "fp8_e5m2"]
MAX_REPLICAS = 500
MAX_NODES = 1000  # above any EKS node group or Karpenter pool this library sizes
MAX_TOKENS = 10_000_000  # above any context length a GPU holds
PINNED_REVISION = re.compile(r"^[0-9a-f]{40}$")


class Model(BaseModel):
    """Base for every config model: camelCase aliases, unknown keys rejected, strict types
    (no `true` or `2.0` turned into an integer, no number into a string)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=True,
    )


class ClusterConfig(Model):
    """The existing EKS cluster the platform is deployed into."""

    name: str = Field(min_length=1, description="Name of the existing EKS cluster.")
    region: str = Field(
        pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="AWS region, e.g. us-east-1."
    )
    namespace: DnsLabel = Field("tgi", description="Namespace for the TGI tiers.")
    gateway_namespace: DnsLabel = Field(
        "envoy-gateway-system", description="Namespace of the Envoy Gateway data plane."
    )
    monitoring_namespace: DnsLabel = Field(
        "monitoring", description="Namespace of Prometheus; allowed to scrape TGI pods."
    )
    kubeconfig_from_secret: bool = Field(
        False,
        description="Read the kubeconfig from secret config `tgi-infra:kubeconfig` "
        "instead of building one from the EKS cluster (`aws eks get-token`).",
    )
    gpu_operator_installed: bool = Field(
        False,
        description="The NVIDIA GPU operator (or a device plugin) already runs on the "
        "cluster; when false, the NVIDIA device plugin DaemonSet is deployed.",
    )


class NodePoolConfig(Model):
    """A pool of GPU nodes: an EKS managed node group or a Karpenter NodePool."""

    name: DnsLabel
    provisioner: Literal["managed", "karpenter"] = "managed"
    instance_types: list[str] = Field(
        min_length=1, description="AWS instance types, e.g. [g6e.xlarge]. One GPU model per pool."
    )
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    min_size: int = Field(0, ge=0, le=MAX_NODES)
    max_size: int = Field(ge=1, le=MAX_NODES)
    desired_size: int | None = Field(
        None, ge=0, le=MAX_NODES, description="Managed only; defaults to minSize."
    )
    disk_size_gib: int = Field(
        200, ge=50, le=16384, description="Root volume: images plus the node's model cache."
    )
    ami_type: Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"] = "AL2023_x86_64_NVIDIA"
    subnet_ids: list[str] = Field(
        default_factory=list,
        description="Managed only; defaults to the cluster's subnets. Karpenter selects "
        "subnets by the `karpenter.sh/discovery` tag.",
    )
    labels: dict[str, str] = Field(default_factory=dict)
    gpu_limit: int | None = Field(
        None, ge=1, description="Karpenter only: the pool's `limits` on nvidia.com/gpu."
    )
    node_role_name: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="An existing IAM role for the nodes (e.g. KarpenterNodeRole-<cluster>, "
        "which Karpenter's controller may already pass); when unset a role is created.",
    )


class ModelSpec(Model):
    """Model facts for a model the Hub cannot tell us about (private, air-gapped)."""

    architecture: str = "LlamaForCausalLM"
    num_layers: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    num_attention_heads: int = Field(ge=1)
    num_kv_heads: int = Field(ge=1)
    head_dim: int | None = Field(None, ge=1)
    vocab_size: int = Field(ge=1)
    max_position_embeddings: int = Field(ge=1)
    weight_bytes: int = Field(ge=1, description="Checkpoint size as stored, in bytes.")
    torch_dtype: Dtype = "bfloat16"
    checkpoint_quantization: str | None = None
    num_experts: int | None = Field(None, ge=1)


class ReplicasConfig(Model):
    min: int = Field(1, ge=0, le=MAX_REPLICAS)
    max: int = Field(1, ge=1, le=MAX_REPLICAS)


class AutoscalingConfig(Model):
    """Per-tier autoscaling on queue depth (llm:queue_requests per pod, whatever the engine)."""

    queue_size_target: int = Field(
        8, ge=1, description="Average queued requests per pod above which the tier scales out."
    )
    gpu_utilization_target: int | None = Field(
        None, ge=1, le=100, description="Optional second signal: DCGM GPU utilization %."
    )
    scale_up_stabilization_seconds: int | None = Field(
        None,
        ge=0,
        le=3600,
        description="Override the scale-up window derived from the cold start (weights).",
    )
    scale_down_stabilization_seconds: int | None = Field(
        None,
        ge=0,
        le=3600,
        description="Override the scale-down window derived from the cold start (weights).",
    )


class AlertThresholds(Model):
    queue_size: int = Field(16, ge=1, description="Queued requests per pod, sustained 10m.")
    time_to_first_token_p95_seconds: float = Field(5.0, gt=0)
    error_ratio: float = Field(0.05, gt=0, le=1)
    kv_cache_usage_ratio: float = Field(0.95, gt=0, le=1)
    replicas_at_max_minutes: int = Field(
        30, ge=5, description="Alert when the autoscaler sits at replicas.max this long."
    )


class TierConfig(Model):
    """One model tier: a TGI Deployment, its router Service, cache and autoscaler."""

    name: DnsLabel
    model_id: str = Field(min_length=1, description="Hub id (org/name) or a local path.")
    revision: str = Field(
        "main", min_length=1, description="Hub revision; a 40-hex commit sha pins it."
    )
    served_model_name: str | None = Field(
        None, description="The `model` clients send; defaults to modelId."
    )
    node_pool: DnsLabel
    engine: EngineName = Field(
        "tgi",
        description="Serving engine: tgi (default), vllm or sglang. Changing it is a model "
        "swap: a new Deployment becomes ready before the Service moves (blue/green).",
    )
    image_version: str = Field(
        DEFAULT_TGI_VERSION,
        pattern=r"^([0-9A-Za-z][0-9A-Za-z._-]*|sha256:[0-9a-f]{64})$",
        description="TGI image tag (e.g. 3.3.6), or sha256:<digest> to pin by digest.",
    )
    num_shard: int = Field(1, ge=1, le=8)
    quantize: Quantize | None = None
    dtype: Dtype | None = None
    kv_cache_dtype: KvCacheDtype | None = None
    max_input_tokens: int = Field(ge=1, le=MAX_TOKENS)
    max_total_tokens: int = Field(ge=2, le=MAX_TOKENS)
    max_batch_prefill_tokens: int | None = Field(
        None,
        ge=1,
        le=MAX_TOKENS,
        description="Defaults to maxInputTokens + 50 (TGI 2.x's default). Always passed "
        "to TGI, so the plan and the pods agree.",
    )
    max_concurrent_requests: int = Field(128, ge=1, le=100_000)
    cuda_memory_fraction: float = Field(1.0, gt=0, le=1)
    run_as_user: int | None = Field(
        None,
        ge=1,
        description="UID for the tier's TGI and download pods. Unset: the image's own user "
        "(root in TGI's official image, TGI issue #3225) with every capability dropped. Set it "
        "(e.g. 10001) only for an image you have seen start as that user.",
    )
    trust_remote_code: bool = False
    replicas: ReplicasConfig = ReplicasConfig()
    autoscaling: AutoscalingConfig = AutoscalingConfig()
    alerts: AlertThresholds = AlertThresholds()
    cpu_request: str | None = Field(
        None,
        pattern=r"^\d+(\.\d+)?m?$",
        description="CPU per replica; default: its share of the pool's node, at most 4 "
        "cores per shard.",
    )
    memory_request: str | None = Field(
        None,
        pattern=r"^\d+(Ki|Mi|Gi|Ti)$",
        description="Host memory per replica (also its limit); default: its share of the "
        "pool's node, at most 16Gi per shard.",
    )
    model_spec: ModelSpec | None = None
    cache_size_gib: int | None = Field(
        None, ge=1, description="Override the weight-cache volume size (default: weights × 1.3)."
    )
    slo: SloConfig | None = Field(
        None,
        description="Latency targets at a peak request rate; validate checks them at "
        "replicas.max against the performance model (docs/capacity.md). Unset: none.",
    )
    benchmark: BenchmarkConfig | None = Field(
        None,
        description="Renders a Job running `vllm bench serve` at the tier's Service "
        "(docs/capacity.md); `tgi-infra bench-report` compares its results with the plan. "
        "Unset: no Job.",
    )

    @property
    def effective_max_batch_prefill_tokens(self) -> int:
        if self.max_batch_prefill_tokens is not None:
            return self.max_batch_prefill_tokens
        return self.max_input_tokens + 50

    @property
    def model_name(self) -> str:
        return self.served_model_name or self.model_id

    @property
    def revision_is_pinned(self) -> bool:
        return bool(PINNED_REVISION.match(self.revision))


class TenantConfig(Model):
    """A team or customer with its own API key and limits."""

    name: DnsLabel
    tiers: list[DnsLabel] = Field(min_length=1, description="Tiers this tenant may call.")
    requests_per_minute: int = Field(ge=1)
    tokens_per_minute: int = Field(ge=1, description="Total (input + output) tokens.")
    key_version: int = Field(
        1,
        ge=1,
        description="Bump to rotate a generated API key: the old key stops working at the "
        "next `pulumi up` (keys supplied in secret config `tgi-infra:tenantKeys` ignore it).",
    )


class GatewayConfig(Model):
    enabled: bool = True
    hostname: str = Field(
        "llm.example.com",
        pattern=r"^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
    )
    gateway_class_name: str = "envoy-gateway"
    tls_secret_name: DnsLabel = Field(
        "tgi-gateway-tls", description="TLS certificate Secret (e.g. from cert-manager)."
    )
    cluster_issuer: str | None = Field(
        None,
        min_length=1,
        description="cert-manager ClusterIssuer: when set, the Gateway is annotated so "
        "cert-manager (Gateway API support on) issues tlsSecretName for the hostname.",
    )
    tier_requests_per_minute: int | None = Field(
        None, ge=1, description="Global limit per tier, protecting the backend."
    )
    overcommit_warn_ratio: float = Field(1.0, gt=0)
    overcommit_error_ratio: float = Field(3.0, gt=0)


class DashboardConfig(Model):
    enabled: bool = True
    sidecar_label: dict[str, str] = Field(default_factory=lambda: {"grafana_dashboard": "1"})


class ObservabilityConfig(Model):
    scrape_mode: Literal["servicemonitor", "podmonitor", "annotations"] = "servicemonitor"
    prometheus_selector: dict[str, str] = Field(
        default_factory=lambda: {"release": "kube-prometheus-stack"},
        description="Labels your Prometheus selects monitors and rules by.",
    )
    autoscaler: Literal["hpa", "keda", "none"] = "hpa"
    prometheus_url: str = Field(
        "http://kube-prometheus-stack-prometheus.monitoring.svc:9090",
        description="Prometheus query URL for KEDA's trigger.",
    )
    otlp_endpoint: str | None = Field(None, description="OTLP gRPC endpoint for traces.")
    dashboard: DashboardConfig = DashboardConfig()
    scrape_interval: str = Field(
        "15s", pattern=r"^[1-9][0-9]*(s|m)$", description="How often Prometheus scrapes TGI."
    )
    runbook_url: str = Field(
        "docs/runbook.md",
        description="Base of the runbook links in alerts (e.g. the URL of docs/runbook.md "
        "in your Git host); each alert appends its #anchor.",
    )
    dcgm_exported_labels: bool = Field(
        True,
        description="DCGM exporter series carry the GPU's pod as exported_pod/"
        "exported_namespace (Prometheus renames them unless the scrape honors labels); "
        "false when they arrive as pod/namespace.",
    )


class CacheConfig(Model):
    mode: Literal["per-tier", "shared"] = Field(
        "per-tier", description="A PVC per tier (ReadWriteOnce) or one ReadWriteMany volume."
    )
    access_mode: Literal["ReadWriteMany", "ReadWriteOnce"] = Field(
        "ReadWriteMany",
        description="ReadWriteOnce (EBS) serves one node only: fine for a single replica.",
    )
    storage_class_name: str | None = Field(
        None,
        description="e.g. efs-sc or fsx-sc for ReadWriteMany; cluster default if unset. "
        "Changing it (or accessMode) plans new claims under new names, created before the "
        "old ones are let go.",
    )
    headroom_ratio: float = Field(1.3, ge=1.0, le=4.0)
    retain_on_delete: bool = Field(
        True,
        description="Keep weight PersistentVolumeClaims on the cluster when Pulumi deletes "
        "or replaces them (a removed tier, a model swap, a storage change): their data stays "
        "until you delete them. false lets `pulumi up` delete them.",
    )


class CapacityConfig(Model):
    min_full_length_requests: int = Field(
        4,
        ge=1,
        description="Warn when the KV cache holds fewer full-length (maxTotalTokens) requests.",
    )


class PlatformConfig(Model):
    """The whole stack: `tgi-infra:platform` in `stacks/Pulumi.<env>.yaml`."""

    environment: Literal["dev", "staging", "prod"] = "dev"
    cluster: ClusterConfig
    node_pools: list[NodePoolConfig] = Field(min_length=1)
    tiers: list[TierConfig] = Field(min_length=1)
    tenants: list[TenantConfig] = Field(default_factory=list)
    gateway: GatewayConfig = GatewayConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    cache: CacheConfig = CacheConfig()
    capacity: CapacityConfig = CapacityConfig()
    usage_stats: Literal["on", "off", "no-stack"] = Field(
        "off", description="TGI's usage statistics (USAGE_STATS); off for air-gapped clusters."
    )

    def tier(self, name: str) -> TierConfig:
        return next(t for t in self.tiers if t.name == name)

    def node_pool(self, name: str) -> NodePoolConfig:
        return next(p for p in self.node_pools if p.name == name)


# Per-tier performance sections live in their own module (they subclass Model above).
from tgi_infra.config.performance import BenchmarkConfig, SloConfig  # noqa: E402

TierConfig.model_rebuild()
PlatformConfig.model_rebuild()

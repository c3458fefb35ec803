"""The stack's typed configuration: one pydantic model per concern.

YAML keys are camelCase (Pulumi's convention), Python fields snake_case. Unknown keys are
errors. Field constraints that need no other field live here; rules that relate fields or
need model facts live in ``tgi_infra.checks`` so that every problem is reported at once.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from tgi_infra.config.addons import AddonsConfig, ClusterCreateSettings
from tgi_infra.config.base import DnsLabel, Model
from tgi_infra.engines import DEFAULT_VERSIONS, EngineName

DEFAULT_TGI_VERSION = DEFAULT_VERSIONS["tgi"]

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
# A tier's quantize / dtype / kvCacheDtype: legal values differ per engine and are checked
# against the engine's own CLI (`<engine>-quantize-value` ...), so the field takes a token.
EngineChoice = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
]
EngineArgValue = bool | int | float | str | list[bool | int | float | str] | dict[str, Any]
MAX_REPLICAS = 500
REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"
"""An AWS region name (us-east-1, us-gov-west-1): cluster.region, and aws:region beside it."""
MAX_NODES = 1000  # above any EKS node group or Karpenter pool this library sizes
MAX_TOKENS = 10_000_000  # above any context length a GPU holds
PINNED_REVISION = re.compile(r"^[0-9a-f]{40}$")


_URL_HOST_PORT = re.compile(r"^(?:https?://)?([^/:]+)(?::([0-9]+))?")


def _dns_host_and_port(value: str | None) -> str | None:
    """A URL whose host is a DNS name (labels of 1 to 63 characters, 253 in all) and whose
    port, if any, is 1-65535: what a resolver and a NetworkPolicy port accept."""
    if value is None:
        return None
    found = _URL_HOST_PORT.match(value)
    host, port = (found.group(1), found.group(2)) if found else ("", None)
    if len(host) > 253 or any(not 1 <= len(label) <= 63 for label in host.split(".")):
        raise ValueError(
            f"host {host[:80]!r} is not a DNS name: each dot-separated label is 1 to 63 "
            "characters and the name at most 253"
        )
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError(f"port {port} is outside 1-65535")
    return value


DnsUrl = Annotated[str, AfterValidator(_dns_host_and_port)]

class ClusterConfig(Model):
    """The EKS cluster the platform is deployed into: an existing one, or one it creates."""

    name: str = Field(
        min_length=1,
        max_length=100,
        description="Name of the EKS cluster: looked up when `create` is false, the name of "
        "the new cluster when it is true.",
    )
    region: str = Field(pattern=REGION_PATTERN, description="AWS region, e.g. us-east-1.")
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
        "cluster; when false, the NVIDIA device plugin DaemonSet is deployed. Same as "
        "`addons.nvidia.mode: existing`.",
    )
    create: bool = Field(
        False,
        description="Create the EKS cluster (control plane, VPC or given subnets, a system "
        "node group for the controllers, access entries, the Pod Identity agent) instead of "
        "looking up an existing one. Excludes `kubeconfigFromSecret`.",
    )
    settings: ClusterCreateSettings = Field(
        ClusterCreateSettings(),
        description="How a created cluster is built (only read when `create` is true).",
    )


class NodePoolConfig(Model):
    """A pool of GPU nodes: an EKS managed node group or a Karpenter NodePool."""

    name: DnsLabel = Field(
        description="Pool name: nodes carry the label `tgi-infra/pool=<name>` that tiers "
        "select (tiers[].nodePool); part of the node group, role and Karpenter names."
    )
    provisioner: Literal["managed", "karpenter"] = Field(
        "managed",
        description="`managed`: an EKS managed node group (min/max/desired sizes apply); "
        "`karpenter`: a Karpenter NodePool and EC2NodeClass (Karpenter must run on the "
        "cluster; desiredSize does not apply).",
    )
    instance_types: list[str] = Field(
        min_length=1, description="AWS instance types, e.g. [g6e.xlarge]. One GPU model per pool."
    )
    capacity_type: Literal["ON_DEMAND", "SPOT"] = Field(
        "ON_DEMAND",
        description="EC2 purchase option of the nodes (node group capacityType, or "
        "Karpenter's `karpenter.sh/capacity-type`). SPOT nodes can be reclaimed: keep "
        "replicas.min ≥ 2 for tiers on them.",
    )
    min_size: int = Field(
        0, ge=0, le=MAX_NODES, description="Fewest nodes (managed: scalingConfig.minSize)."
    )
    max_size: int = Field(
        ge=1,
        le=MAX_NODES,
        description="Most nodes (managed: scalingConfig.maxSize; Karpenter: maxSize × the "
        "largest type's GPUs is the NodePool's nvidia.com/gpu limit, or gpuLimit when "
        "lower); the pool checks compare it with the tiers' replicas.max.",
    )
    desired_size: int | None = Field(
        None, ge=0, le=MAX_NODES, description="Managed only; defaults to minSize."
    )
    disk_size_gib: int = Field(
        200, ge=50, le=16384, description="Root volume: images plus the node's model cache."
    )
    ami_type: Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"] = Field(
        "AL2023_x86_64_NVIDIA",
        description="Node image with the NVIDIA driver. Bottlerocket NVIDIA images run "
        "their own device plugin, so no NVIDIA device plugin DaemonSet targets them.",
    )
    subnet_ids: list[str] = Field(
        default_factory=list,
        description="Managed only; defaults to the cluster's subnets. Karpenter selects "
        "subnets by the `karpenter.sh/discovery` tag.",
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Extra node labels; `tgi-infra/pool` and `tgi-infra/gpu` are set by "
        "tgi-infra and may not be overridden.",
    )
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

    architecture: str = Field(
        "LlamaForCausalLM", description="config.json `architectures[0]` (the model class)."
    )
    num_layers: int = Field(ge=1, description="config.json `num_hidden_layers`.")
    hidden_size: int = Field(ge=1, description="config.json `hidden_size`.")
    num_attention_heads: int = Field(ge=1, description="config.json `num_attention_heads`.")
    num_kv_heads: int = Field(
        ge=1,
        description="config.json `num_key_value_heads` (equal to numAttentionHeads without "
        "grouped-query attention); sizes the KV cache per token.",
    )
    head_dim: int | None = Field(
        None, ge=1, description="config.json `head_dim`; default hiddenSize / numAttentionHeads."
    )
    vocab_size: int = Field(ge=1, description="config.json `vocab_size` (the logits' width).")
    max_position_embeddings: int = Field(
        ge=1,
        description="config.json `max_position_embeddings`: the longest context; "
        "maxTotalTokens may not exceed it.",
    )
    weight_bytes: int = Field(ge=1, description="Checkpoint size as stored, in bytes.")
    torch_dtype: Dtype = Field(
        "bfloat16", description="config.json `torch_dtype`: the dtype weights load in."
    )
    checkpoint_quantization: str | None = Field(
        None,
        description="config.json `quantization_config.quant_method` of a pre-quantized "
        "checkpoint (e.g. awq, gptq, fp8); unset for full-precision weights.",
    )
    num_experts: int | None = Field(
        None, ge=1, description="Mixture-of-experts: experts per layer; unset for dense models."
    )
    tie_word_embeddings: bool = Field(
        False,
        description="config.json `tie_word_embeddings`: lm_head is stored as embed_tokens. "
        "TGI loads that matrix twice, so the memory plan counts it again; vLLM and SGLang "
        "share it.",
    )


class ReplicasConfig(Model):
    """Replicas of a tier's Deployment: the autoscaler's range."""

    min: int = Field(
        1,
        ge=0,
        le=MAX_REPLICAS,
        description="Replicas at rest (the Deployment's replicas, the autoscaler's minimum).",
    )
    max: int = Field(
        1,
        ge=1,
        le=MAX_REPLICAS,
        description="Most replicas; above min, an autoscaler (observability.autoscaler) "
        "owns the count. The pool must fit max × numShard GPUs.",
    )


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
    """Per-tier alert thresholds (PrometheusRule; see docs/observability.md)."""

    queue_size: int = Field(16, ge=1, description="Queued requests per pod, sustained 10m.")
    time_to_first_token_p95_seconds: float = Field(
        5.0,
        gt=0,
        description="Seconds; alert when the p95 time to first token (queue plus prefill) "
        "stays above it for 10m.",
    )
    error_ratio: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Fraction of requests (0-1); alert when failures stay above it for 5m "
        "(client disconnects not counted).",
    )
    kv_cache_usage_ratio: float = Field(
        0.95,
        gt=0,
        le=1,
        description="Fraction (0-1) of a pod's KV cache the running batch reserves; alert "
        "above it for 15m.",
    )
    replicas_at_max_minutes: int = Field(
        30, ge=5, description="Alert when the autoscaler sits at replicas.max this long."
    )


class TierConfig(Model):
    """One model tier: a TGI Deployment, its router Service, cache and autoscaler."""

    name: DnsLabel = Field(
        description="Tier name: `tiers[<name>]` in problems; the Kubernetes names "
        "`<platform>-<name>` (Service, ServiceAccount, autoscaler) and "
        "`<platform>-<name>-<model hash>` (Deployment)."
    )
    model_id: str = Field(min_length=1, description="Hub id (org/name) or a local path.")
    revision: str = Field(
        "main", min_length=1, description="Hub revision; a 40-hex commit sha pins it."
    )
    served_model_name: str | None = Field(
        None, description="The `model` clients send; defaults to modelId."
    )
    node_pool: DnsLabel = Field(
        description="The nodePools[] entry whose nodes run the tier: its GPU sizes the "
        "memory plan, its label and taint schedule the pods."
    )
    engine: EngineName = Field(
        "tgi",
        description="Serving engine: tgi (default), vllm or sglang. Changing it is a model "
        "swap: a new Deployment becomes ready before the Service moves (blue/green).",
    )
    image_version: str | None = Field(
        None,
        pattern=r"^([0-9A-Za-z][0-9A-Za-z._-]*|sha256:[0-9a-f]{64})$",
        description="The engine's image version: a release (tgi 3.3.7, vllm 0.34.0, sglang "
        "0.5.23, optionally with the image's variant suffix, e.g. 0.5.23-cu130) or "
        "sha256:<digest> to pin by digest. Unset: the engine's pinned release "
        "(`tgi_infra.engines.DEFAULT_VERSIONS`).",
    )
    engine_args: dict[str, EngineArgValue] = Field(
        default_factory=dict,
        description="Engine-only flags, keyed as the engine's CLI spells them without the "
        "leading `--` (vllm `enable-prefix-caching: false`, sglang `schedule-policy: lpm`, "
        "tgi `max-waiting-tokens: 20`). Each key must be a flag of the tier's engine at its "
        "pinned version, with a value of the flag's type (true/false for switches); flags "
        "the platform sets from tier fields, and credential flags, are refused.",
    )
    num_shard: int = Field(
        1,
        ge=1,
        le=8,
        description="GPUs per replica (tensor parallel). tgi: NUM_SHARD; vllm: "
        "--tensor-parallel-size; sglang: --tp-size. The pod requests as many nvidia.com/gpu "
        "and gets a memory-backed /dev/shm. At most the GPUs of one node; must divide the "
        "attention heads; 1 with tgi quantize exl2.",
    )
    quantize: EngineChoice | None = Field(
        None,
        description="Weight quantization, in the engine's own vocabulary. tgi: QUANTIZE "
        "(awq, gptq, fp8, eetq, bitsandbytes-nf4...); vllm: --quantization (awq, gptq, fp8, "
        "compressed-tensors...); sglang: --quantization (awq, gptq, fp8, w8a8_fp8...). On tgi "
        "it excludes dtype (but bitsandbytes*), and exl2 excludes numShard > 1. Unset: what "
        "the checkpoint's quantization_config says.",
    )
    dtype: EngineChoice | None = Field(
        None,
        description="Activation/weight dtype. tgi: DTYPE (float16, bfloat16; excludes "
        "quantize other than bitsandbytes*); vllm and sglang: --dtype (auto, half, float16, "
        "bfloat16, float, float32). Unset: the checkpoint's torch_dtype.",
    )
    kv_cache_dtype: EngineChoice | None = Field(
        None,
        description="KV cache dtype. tgi: KV_CACHE_DTYPE (fp8_e4m3fn, fp8_e5m2); vllm: "
        "--kv-cache-dtype (auto, fp8, fp8_e4m3, fp8_e5m2...); sglang: --kv-cache-dtype "
        "(auto, fp8_e4m3, fp8_e5m2...). Unset: the model's dtype.",
    )
    max_input_tokens: int = Field(
        ge=1,
        le=MAX_TOKENS,
        description="Longest prompt, in tokens. tgi: MAX_INPUT_TOKENS (longer prompts get a "
        "422). vllm and sglang have no such limit (a prompt may use all of maxTotalTokens "
        "but one); the platform still checks it is below maxTotalTokens and sizes the "
        "prefill batch from it.",
    )
    max_total_tokens: int = Field(
        ge=2,
        le=MAX_TOKENS,
        description="Longest request, prompt plus generated tokens. tgi: MAX_TOTAL_TOKENS; "
        "vllm: --max-model-len; sglang: --context-length (not sglang's --max-total-tokens, "
        "which is the KV pool size).",
    )
    max_batch_prefill_tokens: int | None = Field(
        None,
        ge=1,
        le=MAX_TOKENS,
        description="Tokens prefilled in one forward pass. Defaults to maxInputTokens + 50 "
        "(TGI 2.x's default) and is always passed, so the plan and the pods agree. tgi: "
        "MAX_BATCH_PREFILL_TOKENS; vllm: --max-num-batched-tokens (chunked prefill, on by "
        "default, splits longer prompts); sglang: --max-prefill-tokens.",
    )
    max_concurrent_requests: int = Field(
        128,
        ge=1,
        le=100_000,
        description="tgi: MAX_CONCURRENT_REQUESTS, requests in flight (queued + running) "
        "before TGI answers 429. vllm: --max-num-seqs and sglang: --max-running-requests, "
        "requests in the running batch (the rest wait in the engine's queue, unbounded).",
    )
    cuda_memory_fraction: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Share of each GPU's memory the engine may use. tgi: "
        "CUDA_MEMORY_FRACTION (1.0, TGI's default; it keeps 10% wiggle room itself). vllm: "
        "--gpu-memory-utilization and sglang: --mem-fraction-static, passed only when set in "
        "the stack; unset, they keep the engine's own startup default (vllm: 1.0 with its "
        "extensible KV cache sized from measured memory, else 0.92; sglang: derived from "
        "the GPU's memory, the chunked prefill size and CUDA graph sizes).",
    )
    run_as_user: int | None = Field(
        None,
        ge=1,
        description="UID for the tier's TGI and download pods. Unset: the image's own user "
        "(root in TGI's official image, TGI issue #3225) with every capability dropped. Set it "
        "(e.g. 10001) only for an image you have seen start as that user.",
    )
    trust_remote_code: bool = Field(
        False,
        description="Run the model repo's own code. tgi: TRUST_REMOTE_CODE; vllm and sglang: "
        "--trust-remote-code. Needs a pinned revision (a 40-hex sha) to pass the "
        "checks.",
    )
    replicas: ReplicasConfig = Field(
        ReplicasConfig(), description="Replica range of the tier's Deployment."
    )
    autoscaling: AutoscalingConfig = Field(
        AutoscalingConfig(),
        description="Queue-depth autoscaling of the tier (when replicas.max > replicas.min).",
    )
    alerts: AlertThresholds = Field(
        AlertThresholds(), description="Alert thresholds of the tier's PrometheusRule."
    )
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
    model_spec: ModelSpec | None = Field(
        None,
        description="Model facts for a model the Hub cannot describe (private, "
        "air-gapped); when set, neither the Hub nor the catalog is asked.",
    )
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
    def engine_version(self) -> str:
        """imageVersion, or the engine's pinned release when unset."""
        return self.image_version or DEFAULT_VERSIONS[self.engine]

    @property
    def memory_fraction_set(self) -> bool:
        """cudaMemoryFraction given in the stack (not the default)."""
        return "cuda_memory_fraction" in self.model_fields_set

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

    name: DnsLabel = Field(
        description="Tenant name: clients send it in the `x-tenant-id` header with their key; "
        "names the key Secret `<platform>-tenant-<name>-api-key`."
    )
    tiers: list[DnsLabel] = Field(min_length=1, description="Tiers this tenant may call.")
    requests_per_minute: int = Field(
        ge=1, description="Requests per minute the gateway admits for this tenant (429 above)."
    )
    tokens_per_minute: int = Field(ge=1, description="Total (input + output) tokens.")
    key_version: int = Field(
        1,
        ge=1,
        description="Bump to rotate a generated API key: the old key stops working at the "
        "next `pulumi up` (keys supplied in secret config `tgi-infra:tenantKeys` ignore it).",
    )


class GatewayConfig(Model):
    """The OpenAI-compatible gateway (Gateway API, Envoy Gateway, Envoy AI Gateway)."""

    enabled: bool = Field(
        True,
        description="Deploy the Gateway, routes, tenant keys and limits; false leaves only "
        "the tiers' Services (clients then call them inside the cluster).",
    )
    hostname: str = Field(
        "llm.example.com",
        pattern=r"^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
        description="DNS name clients call (HTTPS listener, TLS certificate, routes); the "
        "base URL is https://<hostname>/v1.",
    )
    gateway_class_name: str = Field(
        "envoy-gateway", description="GatewayClass of the Envoy Gateway installation."
    )
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
    overcommit_warn_ratio: float = Field(
        1.0,
        gt=0,
        description="Warn when the tenants' tokensPerMinute on a tier exceed this multiple "
        "of what its replicas.max can serve (the planner's estimate).",
    )
    overcommit_error_ratio: float = Field(
        3.0,
        gt=0,
        description="Error above this multiple; at least overcommitWarnRatio.",
    )


class DashboardConfig(Model):
    """The Grafana dashboard ConfigMap `<platform>-dashboard` in the monitoring namespace."""

    enabled: bool = Field(True, description="Deploy the dashboard ConfigMap.")
    sidecar_label: dict[str, str] = Field(
        default_factory=lambda: {"grafana_dashboard": "1"},
        description="Label Grafana's dashboard sidecar watches for (kube-prometheus-stack: "
        "grafana_dashboard=1); may not be empty when enabled.",
    )


class ObservabilityConfig(Model):
    """Metrics, recording rules, alerts, dashboard and the autoscaler."""

    scrape_mode: Literal["servicemonitor", "podmonitor", "annotations"] = Field(
        "servicemonitor",
        description="How Prometheus finds the pods: a ServiceMonitor or PodMonitor per tier "
        "(Prometheus Operator), or prometheus.io/* pod annotations.",
    )
    prometheus_selector: dict[str, str] = Field(
        default_factory=lambda: {"release": "kube-prometheus-stack"},
        description="Labels your Prometheus selects monitors and rules by.",
    )
    autoscaler: Literal["hpa", "keda", "none"] = Field(
        "hpa",
        description="`hpa`: HorizontalPodAutoscaler on queue depth via prometheus-adapter "
        "(its rules ConfigMap is deployed); `keda`: a KEDA ScaledObject querying "
        "prometheusUrl; `none`: fixed replicas.min.",
    )
    prometheus_url: DnsUrl = Field(
        "http://kube-prometheus-stack-prometheus.monitoring.svc:9090",
        pattern=r"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/\S*)?$",
        description="Prometheus query URL for KEDA's trigger and prometheus-adapter: "
        "http(s)://host[:port][/path].",
    )
    otlp_endpoint: DnsUrl | None = Field(
        None,
        pattern=r"^(https?://)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?/?$",
        description="OTLP gRPC endpoint for traces: [http(s)://]host[:port] (port default "
        "4317); unset: no tracing.",
    )
    dashboard: DashboardConfig = Field(DashboardConfig(), description="The Grafana dashboard.")
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
    """Where the weights are cached: the download Job fills it, the pods read it."""

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
    headroom_ratio: float = Field(
        1.3,
        ge=1.0,
        le=4.0,
        description="Volume size as a multiple of the checkpoint's size (room for the "
        "tokenizer, config and download temp files); a tier's cacheSizeGib overrides it.",
    )
    download_image: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9._/-]*(:[0-9A-Za-z._-]+)?(@sha256:[0-9a-f]{64})?$",
        description="Image of the download Job: any image with python3 and huggingface_hub "
        ">= 0.23 (e.g. one you build FROM python:3.12-slim with `pip install "
        "huggingface_hub==2.4.0`, pinned by digest), so the Job needs no PyPI access. "
        "Unset: the tier engine's own pinned image, which ships huggingface_hub and is "
        "pulled for the pods anyway.",
    )
    retain_on_delete: bool = Field(
        True,
        description="Keep weight PersistentVolumeClaims on the cluster when Pulumi deletes "
        "or replaces them (a removed tier, a model swap, a storage change): their data stays "
        "until you delete them. false lets `pulumi up` delete them.",
    )


class CapacityConfig(Model):
    """Capacity planning thresholds."""

    min_full_length_requests: int = Field(
        4,
        ge=1,
        description="Warn when the KV cache holds fewer full-length (maxTotalTokens) requests.",
    )


class PlatformConfig(Model):
    """The whole stack: `tgi-infra:platform` in `stacks/Pulumi.<env>.yaml`."""

    environment: Literal["dev", "staging", "prod"] = Field(
        "dev",
        description="Stricter checks and policy levels in prod (e.g. an unpinned revision is "
        "an error); tag `tgi-infra/environment` on AWS resources.",
    )
    cluster: ClusterConfig = Field(
        description="The EKS cluster (existing, or created with `create`) and namespaces."
    )
    node_pools: list[NodePoolConfig] = Field(min_length=1, description="GPU node pools.")
    tiers: list[TierConfig] = Field(min_length=1, description="Model tiers, one Deployment each.")
    tenants: list[TenantConfig] = Field(
        default_factory=list, description="Gateway tenants: API keys and limits."
    )
    gateway: GatewayConfig = Field(GatewayConfig(), description="The gateway.")
    observability: ObservabilityConfig = Field(
        ObservabilityConfig(), description="Monitoring and autoscaling."
    )
    cache: CacheConfig = Field(CacheConfig(), description="The weight cache.")
    capacity: CapacityConfig = Field(CapacityConfig(), description="Planning thresholds.")
    addons: AddonsConfig = Field(
        AddonsConfig(),
        description="The controllers the platform's objects need, one entry each, "
        "`mode: install | existing | off` (default existing: relied on, not installed).",
    )
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

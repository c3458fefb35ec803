"""Every name and label the platform gives a Kubernetes or AWS object, derived in one place."""

from __future__ import annotations

import hashlib

from tgi_infra.config.models import CacheConfig, TierConfig

PART_OF = "tgi-infra"
MANAGED_BY = "pulumi"
TIER_LABEL = "tgi-infra/tier"
TENANT_LABEL = "tgi-infra/tenant"
POOL_LABEL = "tgi-infra/pool"
MODEL_HASH_LABEL = "tgi-infra/model-hash"
GPU_LABEL = "tgi-infra/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_RESOURCE = "nvidia.com/gpu"
SERVICE_PORT = 80
TGI_PORT = 8080
"""The container port: above 1024 so TGI runs without root or NET_BIND_SERVICE."""
TGI_PORT_NAME = "http"


def model_hash(tier: TierConfig) -> str:
    """8 hex chars naming what a tier's pods load: model, revision and quantization.

    A change of any of these is a model swap: a new Deployment (blue/green), a new cache.
    """
    key = f"{tier.model_id}@{tier.revision}#{tier.quantize or ''}"
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def tier_base(tier: str) -> str:
    return f"tgi-{tier}"


def service_name(tier: str) -> str:
    """The tier's router Service: stable across model swaps."""
    return tier_base(tier)


def deployment_name(tier: TierConfig) -> str:
    return f"{tier_base(tier.name)}-{model_hash(tier)}"


def storage_suffix(cache: CacheConfig | None) -> str:
    """'' for the default storage (cluster default class, ReadWriteMany), else a hash of
    class and access mode: a PersistentVolumeClaim cannot change either in place, so a
    change is a new claim, created before the old one is let go."""
    if cache is None or (cache.storage_class_name is None and cache.access_mode == "ReadWriteMany"):
        return ""
    key = f"{cache.storage_class_name or ''}|{cache.access_mode}"
    return "-" + hashlib.sha256(key.encode()).hexdigest()[:6]


def cache_name(tier: TierConfig, cache: CacheConfig | None = None) -> str:
    """A tier's weight claim: per model version and storage (class, access mode)."""
    return f"{deployment_name(tier)}-cache{storage_suffix(cache)}"


def download_job_name(tier: TierConfig) -> str:
    return f"{deployment_name(tier)}-download"


def download_policy_name(tier: str) -> str:
    """The NetworkPolicy of a tier's download Jobs (stable across model swaps)."""
    return f"{tier_base(tier)}-download"


def shared_cache_name(cache: CacheConfig | None = None) -> str:
    return f"tgi-model-cache{storage_suffix(cache)}"


def service_account_name(tier: str) -> str:
    return tier_base(tier)


def hf_token_secret_name() -> str:
    return "tgi-hf-token"


def tenant_key_secret_name(tenant: str) -> str:
    return f"tgi-tenant-{tenant}-api-key"


def pool_node_label(pool: str) -> dict[str, str]:
    return {POOL_LABEL: pool}


def gpu_label_value(gpu_name: str) -> str:
    """The `tgi-infra/gpu` node label value: the catalog GPU name, lowercased."""
    return gpu_name.lower()


def karpenter_pool_name(pool: str) -> str:
    """The Karpenter NodePool and its EC2NodeClass (cluster-scoped)."""
    return f"tgi-{pool}"


def node_role_name(cluster: str, pool: str) -> str:
    """The IAM role of a pool's nodes: ≤ 64 chars, unique per cluster and pool."""
    name = f"tgi-{cluster}-{pool}-node"
    if len(name) <= 64:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:55]}-{digest}"


def device_plugin_name() -> str:
    return "nvidia-device-plugin"


def labels(
    component: str, *, instance: str, tier: str | None = None, tenant: str | None = None
) -> dict[str, str]:
    """The recommended app.kubernetes.io labels plus tgi-infra's own."""
    out = {
        "app.kubernetes.io/name": "text-generation-inference",
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    if tier:
        out[TIER_LABEL] = tier
    if tenant:
        out[TENANT_LABEL] = tenant
    return out


def tier_selector(tier: str) -> dict[str, str]:
    """Selects every TGI server pod of a tier, whichever model version (not its download
    Job's pods): NetworkPolicy, monitors, PDB."""
    return {
        "app.kubernetes.io/name": "text-generation-inference",
        "app.kubernetes.io/component": "server",
        TIER_LABEL: tier,
    }


def version_selector(tier: TierConfig) -> dict[str, str]:
    """Selects the pods of one model version: the Service follows this (blue/green)."""
    return {**tier_selector(tier.name), MODEL_HASH_LABEL: model_hash(tier)}


# Observability and autoscaling: regexes over the hashed names, for PromQL selectors.
def deployment_name_pattern(tier: str) -> str:
    """Matches the Deployment of every model version of a tier (`tgi-<tier>-<hash>`)."""
    return f"{tier_base(tier)}-[0-9a-f]{{8}}"


def pod_name_pattern(tier: str) -> str:
    """Matches the pods of every model version of a tier (Deployment, ReplicaSet, pod)."""
    return f"{deployment_name_pattern(tier)}-[a-z0-9]+-[a-z0-9]+"


def download_job_name_pattern(tier: str) -> str:
    return f"{deployment_name_pattern(tier)}-download"


def autoscaler_name(tier: str) -> str:
    """The HPA or KEDA ScaledObject of a tier: stable across model swaps."""
    return tier_base(tier)


def keda_hpa_name(tier: str) -> str:
    """The HPA KEDA creates for a ScaledObject (`keda-hpa-<scaledobject>`)."""
    return f"keda-hpa-{autoscaler_name(tier)}"


def dashboard_name() -> str:
    return "tgi-infra-dashboard"


def alert_rules_configmap_name() -> str:
    return "tgi-infra-alert-rules"


def adapter_rules_name() -> str:
    return "tgi-infra-prometheus-adapter-rules"


# Gateway (Gateway API + Envoy Gateway + Envoy AI Gateway): one Gateway, the OpenAI routes,
# and per tier an AIServiceBackend, its Envoy Gateway Backend and a fallback HTTPRoute.
def gateway_name() -> str:
    return "tgi-gateway"


def openai_route_name(index: int = 0) -> str:
    """The AIGatewayRoute(s); AI Gateway names the HTTPRoute it generates the same."""
    return "tgi-openai" if index == 0 else f"tgi-openai-{index}"


def ai_backend_name(tier: str) -> str:
    """The tier's AIServiceBackend and the Envoy Gateway Backend it points at."""
    return tier_base(tier)


def fallback_route_name(tier: str) -> str:
    return f"{tier_base(tier)}-fallback"


def fallback_path_prefix(tier: str) -> str:
    """Where non-OpenAI clients reach a tier's TGI API directly (`/tiers/<tier>/generate`)."""
    return f"/tiers/{tier}"


def gateway_limits_policy_name() -> str:
    """The BackendTrafficPolicy of every gateway route (SecurityPolicies take their route's
    name)."""
    return "tgi-gateway-limits"


def gateway_client_policy_name() -> str:
    return "tgi-gateway-clients"

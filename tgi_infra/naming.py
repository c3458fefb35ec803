"""Every name and label the platform gives a Kubernetes or AWS object, derived in one place.

Names start with the platform's name (the `TgiPlatform` component's name, "tgi" by
default), so two platforms in one stack or on one cluster never share an object. The
components set it for the builders they call with `with naming.platform(name):`; a
standalone `TgiTier` names its objects from its own name with `platform(..., tiers=...)`.
Builders called outside any scope use "tgi", the name the single-platform program uses.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from tgi_infra.config.models import CacheConfig, TierConfig
from tgi_infra.engines.base import PORT_NAME, SERVER_PORT
from tgi_infra.escape import re2_literal

DEFAULT_PLATFORM = "tgi"
"""The platform name of `tgi_infra.program` and of every stack deployed before names
carried the platform: aliases keep those resources' identity."""


@dataclass(frozen=True)
class Scope:
    platform: str = DEFAULT_PLATFORM
    tier_bases: Mapping[str, str] = field(default_factory=dict)


_DEFAULT_SCOPE = Scope()
_SCOPE: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "tgi_infra_naming", default=None
)


def _scope() -> Scope:
    return _SCOPE.get() or _DEFAULT_SCOPE


@contextlib.contextmanager
def platform(name: str, *, tiers: Mapping[str, str] | None = None) -> Iterator[None]:
    """Within the block, names carry platform `name`; `tiers` maps a tier to the base name
    of its objects (default `<platform>-<tier>`)."""
    token = _SCOPE.set(Scope(name, dict(tiers or {})))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def in_scope() -> bool:
    """Whether a component has set the platform's name (`platform`)."""
    return _SCOPE.get() is not None


def platform_name() -> str:
    """The platform name in scope ("tgi" outside any)."""
    return _scope().platform


def is_default_platform() -> bool:
    return platform_name() == DEFAULT_PLATFORM


def prefixed(suffix: str) -> str:
    """`<platform>-<suffix>`: the name of a platform-wide object."""
    return f"{platform_name()}-{suffix}"


PART_OF = "tgi-infra"
MANAGED_BY = "pulumi"
TIER_LABEL = "tgi-infra/tier"
TENANT_LABEL = "tgi-infra/tenant"
ENGINE_LABEL = "tgi-infra/engine"
POOL_LABEL = "tgi-infra/pool"
MODEL_HASH_LABEL = "tgi-infra/model-hash"
GPU_LABEL = "tgi-infra/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_RESOURCE = "nvidia.com/gpu"
SERVICE_PORT = 80
TGI_PORT = SERVER_PORT
"""The container port every engine binds: above 1024, so no root or NET_BIND_SERVICE."""
TGI_PORT_NAME = PORT_NAME


def model_hash(tier: TierConfig) -> str:
    """8 hex chars naming what a tier's pods load: model, revision, quantization, engine.

    A change of any of these is a model swap: a new Deployment (blue/green), a new cache.
    TGI, the default engine, adds nothing to the key, so TGI tiers keep their hash.
    """
    key = f"{tier.model_id}@{tier.revision}#{tier.quantize or ''}"
    if tier.engine != "tgi":
        key += f"%{tier.engine}"
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def tier_base(tier: str) -> str:
    """`<platform>-<tier>` (or the standalone TgiTier's own name): the base of every name of
    a tier's objects."""
    scope = _scope()
    return scope.tier_bases.get(tier) or f"{scope.platform}-{tier}"


def service_name(tier: str) -> str:
    """The tier's router Service: stable across model swaps and engine changes.

    Always `tgi-<tier>`, never a bare `vllm` or `sglang`: Kubernetes injects
    `<SERVICE>_PORT=tcp://...` into pods with service links, and vLLM reads VLLM_PORT,
    SGLang SGLANG_PORT (pods also turn service links off).
    """
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
    return prefixed("model-cache") + storage_suffix(cache)


def service_account_name(tier: str) -> str:
    return tier_base(tier)


def hf_token_secret_name() -> str:
    return prefixed("hf-token")


def tenant_key_secret_name(tenant: str) -> str:
    return prefixed(f"tenant-{tenant}-api-key")


def pool_node_label(pool: str) -> dict[str, str]:
    return {POOL_LABEL: pool}


def gpu_label_value(gpu_name: str) -> str:
    """The `tgi-infra/gpu` node label value: the catalog GPU name, lowercased."""
    return gpu_name.lower()


def karpenter_pool_name(pool: str) -> str:
    """The Karpenter NodePool and its EC2NodeClass (cluster-scoped): carry the platform."""
    return prefixed(pool)


def node_role_name(cluster: str, pool: str) -> str:
    """The IAM role of a pool's nodes: ≤ 64 chars, unique per cluster and pool."""
    name = prefixed(f"{cluster}-{pool}-node")
    if len(name) <= 64:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:55]}-{digest}"


LEGACY_DEVICE_PLUGIN = "nvidia-device-plugin"
LEGACY_DASHBOARD = "tgi-infra-dashboard"
LEGACY_ALERT_RULES = "tgi-infra-alert-rules"
LEGACY_ADAPTER_RULES = "tgi-infra-prometheus-adapter-rules"


def device_plugin_name() -> str:
    """The device plugin DaemonSet (kube-system, shared): carries the platform."""
    return prefixed("nvidia-device-plugin")


def labels(
    component: str,
    *,
    instance: str,
    tier: str | None = None,
    tenant: str | None = None,
    engine: str | None = None,
) -> dict[str, str]:
    """The recommended app.kubernetes.io labels plus tgi-infra's own.

    `app.kubernetes.io/name` names the platform's server application whatever the engine
    (it is part of existing Deployments' immutable selectors); `tgi-infra/engine` says
    which engine a tier's objects run.
    """
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
    if engine:
        out[ENGINE_LABEL] = engine
    return out


def tier_selector(tier: str) -> dict[str, str]:
    """Selects every server pod of a tier, whichever model version and engine (not its
    download Job's pods): NetworkPolicy, monitors, PDB."""
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
    return f"{re2_literal(tier_base(tier))}-[0-9a-f]{{8}}"


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
    """The dashboard ConfigMap (monitoring namespace, shared): carries the platform."""
    return prefixed("dashboard")


def alert_rules_configmap_name() -> str:
    return prefixed("alert-rules")


def adapter_rules_name() -> str:
    """The prometheus-adapter rules ConfigMap (monitoring namespace): carries the platform."""
    return prefixed("prometheus-adapter-rules")


def legacy_names() -> dict[str, str]:
    """New name -> the fixed name a "tgi" platform's shared object had before names carried
    the platform: the component aliases it so the resource keeps its identity."""
    if not is_default_platform():
        return {}
    return {
        device_plugin_name(): LEGACY_DEVICE_PLUGIN,
        dashboard_name(): LEGACY_DASHBOARD,
        alert_rules_configmap_name(): LEGACY_ALERT_RULES,
        adapter_rules_name(): LEGACY_ADAPTER_RULES,
    }


# Gateway (Gateway API + Envoy Gateway + Envoy AI Gateway): one Gateway, the OpenAI routes,
# and per tier an AIServiceBackend, its Envoy Gateway Backend and a fallback HTTPRoute.
def gateway_name() -> str:
    return prefixed("gateway")


def openai_route_name(index: int = 0) -> str:
    """The AIGatewayRoute(s); AI Gateway names the HTTPRoute it generates the same."""
    return prefixed("openai") if index == 0 else prefixed(f"openai-{index}")


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
    return prefixed("gateway-limits")


def gateway_client_policy_name() -> str:
    return prefixed("gateway-clients")

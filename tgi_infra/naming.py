"""Every name and label the platform gives a Kubernetes or AWS object, derived in one place."""

from __future__ import annotations

import hashlib

from tgi_infra.config.models import TierConfig

PART_OF = "tgi-infra"
MANAGED_BY = "pulumi"
TIER_LABEL = "tgi-infra/tier"
TENANT_LABEL = "tgi-infra/tenant"
POOL_LABEL = "tgi-infra/pool"
MODEL_HASH_LABEL = "tgi-infra/model-hash"
GPU_LABEL = "tgi-infra/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_RESOURCE = "nvidia.com/gpu"
TGI_PORT = 80
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


def cache_name(tier: TierConfig) -> str:
    return f"{deployment_name(tier)}-cache"


def download_job_name(tier: TierConfig) -> str:
    return f"{deployment_name(tier)}-download"


def shared_cache_name() -> str:
    return "tgi-model-cache"


def service_account_name(tier: str) -> str:
    return tier_base(tier)


def hf_token_secret_name() -> str:
    return "tgi-hf-token"


def tenant_key_secret_name(tenant: str) -> str:
    return f"tgi-tenant-{tenant}-api-key"


def pool_node_label(pool: str) -> dict[str, str]:
    return {POOL_LABEL: pool}


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
    """Selects every pod of a tier, whichever model version: NetworkPolicy, monitors, PDB."""
    return {"app.kubernetes.io/name": "text-generation-inference", TIER_LABEL: tier}


def version_selector(tier: TierConfig) -> dict[str, str]:
    """Selects the pods of one model version: the Service follows this (blue/green)."""
    return {**tier_selector(tier.name), MODEL_HASH_LABEL: model_hash(tier)}

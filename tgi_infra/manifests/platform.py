"""From the whole PlatformConfig to each tier's context and the platform-wide objects."""

from __future__ import annotations

from typing import Any

from tgi_infra import naming
from tgi_infra.capacity.catalog import UnknownHardwareError, instance_type
from tgi_infra.capacity.node_fit import default_requests
from tgi_infra.config.models import NodePoolConfig, PlatformConfig, TierConfig
from tgi_infra.manifests.autoscaling import is_autoscaled
from tgi_infra.manifests.cache import claim_name
from tgi_infra.manifests.nodepools import tier_scheduling
from tgi_infra.manifests.observability import scrape_annotations, tracing_env
from tgi_infra.manifests.serving import TierContext


def with_default_requests(tier: TierConfig, pool: NodePoolConfig) -> TierConfig:
    """The tier with unset CPU/memory requests sized from the pool's smallest instance."""
    if tier.cpu_request and tier.memory_request:
        return tier
    try:
        smallest = min((instance_type(n) for n in pool.instance_types), key=lambda t: t.vcpus)
    except UnknownHardwareError:
        return tier  # reported by the pool checks; the per-shard defaults apply
    cpu, memory = default_requests(smallest, tier.num_shard)
    return tier.model_copy(
        update={
            "cpu_request": tier.cpu_request or cpu,
            "memory_request": tier.memory_request or memory,
        }
    )


def tier_context(
    cfg: PlatformConfig,
    tier: TierConfig,
    weight_bytes: int,
    *,
    has_hf_token: bool = False,
    pod_annotations: dict[str, Any] | None = None,
) -> TierContext:
    pool = cfg.node_pool(tier.node_pool)
    tier = with_default_requests(tier, pool)
    node_selector, tolerations = tier_scheduling(pool)
    return TierContext(
        tier=tier,
        namespace=cfg.cluster.namespace,
        pool=pool,
        weight_bytes=weight_bytes,
        cache_claim=claim_name(tier, cfg.cache),
        gateway_namespace=cfg.cluster.gateway_namespace,
        monitoring_namespace=cfg.cluster.monitoring_namespace,
        usage_stats=cfg.usage_stats,
        hf_token_secret=naming.hf_token_secret_name() if has_hf_token else None,
        autoscaled=is_autoscaled(cfg, tier),
        # TGI takes its tracing settings as env (observability.tracing_env); the other
        # engines as flags, rendered by their plug-in from the endpoint.
        extra_env=tuple(tracing_env(cfg, tier)) if tier.engine == "tgi" else (),
        otlp_endpoint=None if tier.engine == "tgi" else cfg.observability.otlp_endpoint,
        pod_annotations={**scrape_annotations(cfg, tier), **(pod_annotations or {})},
        node_selector=node_selector,
        tolerations=tuple(tolerations),
    )

"""tgi-infra: Pulumi components that serve LLMs (TGI, vLLM, SGLang) on Kubernetes.

    from tgi_infra import TgiPlatform, TgiTier, TgiTierArgs

The names below are imported on first use, so `import tgi_infra.naming` (or the CLI)
does not load Pulumi.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    # components
    "TgiPlatform": "tgi_infra.components.platform",
    "TgiTier": "tgi_infra.components.serving",
    "ModelCache": "tgi_infra.components.serving",
    "GpuNodePool": "tgi_infra.components.nodepools",
    "NvidiaDevicePlugin": "tgi_infra.components.nodepools",
    "TenantGateway": "tgi_infra.components.gateway",
    "Observability": "tgi_infra.components.observability",
    "cluster_providers": "tgi_infra.components.cluster",
    # their args
    "TgiTierArgs": "tgi_infra.component_args",
    "ModelCacheArgs": "tgi_infra.component_args",
    "GpuNodePoolArgs": "tgi_infra.component_args",
    "TenantGatewayArgs": "tgi_infra.component_args",
    "ObservabilityArgs": "tgi_infra.component_args",
    # config types
    "PlatformConfig": "tgi_infra.config.models",
    "ClusterConfig": "tgi_infra.config.models",
    "NodePoolConfig": "tgi_infra.config.models",
    "TierConfig": "tgi_infra.config.models",
    "TenantConfig": "tgi_infra.config.models",
    "GatewayConfig": "tgi_infra.config.models",
    "ObservabilityConfig": "tgi_infra.config.models",
    "CacheConfig": "tgi_infra.config.models",
    "CapacityConfig": "tgi_infra.config.models",
    "ModelSpec": "tgi_infra.config.models",
    "AutoscalingConfig": "tgi_infra.config.models",
    "ReplicasConfig": "tgi_infra.config.models",
    "AlertThresholds": "tgi_infra.config.models",
    "parse_platform": "tgi_infra.config.loader",
    "load_stack": "tgi_infra.config.loader",
    # problems
    "ConfigInvalid": "tgi_infra.problems",
    "Problem": "tgi_infra.problems",
}

__all__ = [
    "AlertThresholds",
    "AutoscalingConfig",
    "CacheConfig",
    "CapacityConfig",
    "ClusterConfig",
    "ConfigInvalid",
    "GatewayConfig",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "ModelCache",
    "ModelCacheArgs",
    "ModelSpec",
    "NodePoolConfig",
    "NvidiaDevicePlugin",
    "Observability",
    "ObservabilityArgs",
    "ObservabilityConfig",
    "PlatformConfig",
    "Problem",
    "ReplicasConfig",
    "TenantConfig",
    "TenantGateway",
    "TenantGatewayArgs",
    "TgiPlatform",
    "TgiTier",
    "TgiTierArgs",
    "TierConfig",
    "__version__",
    "cluster_providers",
    "load_stack",
    "parse_platform",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tgi_infra' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from tgi_infra.component_args import (
        GpuNodePoolArgs,
        ModelCacheArgs,
        ObservabilityArgs,
        TenantGatewayArgs,
        TgiTierArgs,
    )
    from tgi_infra.components.cluster import cluster_providers
    from tgi_infra.components.gateway import TenantGateway
    from tgi_infra.components.nodepools import GpuNodePool, NvidiaDevicePlugin
    from tgi_infra.components.observability import Observability
    from tgi_infra.components.platform import TgiPlatform
    from tgi_infra.components.serving import ModelCache, TgiTier
    from tgi_infra.config.loader import load_stack, parse_platform
    from tgi_infra.config.models import (
        AlertThresholds,
        AutoscalingConfig,
        CacheConfig,
        CapacityConfig,
        ClusterConfig,
        GatewayConfig,
        ModelSpec,
        NodePoolConfig,
        ObservabilityConfig,
        PlatformConfig,
        ReplicasConfig,
        TenantConfig,
        TierConfig,
    )
    from tgi_infra.problems import ConfigInvalid, Problem

"""Typed stack configuration."""

from tgi_infra.config.loader import load_stack, parse_platform, stack_file
from tgi_infra.config.models import NodePoolConfig, PlatformConfig, TenantConfig, TierConfig

__all__ = [
    "NodePoolConfig",
    "PlatformConfig",
    "TenantConfig",
    "TierConfig",
    "load_stack",
    "parse_platform",
    "stack_file",
]

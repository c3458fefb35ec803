"""The weight cache against the tiers that mount it."""

from __future__ import annotations

from tgi_infra.config.models import PlatformConfig
from tgi_infra.problems import Problem


def check_cache_access(cfg: PlatformConfig) -> list[Problem]:
    """A ReadWriteOnce volume attaches to one node: only single-replica tiers can share it
    (a shared cache never can: the download Jobs and every tier mount it)."""
    if cfg.cache.access_mode != "ReadWriteOnce":
        return []
    if cfg.cache.mode == "shared":
        return [
            Problem(
                "cache.accessMode",
                "ReadWriteOnce with mode shared: every tier and download Job mounts the one "
                "volume, from different nodes.",
                "use ReadWriteMany (an EFS or FSx storage class), or mode per-tier.",
                "cache-access-mode",
            )
        ]
    return [
        Problem(
            f"tiers[{tier.name}].replicas.max",
            f"{tier.replicas.max} replicas mount one ReadWriteOnce cache volume, which "
            "attaches to a single node: replicas on other nodes never start.",
            "set cache.accessMode ReadWriteMany (an EFS or FSx storage class), or replicas.max 1.",
            "cache-access-mode",
        )
        for tier in cfg.tiers
        if tier.replicas.max > 1
    ]

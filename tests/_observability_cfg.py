"""Generated stack configs for the observability and autoscaling tests."""

from __future__ import annotations

from typing import Any

from tests.support import stack_config
from tgi_infra.config import parse_platform
from tgi_infra.config.models import PlatformConfig

GIB = 2**30
WEIGHTS = {"chat": 10 * GIB, "large": 140 * GIB}
"""Checkpoint sizes per tier name, as the planner passes them (generated and prod stacks)."""


def prod() -> PlatformConfig:
    return stack_config("prod")


def platform(tier: dict[str, Any] | None = None, **observability: Any) -> PlatformConfig:
    """A one-pool stack with a `chat` tier (replicas 1-4, queue target 8) and a `large` one."""
    chat = {
        "name": "chat",
        "modelId": "org/chat-model",
        "revision": "0" * 40,
        "nodePool": "l40s",
        "maxInputTokens": 4096,
        "maxTotalTokens": 8192,
        "maxConcurrentRequests": 128,
        "replicas": {"min": 1, "max": 4},
        "autoscaling": {"queueSizeTarget": 8},
        **(tier or {}),
    }
    large = {
        "name": "large",
        "modelId": "org/large-model",
        "revision": "1" * 40,
        "nodePool": "l40s",
        "maxInputTokens": 4096,
        "maxTotalTokens": 8192,
        "replicas": {"min": 1, "max": 2},
    }
    return parse_platform({
        "environment": "staging",
        "cluster": {"name": "ml", "region": "us-east-1"},
        "nodePools": [{"name": "l40s", "instanceTypes": ["g6e.xlarge"], "maxSize": 8}],
        "tiers": [chat, large],
        "observability": observability,
    })


def mixed(**observability: Any) -> PlatformConfig:
    """The generated stack with `large` on vLLM and a third tier, `lean`, on SGLang."""
    base = platform(**observability)
    raw = base.model_dump(by_alias=True, exclude_none=True)
    raw["tiers"][1]["engine"] = "vllm"
    raw["tiers"].append({**raw["tiers"][1], "name": "lean", "engine": "sglang",
                         "modelId": "org/lean-model"})
    return parse_platform(raw)

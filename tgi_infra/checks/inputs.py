"""Tier inputs checked against the model's facts and the node: the checkpoint (by the
tier's engine, `Engine.check_checkpoint`), requests and the cache size, which the engine or
Kubernetes would otherwise refuse minutes after `pulumi up`.
"""

from __future__ import annotations

import math

from tgi_infra.capacity.catalog import Gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.node_fit import cpu_millis, memory_bytes
from tgi_infra.config.models import CacheConfig, TierConfig
from tgi_infra.engines import engine_of
from tgi_infra.problems import Problem, errors

GIB = 2**30
CACHE_MIN_RATIO = 1.1
"""Weights plus the tokenizer, config and download's temporary files."""


def check_requests_positive(tier: TierConfig) -> list[Problem]:
    """cpuRequest and memoryRequest above zero (a zero request schedules anywhere and gets
    evicted first)."""
    problems = []
    asks = (
        ("cpuRequest", tier.cpu_request, cpu_millis),
        ("memoryRequest", tier.memory_request, memory_bytes),
    )
    for key, value, parse in asks:
        if value is None:
            continue
        try:
            amount = parse(value)
        except ValueError:
            amount = 0
        if amount <= 0:
            problems.append(
                Problem(
                    f"tiers[{tier.name}].{key}",
                    f"{value!r} is not above zero.",
                    "give a positive quantity (e.g. 4 or 16Gi), or leave it unset for the "
                    "node's share.",
                    "requests-positive",
                )
            )
    return problems


def check_cache_size(tier: TierConfig, facts: ModelFacts, cache: CacheConfig) -> list[Problem]:
    """An explicit `cacheSizeGib` holds the weights plus headroom."""
    if tier.cache_size_gib is None:
        return []
    path = f"tiers[{tier.name}].cacheSizeGib"
    if cache.mode == "shared":
        return [
            Problem(
                path,
                "is ignored with cache.mode shared (the shared volume is sized from all tiers).",
                "drop it, or use cache.mode per-tier.",
                "cache-size",
                "warning",
            )
        ]
    need = math.ceil(facts.weight_bytes * CACHE_MIN_RATIO / GIB)
    if tier.cache_size_gib < need:
        return [
            Problem(
                path,
                f"{tier.cache_size_gib} GiB does not hold the weights of {facts.model_id} "
                f"({facts.weight_bytes / GIB:.1f} GiB) plus {round((CACHE_MIN_RATIO - 1) * 100)}% "
                "headroom: the download Job fails with a full disk.",
                f"use at least {need} (or leave it unset: weights × headroomRatio).",
                "cache-size",
            )
        ]
    return []


def checkpoint_problems(
    engine: str, facts: ModelFacts, quantize: str | None, gpu: Gpu | None = None
) -> list[Problem]:
    """The engine's verdict on serving this checkpoint with `quantize` (None: as stored), on
    `gpu` if given, as `validate` gives it for a tier (paths `tiers[cli].quantize`); for the
    commands that take a model and flags instead of a stack (`capacity`, `size`)."""
    total = max(2, min(4096, facts.max_position_embeddings))  # only the quantization is read
    tier = TierConfig(
        name="cli", model_id=facts.model_id, node_pool="cli", engine=engine,
        quantize=quantize, max_input_tokens=total - 1, max_total_tokens=total,
    )  # fmt: skip
    problems = engine_of(tier).check_checkpoint(tier, facts)
    if gpu is not None and not errors(problems):
        problems += engine_of(tier).check_checkpoint_on_gpu(tier, facts, gpu)
    return problems


def check_tier_inputs(tier: TierConfig, facts: ModelFacts, cache: CacheConfig) -> list[Problem]:
    return engine_of(tier).check_checkpoint(tier, facts) + check_cache_size(tier, facts, cache)

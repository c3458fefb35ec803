"""Tier inputs checked against the model's facts and the node: quantization, requests and
the cache size, which TGI or Kubernetes would otherwise refuse minutes after `pulumi up`.
"""

from __future__ import annotations

import math

from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.node_fit import cpu_millis, memory_bytes
from tgi_infra.config.models import CacheConfig, TierConfig
from tgi_infra.problems import Problem

GIB = 2**30
# `quantize` values that load a checkpoint quantized ahead of time, by the checkpoint's
# `quantization_config.quant_method` they read (TGI picks the kernels: marlin repacks GPTQ;
# awq checkpoints also run on marlin kernels).
PREQUANTIZED: dict[str, frozenset[str]] = {
    "awq": frozenset({"awq"}),
    "gptq": frozenset({"gptq", "marlin"}),
    "exl2": frozenset({"exl2"}),
    "marlin": frozenset({"marlin"}),
    "fp8": frozenset({"fp8"}),
    "compressed-tensors": frozenset({"compressed-tensors"}),
    "bitsandbytes": frozenset({"bitsandbytes", "bitsandbytes-nf4", "bitsandbytes-fp4"}),
}
NEEDS_PREQUANTIZED = frozenset({"awq", "gptq", "exl2", "marlin", "compressed-tensors"})
"""Methods that only read a checkpoint already in their format (no on-the-fly quantizing)."""
CACHE_MIN_RATIO = 1.1
"""Weights plus the tokenizer, config and download's temporary files."""


def check_quantize(tier: TierConfig, facts: ModelFacts) -> list[Problem]:
    """`quantize` against the checkpoint's `quantization_config` (its quant_method)."""
    path = f"tiers[{tier.name}].quantize"
    have = (facts.checkpoint_quantization or "").lower() or None
    want = tier.quantize
    if want is None:
        return []
    if have is None:
        if want in NEEDS_PREQUANTIZED:
            return [
                Problem(
                    path,
                    f"{want} loads a checkpoint already quantized with {want}, but "
                    f"{facts.model_id} is a {facts.torch_dtype} checkpoint (no "
                    "quantization_config): TGI fails at load.",
                    "use a pre-quantized repo (e.g. an -AWQ or -GPTQ variant), or quantize on "
                    "the fly with bitsandbytes, eetq or fp8.",
                    "quantize-checkpoint",
                )
            ]
        return []
    accepted = PREQUANTIZED.get(have)
    if accepted is None:
        return []  # a method this library does not know: TGI decides
    if want not in accepted:
        return [
            Problem(
                path,
                f"{want} does not match the checkpoint of {facts.model_id}, which is quantized "
                f"with {have} (config.json quantization_config): TGI fails at load.",
                f"use quantize {sorted(accepted)[0]} (or leave it unset: TGI reads it from "
                "the checkpoint).",
                "quantize-checkpoint",
            )
        ]
    return []


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


def check_tier_inputs(tier: TierConfig, facts: ModelFacts, cache: CacheConfig) -> list[Problem]:
    return check_quantize(tier, facts) + check_cache_size(tier, facts, cache)

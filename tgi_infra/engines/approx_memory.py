"""A stand-in memory plan for engines whose own memory model has not landed yet.

vLLM and SGLang size their KV cache differently from TGI (profiling run, CUDA graph
memory, their own memory fractions), but the terms are the same: weights per GPU, a
context, an activation peak for the largest prefill, and KV bytes per token. Until
`tgi_infra.capacity` carries each engine's own model, their startup checks use TGI's warmup
arithmetic with the tier's settings translated, and say so in the plan's notes; the checks
that depend on it warn instead of refusing (`MemoryPlan.notes` carries APPROXIMATE_NOTE).
"""

from __future__ import annotations

import dataclasses

from tgi_infra.capacity.catalog import Gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.memory import MemoryPlan, plan_memory
from tgi_infra.config.models import TierConfig

APPROXIMATE_NOTE = "approximated with TGI's warmup arithmetic (the engine's own model pending)"

# Families of the engines' quantization names whose weight bytes TGI's model knows.
_QUANT_FAMILIES = {
    "awq": ("awq", "auto_awq", "awq_marlin"),
    "gptq": ("gptq", "auto_gptq", "gptq_marlin"),
    "fp8": ("fp8", "fp8_per_tensor", "fp8_per_block", "fp8_per_channel", "w8a8_fp8",
            "modelopt_fp8", "fbgemm_fp8"),
    "compressed-tensors": ("compressed-tensors",),
    "bitsandbytes-nf4": ("bitsandbytes",),
    "eetq": ("w8a8_int8", "int8_per_channel_weight_only", "experts_int8"),
}  # fmt: skip
_KV_FAMILIES = {"fp8_e4m3fn": ("fp8", "fp8_e4m3"), "fp8_e5m2": ("fp8_e5m2",)}
_DTYPES = {"float16": "float16", "half": "float16", "bfloat16": "bfloat16"}


def _family(value: str | None, families: dict[str, tuple[str, ...]]) -> str | None:
    return next((k for k, names in families.items() if value in names), None)


def approximate_plan(tier: TierConfig, facts: ModelFacts, gpu: Gpu) -> MemoryPlan:
    """TGI's plan for the same weights, GPU, prefill and KV dtype, marked approximate.

    The memory fraction is the tier's when the stack sets it; otherwise TGI's 1.0, whose
    10% wiggle room is close to vLLM's 0.92 default.
    """
    plan = plan_memory(
        facts,
        gpu_memory_bytes=gpu.memory_bytes,
        num_shard=tier.num_shard,
        quantize=_family(tier.quantize, _QUANT_FAMILIES),
        dtype=_DTYPES.get(tier.dtype or ""),
        kv_cache_dtype=_family(tier.kv_cache_dtype, _KV_FAMILIES),
        max_batch_prefill_tokens=tier.effective_max_batch_prefill_tokens,
        cuda_memory_fraction=tier.cuda_memory_fraction,
        max_input_tokens=min(tier.max_input_tokens, tier.effective_max_batch_prefill_tokens),
        max_total_tokens=tier.max_total_tokens,
    )
    return dataclasses.replace(plan, notes=(*plan.notes, APPROXIMATE_NOTE))


def is_approximate(plan: MemoryPlan) -> bool:
    return APPROXIMATE_NOTE in plan.notes

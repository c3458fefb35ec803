"""Where the performance model meets the memory model: one replica of a tier (pure).

`kv_plan` is the single place the KV capacity of an engine on a GPU is asked for: each
engine's own startup arithmetic (`capacity.kv.plan_kv`). `tier_replica` turns a planned
tier into the `performance.Replica` the throughput model reads, and
`tier_total_tokens_per_second` is what the tenant-overcommit check compares budgets with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from tgi_infra.capacity.catalog import Gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.kv import KvSettings, plan_kv
from tgi_infra.capacity.performance import FITTED, Calibration, Performance, Replica, saturated

if TYPE_CHECKING:  # a type only: capacity never imports the checks at run time
    from tgi_infra.checks.launcher import TierCapacity

OUTPUT_TOKEN_SHARE = 0.25
"""Tenant budgets count input + output tokens; without an SLO, ~3 prompt tokens per output."""
DEFAULT_OSL = 256
"""Generated tokens per request assumed for a tier without an SLO."""


@dataclass(frozen=True)
class KvPlan:
    """What the throughput model needs from an engine's startup arithmetic."""

    kv_cache_tokens: int
    weights_bytes_per_shard: int
    kv_bytes_per_token_per_shard: int
    fits: bool
    source: str


def kv_plan(
    engine: str,
    facts: ModelFacts,
    gpu: Gpu,
    *,
    tensor_parallel: int = 1,
    quantize: str | None = None,
    kv_cache_dtype: str | None = None,
    max_batch_prefill_tokens: int | None = None,
    max_input_tokens: int | None = None,
    max_total_tokens: int | None = None,
    version: str | None = None,
    engine_flags: Mapping[str, Any] | None = None,
) -> KvPlan:
    """KV tokens one replica of ``engine`` holds, from that engine's memory model
    (`capacity.kv.plan_kv`); ``max_total_tokens`` is the longest request it must admit
    (TGI ``--max-total-tokens``, vLLM ``--max-model-len``, SGLang ``--context-length``);
    ``engine_flags`` are more `KvSettings` fields as that engine takes them
    (e.g. ``{"gpu_memory_utilization": 0.9}``)."""
    if engine == "tgi":
        settings = KvSettings(
            tensor_parallel=tensor_parallel,
            quantize=quantize,
            kv_cache_dtype=kv_cache_dtype,
            max_batch_prefill_tokens=max_batch_prefill_tokens,
            max_input_tokens=max_input_tokens,
            max_total_tokens=max_total_tokens,
        )
    elif engine == "vllm":
        settings = KvSettings(
            tensor_parallel=tensor_parallel,
            quantize=quantize,
            kv_cache_dtype=kv_cache_dtype,
            max_model_len=max_total_tokens,
        )
    else:
        settings = KvSettings(
            tensor_parallel=tensor_parallel,
            quantize=quantize,
            kv_cache_dtype=kv_cache_dtype,
            context_length=max_total_tokens,
        )
    if engine_flags:
        settings = replace(settings, **engine_flags)
    plan = plan_kv(engine, facts, gpu, settings, version)
    return KvPlan(
        kv_cache_tokens=plan.kv_cache_tokens,
        weights_bytes_per_shard=plan.weights_bytes_per_shard,
        kv_bytes_per_token_per_shard=plan.kv_bytes_per_token_per_shard,
        fits=plan.fits,
        source=f"{engine} {plan.engine_version} memory model",
    )


def replica(
    engine: str,
    kv: KvPlan,
    *,
    tensor_parallel: int = 1,
    max_running_requests: int | None = None,
    prefill_chunk_tokens: int | None = None,
    fp8_compute: bool = False,
) -> Replica:
    return Replica(
        engine=engine,
        tensor_parallel=tensor_parallel,
        weights_bytes_per_shard=kv.weights_bytes_per_shard,
        kv_bytes_per_token_per_shard=kv.kv_bytes_per_token_per_shard,
        kv_cache_tokens=kv.kv_cache_tokens,
        max_running_requests=max_running_requests,
        prefill_chunk_tokens=prefill_chunk_tokens,
        fp8_compute=fp8_compute,
    )


def tier_replica(cap: TierCapacity) -> Replica:
    """One replica of a planned tier, on the KV capacity of the tier's memory plan: for every
    engine the plan `validate`, `plan` and `capacity` show (vLLM and SGLang: their own memory
    model with all the tier's flags, `engines/engine_memory.py`)."""
    tier, mem = cap.tier, cap.memory
    tokens = mem.max_batch_total_tokens
    weights, kv_token = mem.weights_bytes_per_shard, mem.kv_bytes_per_token_per_shard
    return Replica(
        engine=tier.engine,
        tensor_parallel=tier.num_shard,
        weights_bytes_per_shard=weights,
        kv_bytes_per_token_per_shard=kv_token,
        kv_cache_tokens=tokens,
        # Every engine's container is given maxConcurrentRequests as its running cap, and TGI
        # and vLLM maxBatchPrefillTokens as their per-step prompt budget (each plug-in's
        # `settings`); SGLang's prefill chunk is not that field, so its default stays.
        max_running_requests=tier.max_concurrent_requests,
        prefill_chunk_tokens=None
        if tier.engine == "sglang"
        else tier.effective_max_batch_prefill_tokens,
        fp8_compute=tier.quantize == "fp8" and cap.gpu.fp8,
    )


def tier_workload(cap: TierCapacity) -> tuple[int, int]:
    """(isl, osl) to plan a tier for: its SLO's when declared, else the assumed token mix."""
    slo = getattr(cap.tier, "slo", None)
    if slo is not None:
        return slo.isl, slo.osl
    osl = min(DEFAULT_OSL, max(1, cap.tier.max_total_tokens - cap.tier.max_input_tokens))
    isl = round(osl * (1 - OUTPUT_TOKEN_SHARE) / OUTPUT_TOKEN_SHARE)
    return max(1, min(isl, cap.tier.max_input_tokens)), osl


def tier_saturated(cap: TierCapacity, calibration: Calibration = FITTED) -> Performance:
    """One replica of the tier at its peak throughput for its workload."""
    isl, osl = tier_workload(cap)
    return saturated(cap.facts, cap.gpu, tier_replica(cap), isl, osl, calibration)


def tier_total_tokens_per_second(cap: TierCapacity) -> float:
    """Prompt + generated tokens/s one replica serves at saturation (0 when it does not fit)."""
    if not cap.memory.fits or cap.memory.max_batch_total_tokens <= 0:
        return 0.0
    return tier_saturated(cap).total_tokens_per_s

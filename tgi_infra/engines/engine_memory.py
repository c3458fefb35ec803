"""An engine's own memory model (`capacity.kv.plan_kv`) as the planner's `MemoryPlan`.

vLLM and SGLang plug-ins answer `native_memory_plan` through here: the tier's settings as
that engine's launch flags, the engine's startup arithmetic, and its terms mapped onto the
`MemoryPlan` fields the checks and tables read (KV tokens are the number the engine logs:
vLLM "GPU KV cache size: N tokens", SGLang "KV Cache is allocated. #tokens: N").
"""

from __future__ import annotations

from tgi_infra.capacity.catalog import Gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.kv import KvSettings, plan_kv
from tgi_infra.capacity.memory import MemoryPlan
from tgi_infra.config.models import TierConfig


def settings_for(tier: TierConfig) -> KvSettings:
    """The tier's launch flags as `KvSettings` for its engine (vllm or sglang)."""
    fraction = tier.cuda_memory_fraction if tier.memory_fraction_set else None
    common = {
        "tensor_parallel": tier.num_shard,
        "quantize": tier.quantize,
        "dtype": tier.dtype,
        "kv_cache_dtype": tier.kv_cache_dtype,
    }
    if tier.engine == "vllm":
        eager = tier.engine_args.get("enforce-eager")
        return KvSettings(
            **common,
            gpu_memory_utilization=fraction,
            max_model_len=tier.max_total_tokens,
            max_num_seqs=tier.max_concurrent_requests,
            max_num_batched_tokens=tier.effective_max_batch_prefill_tokens,
            enforce_eager=eager if isinstance(eager, bool) else None,
        )
    chunk = tier.engine_args.get("chunked-prefill-size")
    return KvSettings(
        **common,
        mem_fraction_static=fraction,
        context_length=tier.max_total_tokens,
        max_running_requests=tier.max_concurrent_requests,
        chunked_prefill_size=chunk if isinstance(chunk, int) else None,
    )


def memory_plan(tier: TierConfig, facts: ModelFacts, gpu: Gpu) -> MemoryPlan | None:
    """The engine's own plan, or None when its model does not cover the tier (a
    quantization or KV dtype it does not model, a version it cannot parse)."""
    version = tier.engine_version
    try:
        kv = plan_kv(
            tier.engine, facts, gpu, settings_for(tier),
            version if version[:1].isdigit() else None,
        )  # fmt: skip
    except ValueError:
        return None
    terms = kv.terms
    tokens = max(kv.kv_cache_tokens, 0)
    budget = tokens * kv.kv_bytes_per_token_per_shard
    context = int(terms.get("context_bytes", terms.get("non_torch_bytes", 0)) or 0)
    usable = int(
        terms.get("requested_bytes")
        or (kv.gpu_torch_total_bytes * float(terms.get("mem_fraction_static", 1.0)))
    )
    return MemoryPlan(
        gpu_memory_bytes=kv.gpu_torch_total_bytes,
        num_shard=tier.num_shard,
        weights_bytes_per_shard=kv.weights_bytes_per_shard,
        cuda_context_bytes=context,
        prefill_peak_bytes=int(terms.get("activation_bytes", 0) or 0),
        usable_bytes=usable,
        kv_bytes_per_token_per_shard=kv.kv_bytes_per_token_per_shard,
        kv_budget_bytes_per_shard=int(terms.get("available_bytes", budget) or budget),
        max_batch_total_tokens=tokens,
        fits=tokens > 0,
        notes=(f"{tier.engine} {kv.engine_version} memory model", *kv.notes),
        block_size=int(terms.get("block_size", 1) or 1),
        tgi_version=kv.engine_version,
    )

"""TGI's own startup rules (launcher and router) as named checks.

Each check says what TGI would have said at startup, minutes after the pod was scheduled,
and what to change in the stack. The capacity arithmetic comes from `capacity.memory`.
"""

from __future__ import annotations

from tgi_infra.capacity.catalog import Gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.kv import error_band_problem
from tgi_infra.capacity.memory import MemoryPlan, plan_memory
from tgi_infra.config.models import TierConfig
from tgi_infra.engines import common
from tgi_infra.engines.tgi.quantization import check_quantize_on_gpu
from tgi_infra.problems import Problem

BITSANDBYTES = ("bitsandbytes", "bitsandbytes-nf4", "bitsandbytes-fp4")


def plan_memory_for(tier: TierConfig, facts: ModelFacts, gpu: Gpu) -> MemoryPlan:
    """TGI's warmup arithmetic (`capacity.memory`) for a tier on a GPU."""
    version = tier.engine_version
    return plan_memory(
        facts,
        gpu_memory_bytes=gpu.memory_bytes,
        num_shard=tier.num_shard,
        quantize=tier.quantize,
        dtype=tier.dtype,
        kv_cache_dtype=tier.kv_cache_dtype,
        max_batch_prefill_tokens=tier.effective_max_batch_prefill_tokens,
        cuda_memory_fraction=tier.cuda_memory_fraction,
        max_input_tokens=tier.max_input_tokens,
        max_total_tokens=tier.max_total_tokens,
        tgi_version=version if version[:1].isdigit() else "3.3",
        compute_capability=gpu.compute_capability_tuple,
    )


MAINTENANCE_SINCE = "2025-12-11"
LAST_RELEASE = ("3.3.7", "2025-12-18")


def maintenance_notice(tier: TierConfig) -> Problem:
    """TGI is in maintenance mode: a warning on every TGI tier, with where to go next."""
    version, date = LAST_RELEASE
    return Problem(
        f"tiers[{tier.name}].engine",
        f"TGI is in maintenance mode since {MAINTENANCE_SINCE} (minor bug fixes and "
        f"documentation only); its last release is {version} ({date}). Hugging Face "
        "recommends vLLM or SGLang going forward.",
        "keep the tier on TGI, or compare it with the vLLM column of `tgi-infra plan` and "
        "move it with engine: vllm (a blue/green swap; docs/engines.md).",
        "tgi-maintenance-mode",
        "warning",
    )


def check_tier_arguments(tier: TierConfig) -> list[Problem]:
    """Rules TGI's launcher applies to its arguments alone (no model, no GPU)."""
    path = f"tiers[{tier.name}]"
    problems: list[Problem] = []
    if tier.max_input_tokens >= tier.max_total_tokens:
        problems.append(
            Problem(
                f"{path}.maxInputTokens",
                f"{tier.max_input_tokens} must be below maxTotalTokens {tier.max_total_tokens} "
                "(TGI: `max_input_tokens` must be < `max_total_tokens`): the difference is the "
                "room left for generated tokens.",
                f"lower maxInputTokens to at most {tier.max_total_tokens - 1}, or raise "
                "maxTotalTokens.",
                "input-below-total",
            )
        )
    prefill = tier.effective_max_batch_prefill_tokens
    if tier.max_input_tokens > prefill:
        chunking = _major(tier.engine_version) >= 3
        problems.append(
            Problem(
                f"{path}.maxBatchPrefillTokens",
                f"{prefill} is below maxInputTokens {tier.max_input_tokens} (TGI: "
                "`max_batch_prefill_tokens` must be >= `max_input_tokens` unless prefill "
                "chunking is on). "
                + (
                    "TGI 3 chunks long prompts with flashinfer or flashdecoding attention, but "
                    "not for vision models or paged attention, where the router refuses to "
                    "start."
                    if chunking
                    else f"TGI {tier.engine_version} does not chunk prefills."
                ),
                f"raise maxBatchPrefillTokens to at least {tier.max_input_tokens}, or lower "
                "maxInputTokens.",
                "prefill-covers-input",
                "warning" if chunking else "error",
            )
        )
    if tier.dtype is not None and tier.quantize is not None and tier.quantize not in BITSANDBYTES:
        problems.append(
            Problem(
                f"{path}.dtype",
                f"dtype {tier.dtype} cannot be combined with quantize {tier.quantize} (TGI: "
                "`dtype` and `quantize` are mutually exclusive, except for bitsandbytes).",
                "drop dtype; the quantized kernels choose it.",
                "dtype-with-quantize",
            )
        )
    if tier.quantize == "exl2" and tier.num_shard > 1:
        problems.append(
            Problem(
                f"{path}.numShard",
                f"{tier.num_shard} shards with quantize exl2 (TGI: sharding is currently not "
                "supported with `exl2` quantization).",
                "use numShard 1 and a GPU that holds the model, or another quantization.",
                "exl2-single-shard",
            )
        )
    return problems


def check_tier_capacity(
    tier: TierConfig,
    facts: ModelFacts,
    gpu: Gpu,
    gpus_per_node: int,
    mem: MemoryPlan,
    *,
    min_full_length_requests: int,
) -> list[Problem]:
    """Rules that need the model and the GPU: sharding, context, memory, KV capacity."""
    path = f"tiers[{tier.name}]"
    gib = 2**30
    problems = common.shards_fit_node(tier, gpu, gpus_per_node)
    problems += check_quantize_on_gpu(tier, facts, gpu)
    if facts.num_attention_heads % tier.num_shard:
        problems.append(
            Problem(
                f"{path}.numShard",
                f"{facts.model_id} has {facts.num_attention_heads} attention heads, not divisible "
                f"by {tier.num_shard} shards (TGI: `num_heads` must be divisible by `num_shards`).",
                f"use a shard count that divides {facts.num_attention_heads}.",
                "shards-divide-heads",
            )
        )
    prefill = tier.effective_max_batch_prefill_tokens
    if (
        mem.attention == "paged"
        and _major(tier.engine_version) >= 3
        and tier.max_input_tokens > prefill
    ):
        problems.append(
            Problem(
                f"{path}.maxBatchPrefillTokens",
                f"{prefill} is below maxInputTokens {tier.max_input_tokens}, and TGI runs "
                f"{facts.model_id} with paged attention on a {gpu.name} (compute capability "
                f"{gpu.compute_capability}), which does not chunk prefills: the router refuses "
                "to start (`max_batch_prefill_tokens` must be >= `max_input_tokens`).",
                f"raise maxBatchPrefillTokens to at least {tier.max_input_tokens}, lower "
                "maxInputTokens, or use a GPU of compute capability 8.0+.",
                "prefill-chunking-paged",
            )
        )
    if tier.kv_cache_dtype and mem.attention == "flashdecoding":
        problems.append(
            Problem(
                f"{path}.kvCacheDtype",
                f"{tier.kv_cache_dtype} with flashdecoding attention, which TGI picks for "
                f"{facts.model_id} (Falcon, DeepSeek-V2 or head dim {facts.head_dim} is not one "
                "flashinfer takes): 'FP8 KV cache is currently only supported for flashinfer "
                "on CUDA and paged attention on CUDA, ROCm and INTEL IPEX and flashdecoding in "
                "Intel IPEX' (layers/attention/kv_cache.py, at warmup).",
                "drop kvCacheDtype (16-bit KV cache), or serve the model on vLLM or SGLang "
                "with an fp8 KV cache.",
                "fp8-kv-attention",
            )
        )
    if tier.max_total_tokens > facts.max_position_embeddings:
        problems.append(
            Problem(
                f"{path}.maxTotalTokens",
                f"{tier.max_total_tokens} exceeds the model's context length "
                f"{facts.max_position_embeddings} ({facts.model_id}, max_position_embeddings).",
                f"lower maxTotalTokens to at most {facts.max_position_embeddings}.",
                "context-length",
            )
        )
    if mem.max_batch_total_tokens <= 0:
        need = mem.weights_bytes_per_shard + mem.cuda_context_bytes + mem.prefill_peak_bytes
        problems.append(
            Problem(
                path,
                f"weights ({mem.weights_bytes_per_shard / gib:.1f} GiB per shard) plus CUDA "
                f"context and the warmup prefill of {tier.effective_max_batch_prefill_tokens} "
                f"tokens ({mem.prefill_peak_bytes / gib:.1f} GiB) need {need / gib:.1f} GiB, more "
                f"than the {mem.usable_bytes / gib:.1f} GiB usable on a {gpu.name}; TGI "
                "would fail warmup (CUDA out of memory).",
                "add shards, quantize (awq/gptq/fp8), lower maxBatchPrefillTokens, or use a "
                "larger GPU.",
                "weights-fit",
            )
        )
        return problems
    if tier.max_total_tokens > mem.max_batch_total_tokens:
        problems.append(
            Problem(
                f"{path}.maxTotalTokens",
                f"{tier.max_total_tokens} exceeds the KV cache TGI would allocate on a "
                f"{gpu.name} × {tier.num_shard}: {mem.max_batch_total_tokens} tokens "
                "(TGI: `max_total_tokens` must be <= `max_batch_total_tokens`).",
                f"lower maxTotalTokens to at most {mem.max_batch_total_tokens}, use an fp8 KV "
                "cache, quantize, add shards, or use a larger GPU.",
                "total-within-kv",
            )
        )
    elif tier.effective_max_batch_prefill_tokens > mem.max_batch_total_tokens:
        problems.append(
            Problem(
                f"{path}.maxBatchPrefillTokens",
                f"{tier.effective_max_batch_prefill_tokens} exceeds the KV cache of "
                f"{mem.max_batch_total_tokens} tokens (TGI: `max_batch_prefill_tokens` must be "
                "<= `max_batch_total_tokens`).",
                f"lower maxBatchPrefillTokens to at most {mem.max_batch_total_tokens}.",
                "prefill-within-kv",
            )
        )
    else:
        problems += common.kv_holds_requests(tier, mem, min_full_length_requests)
    if not problems:
        near = error_band_problem(
            "tgi", mem.max_batch_total_tokens, tier.max_total_tokens, f"{path}.maxTotalTokens"
        )
        problems += [near] if near else []
    return problems


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 3

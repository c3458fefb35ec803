"""vLLM's own startup refusals, as named checks worded as vLLM words them, plus the fix.

Read from vllm 0.34.0 (PyPI wheel):
- `vllm/config/model.py` `_get_and_verify_max_len`: "User-specified max_model_len (X) is
  greater than the derived max_model_len (max_position_embeddings=Y ...)"; the derived
  length is multiplied by the rope scaling factor except for rope types su, longrope,
  llama3, yarn, deepseek_yarn, deepseek_llama_scaling, and never for gemma3.
- `ModelConfig.verify_with_parallel_config`: "Total number of attention heads (H) must be
  divisible by tensor parallel size (T)."
- `vllm/model_executor/layers/linear.py` `QKVParallelLinear`: `divide(tp, kv_heads)` when
  tp >= kv_heads (KV heads replicated), else `divide(kv_heads, tp)`: one must divide the other.
- `ModelConfig._verify_quantization`: "Quantization method specified in the model config (Q)
  does not match the quantization method specified in the `quantization` argument (T).";
  "Unknown quantization method: Q" outside `QuantizationMethods`
  (`model_executor/layers/quantization/__init__.py`); "The quantization method fbgemm_fp8 is
  deprecated ... set `--allow-deprecated-quantization`" (`DEPRECATED_QUANTIZATION_METHODS`).
- `vllm/v1/core/kv_cache_planning.py`: "To serve at least one request with the model's max
  seq len (L), (X GiB KV cache is needed, which is larger than the available KV cache
  memory (Y GiB)."
- `vllm/config/scheduler.py` `verify_max_model_len`: "max_num_batched_tokens (B) is smaller
  than max_model_len (L) ..." unless chunked prefill is on; "max_num_batched_tokens (B) must
  be greater than or equal to max_num_seqs (S)."
"""

from __future__ import annotations

from tgi_infra.capacity.catalog import Gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.kv import error_band_problem
from tgi_infra.capacity.memory import MemoryPlan
from tgi_infra.config.models import TierConfig
from tgi_infra.engines import common
from tgi_infra.engines.approx_memory import is_approximate
from tgi_infra.engines.vllm.dtype import check_dtype_on_gpu
from tgi_infra.problems import Problem

GIB = 2**30
# Rope types whose max_position_embeddings already counts the scaling (no factor applied).
UNSCALED_ROPE_TYPES = frozenset(
    {"su", "longrope", "llama3", "yarn", "deepseek_yarn", "deepseek_llama_scaling"}
)
# Methods vLLM applies to an unquantized checkpoint at load time (online quantization:
# vllm/config/quantization.py `_ONLINE_SHORTHANDS` and the in-flight methods). Every other
# --quantization needs a checkpoint that carries that quantization_config.
ONLINE_QUANTIZATION = frozenset(
    {
        "fp8", "online", "fp8_per_tensor", "fp8_per_block", "fp8_per_channel",
        "int8_per_channel_weight_only", "nvfp4_per_token", "mxfp8", "mxfp4", "lut_b_moe",
        "mxfp4_hadamard32", "experts_int8", "torchao", "inc",
    }
)  # fmt: skip
# vllm/model_executor/layers/quantization/__init__.py `QuantizationMethods` (0.34.0): what
# `_verify_quantization` accepts ("Unknown quantization method: ..." otherwise). No
# bitsandbytes or gguf in 0.34; fbgemm_fp8 only with --allow-deprecated-quantization.
REGISTERED_METHODS = frozenset(
    {
        "awq", "auto_awq", "fp8", "w4afp8", "fbgemm_fp8", "modelopt", "modelopt_fp4",
        "modelopt_mxfp8", "modelopt_mixed", "auto_gptq", "gptq", "gptq_marlin", "awq_marlin",
        "humming", "compressed-tensors", "experts_int8", "quark", "moe_wna16", "torchao",
        "inc", "mxfp4", "gpt_oss_mxfp4", "deepseek_v4_fp8", "online", "fp8_per_tensor",
        "fp8_per_block", "fp8_per_channel", "int8_per_channel_weight_only", "nvfp4_per_token",
        "mxfp8", "lut_b_moe", "mxfp4_hadamard32",
    }
)  # fmt: skip
DEPRECATED_METHODS = frozenset({"fbgemm_fp8"})  # DEPRECATED_QUANTIZATION_METHODS
# Each method's config class `get_min_capability` (quantization/__init__.py
# get_quantization_config, then auto_awq.py, auto_gptq.py, fp8.py, fbgemm_fp8.py,
# modelopt.py, compressed_tensors.py, experts_int8.py, moe_wna16.py, torchao.py, mxfp4.py,
# humming.py), enforced by config/vllm.py `_get_quantization_config`: "The quantization
# method T is not supported for the current GPU. Minimum capability: N. Current capability: C."
MIN_CAPABILITY: dict[str, int] = {
    "awq": 75, "awq_marlin": 75, "auto_awq": 75, "gptq": 60, "gptq_marlin": 60,
    "auto_gptq": 60, "fp8": 75, "fbgemm_fp8": 80, "modelopt": 80, "modelopt_fp4": 75,
    "compressed-tensors": 70, "experts_int8": 80, "moe_wna16": 70, "torchao": 75,
    "mxfp4": 80, "gpt_oss_mxfp4": 80, "humming": 75,
}  # fmt: skip
# Checkpoint methods an override maps onto a registered one (inc/inc.py: auto-round -> inc).
OVERRIDDEN_CHECKPOINTS = frozenset({"auto-round"})
# Names of one checkpoint format that vLLM's override detection maps onto each other
# (`ModelConfig._verify_quantization` overrides: awq -> awq_marlin, gptq -> gptq_marlin).
QUANTIZATION_FAMILIES = (
    frozenset({"awq", "auto_awq", "awq_marlin", "moe_wna16"}),
    frozenset({"gptq", "auto_gptq", "gptq_marlin", "moe_wna16"}),
    frozenset({"modelopt", "modelopt_fp4", "modelopt_mxfp8", "modelopt_mixed"}),
)


def derived_max_model_len(facts: ModelFacts) -> int:
    """The context length vLLM derives from config.json, before any override."""
    derived = float(facts.max_position_embeddings)
    rope = facts.rope_scaling_type
    if rope and rope not in UNSCALED_ROPE_TYPES and "gemma3" not in facts.architecture.lower():
        derived *= facts.rope_scaling_factor or 1.0
    return int(derived)


def chunked_prefill(tier: TierConfig) -> bool:
    """On by default in vLLM 0.34 (`enable_chunked_prefill: None` resolves to on)."""
    return tier.engine_args.get("enable-chunked-prefill", True) is not False


def check_arguments(tier: TierConfig) -> list[Problem]:
    path = f"tiers[{tier.name}]"
    problems = common.input_below_total(tier)
    batched, max_len = tier.effective_max_batch_prefill_tokens, tier.max_total_tokens
    if batched < max_len and not chunked_prefill(tier):
        problems.append(
            Problem(
                f"{path}.maxBatchPrefillTokens",
                f"vLLM: max_num_batched_tokens ({batched}) is smaller than max_model_len "
                f"({max_len}). This effectively limits the maximum sequence length to "
                "max_num_batched_tokens and makes vLLM reject longer sequences (chunked "
                "prefill is off in engineArgs).",
                f"raise maxBatchPrefillTokens to at least {max_len}, lower maxTotalTokens, or "
                "drop enable-chunked-prefill: false.",
                "vllm-batched-tokens-cover-model-len",
            )
        )
    problems += common.tokenizer_reachable(tier, "tokenizer", "vLLM")
    if batched < tier.max_concurrent_requests:
        problems.append(
            Problem(
                f"{path}.maxBatchPrefillTokens",
                f"vLLM: max_num_batched_tokens ({batched}) must be greater than or equal to "
                f"max_num_seqs ({tier.max_concurrent_requests}).",
                f"raise maxBatchPrefillTokens to at least {tier.max_concurrent_requests}, or "
                "lower maxConcurrentRequests.",
                "vllm-batched-tokens-cover-seqs",
            )
        )
    return problems


def check_capacity(
    tier: TierConfig,
    facts: ModelFacts,
    gpu: Gpu,
    gpus_per_node: int,
    mem: MemoryPlan,
    *,
    min_full_length_requests: int,
) -> list[Problem]:
    path = f"tiers[{tier.name}]"
    problems = common.shards_fit_node(tier, gpu, gpus_per_node)
    tp = tier.num_shard
    if facts.num_attention_heads % tp:
        problems.append(
            Problem(
                f"{path}.numShard",
                f"vLLM: Total number of attention heads ({facts.num_attention_heads}) must be "
                f"divisible by tensor parallel size ({tp}) ({facts.model_id}).",
                f"use a numShard that divides {facts.num_attention_heads}.",
                "vllm-tp-divides-heads",
            )
        )
    kv = facts.num_kv_heads
    if (tp >= kv and tp % kv) or (tp < kv and kv % tp):
        problems.append(
            Problem(
                f"{path}.numShard",
                f"vLLM: {max(tp, kv)} is not divisible by {min(tp, kv)}: {facts.model_id} has "
                f"{kv} KV heads, and tensor parallel size {tp} must divide them (or, above "
                "them, be a multiple of them so each GPU holds a replica).",
                f"use a numShard that divides {kv} or is a multiple of it.",
                "vllm-tp-kv-heads",
            )
        )
    derived = derived_max_model_len(facts)
    if tier.max_total_tokens > derived:
        problems.append(
            Problem(
                f"{path}.maxTotalTokens",
                f"vLLM: User-specified max_model_len ({tier.max_total_tokens}) is greater "
                f"than the derived max_model_len (max_position_embeddings="
                f"{facts.max_position_embeddings}"
                + (
                    f", rope_scaling {facts.rope_scaling_type} x{facts.rope_scaling_factor:g}"
                    if derived != facts.max_position_embeddings and facts.rope_scaling_factor
                    else ""
                )
                + f" in {facts.model_id}'s config.json).",
                f"lower maxTotalTokens to at most {derived} (VLLM_ALLOW_LONG_MAX_MODEL_LEN=1 "
                "overrides it, and breaks RoPE models past that length).",
                "vllm-max-model-len",
            )
        )
    problems += check_quantization_on_gpu(tier, facts, gpu)
    problems += check_dtype_on_gpu(tier, facts, gpu)
    problems += common.weights_fit(tier, gpu, mem, "vLLM")
    if mem.max_batch_total_tokens <= 0:
        return problems
    if tier.max_total_tokens > mem.max_batch_total_tokens:
        approx = is_approximate(mem)
        need = tier.max_total_tokens * mem.kv_bytes_per_token_per_shard / GIB
        have = mem.kv_budget_bytes_per_shard / GIB
        problems.append(
            Problem(
                f"{path}.maxTotalTokens",
                f"vLLM: To serve at least one request with the model's max seq len "
                f"({tier.max_total_tokens}), ({need:.2f} GiB KV cache is needed, which is "
                f"larger than the available KV cache memory ({have:.2f} GiB) on a "
                f"{gpu.name} x {tp}. Based on the available memory, the estimated maximum "
                f"model length is {mem.max_batch_total_tokens}."
                + (" (Estimated with TGI's memory arithmetic.)" if approx else ""),
                f"lower maxTotalTokens to at most {mem.max_batch_total_tokens}, use an fp8 KV "
                "cache, quantize, add shards, or use a larger GPU.",
                "vllm-kv-holds-one-request",
                "warning" if approx else "error",
            )
        )
        return problems
    problems += common.kv_holds_requests(tier, mem, min_full_length_requests)
    if not problems and not is_approximate(mem):
        near = error_band_problem(
            "vllm", mem.max_batch_total_tokens, tier.max_total_tokens, f"{path}.maxTotalTokens"
        )
        problems += [near] if near else []
    return problems


def check_quantization(tier: TierConfig, facts: ModelFacts) -> list[Problem]:
    """`quantize` against the checkpoint, as `ModelConfig._verify_quantization` does, and a
    compressed-tensors checkpoint's sparsity (`_check_sparsity`)."""
    return _check_quantize_flag(tier, facts) or _check_sparsity(tier, facts)


def _check_sparsity(tier: TierConfig, facts: ModelFacts) -> list[Problem]:
    """compressed_tensors.py `_parse_sparsity_config` (0.34.0): a sparsity_config with
    targets raises at config parse."""
    scheme = facts.compressed_tensors
    if scheme is None or not scheme.sparsity_targets:
        return []
    return [
        Problem(
            f"tiers[{tier.name}].modelId",
            f"vLLM: Sparsity support has been removed from compressed-tensors. Please use a "
            f"model without sparsity configuration. ({facts.model_id} has a "
            f"{scheme.sparsity_structure} sparsity_config over "
            f"{', '.join(scheme.sparsity_targets)})",
            "serve the dense variant of the model (the same export without the sparsity "
            "pass).",
            "vllm-checkpoint-quantization",
        )
    ]


def _check_quantize_flag(tier: TierConfig, facts: ModelFacts) -> list[Problem]:
    wanted, carried = tier.quantize, facts.checkpoint_quantization
    path = f"tiers[{tier.name}].quantize"
    if wanted is None:
        return _check_checkpoint_method(tier, facts, path)
    if carried is None:
        if wanted in ONLINE_QUANTIZATION:
            return []
        return [
            Problem(
                path,
                f"vLLM: --quantization {wanted} needs a checkpoint quantized with it, but "
                f"{facts.model_id} carries no quantization_config (vLLM fails loading the "
                "weights).",
                "use a checkpoint quantized with that method (e.g. an -AWQ / -GPTQ repo), an "
                "online method (fp8), or drop quantize.",
                "vllm-checkpoint-quantization",
            )
        ]
    same = wanted == carried or any(
        wanted in family and carried in family for family in QUANTIZATION_FAMILIES
    )
    if same:
        return _check_deprecated(tier, facts, wanted, path)
    return [
        Problem(
            path,
            f"vLLM: Quantization method specified in the model config ({carried}) does not "
            f"match the quantization method specified in the `quantization` argument "
            f"({wanted}) ({facts.model_id}).",
            f"drop quantize (vLLM reads {carried} from the checkpoint) or set it to {carried}.",
            "vllm-checkpoint-quantization",
        )
    ]


def _check_checkpoint_method(tier: TierConfig, facts: ModelFacts, path: str) -> list[Problem]:
    """No --quantization: vLLM takes the checkpoint's method, which must be registered and,
    if deprecated, allowed."""
    carried = facts.checkpoint_quantization
    if carried is None:
        return []
    hidden = common.quantization_not_detected(
        tier, facts, "vLLM", {}, "vllm-checkpoint-quantization"
    )
    if hidden:
        return hidden
    if carried not in REGISTERED_METHODS and carried not in OVERRIDDEN_CHECKPOINTS:
        return [
            Problem(
                path,
                f"vLLM: Unknown quantization method: {carried} ({facts.model_id}'s "
                f"quantization_config). Must be one of {', '.join(sorted(REGISTERED_METHODS))}.",
                f"serve this checkpoint on an engine that reads {carried}, or use a variant "
                "vLLM reads (awq, gptq, fp8, compressed-tensors, modelopt).",
                "vllm-checkpoint-quantization",
            )
        ]
    return _check_deprecated(tier, facts, carried, path)


def _check_deprecated(tier: TierConfig, facts: ModelFacts, method: str, path: str) -> list[Problem]:
    """A deprecated method (fbgemm_fp8) starts only with --allow-deprecated-quantization."""
    allowed = tier.engine_args.get("allow-deprecated-quantization") is True
    if method in DEPRECATED_METHODS and not allowed:
        return [
            Problem(
                path,
                f"vLLM: The quantization method {method} is deprecated and will be removed in "
                "future versions of vLLM. To bypass, set `--allow-deprecated-quantization` "
                f"({facts.model_id}).",
                "add engineArgs allow-deprecated-quantization: true, or use an fp8 or "
                "compressed-tensors variant of the model.",
                "vllm-checkpoint-quantization",
            )
        ]
    return []


def check_quantization_on_gpu(tier: TierConfig, facts: ModelFacts, gpu: Gpu) -> list[Problem]:
    """The quantization's minimum compute capability, once `check_quantization` passed (the
    overrides keep a method's config class: awq -> auto_awq, gptq -> auto_gptq)."""
    if check_quantization(tier, facts):
        return []
    method = tier.quantize or facts.checkpoint_quantization
    need = MIN_CAPABILITY.get(method or "")
    have = gpu.compute_capability_int
    if need is None or have >= need:
        return []
    return [
        Problem(
            f"tiers[{tier.name}].quantize",
            f"vLLM: The quantization method {method} is not supported for the current GPU. "
            f"Minimum capability: {need}. Current capability: {have} ({gpu.name}, "
            f"{facts.model_id}).",
            f"use a GPU of compute capability {need // 10}.{need % 10}+, or a checkpoint "
            "quantized with awq or gptq (which vLLM runs from 7.5 and 6.0).",
            "vllm-quantization-gpu",
        )
    ]

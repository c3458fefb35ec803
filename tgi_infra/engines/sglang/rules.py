"""SGLang's own startup refusals, as named checks worded as SGLang words them, plus the fix.

Read from sglang 0.5.23 (PyPI wheel):
- `sglang/srt/configs/model_config.py` `_derive_context_length`: "User-specified
  context_length (X) is greater than the derived context_length (Y) ... To allow overriding
  this maximum, set the env var SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1"; the derived
  length (`utils/hf_transformers/common.py` `get_context_length`) multiplies the rope
  scaling factor unless the type is llama3 or rope_scaling has
  original_max_position_embeddings.
- `sglang/srt/models/llama.py` (and the other model files): `total_num_heads % tp_size == 0`;
  `total_num_kv_heads % tp_size == 0` when kv heads >= tp, else `tp_size % total_num_kv_heads`.
- `sglang/srt/arg_groups/validation_hook.py`: "served_model_name cannot contain a colon
  (':') character"; "chunked_prefill_size must be divisible by page_size".
- `sglang/srt/managers/tp_worker.py`: "KV pool holds N tokens, fewer than --context-length
  L. One full-length request cannot fit..." (a warning; SGLang still starts).
- `sglang/srt/configs/model_config.py` `_verify_quantization`: the checkpoint against
  `--quantization` (`quantization.py` beside this file, applied by `check_checkpoint`).
- `sglang/srt/model_executor/pool_configurator.py`: "Not enough memory. Please try to
  increase --mem-fraction-static." when the KV pool would be empty.
"""

from __future__ import annotations

from tgi_infra.capacity.catalog import Gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.kv import error_band_problem
from tgi_infra.capacity.memory import MemoryPlan
from tgi_infra.config.models import TierConfig
from tgi_infra.engines import common
from tgi_infra.engines.approx_memory import is_approximate
from tgi_infra.engines.sglang.quantization import check_quantize_on_gpu
from tgi_infra.problems import Problem


def derived_context_length(facts: ModelFacts) -> int:
    """The context length SGLang derives from config.json."""
    factor = facts.rope_scaling_factor or 1.0
    if (
        facts.rope_scaling_type is None
        or facts.rope_scaling_type == "llama3"
        or facts.rope_scaling_has_original_max
    ):
        factor = 1.0
    return int(factor * facts.max_position_embeddings)


def check_arguments(tier: TierConfig) -> list[Problem]:
    path = f"tiers[{tier.name}]"
    problems = common.input_below_total(tier)
    if ":" in tier.model_name:
        problems.append(
            Problem(
                f"{path}.servedModelName",
                "SGLang: served_model_name cannot contain a colon (':') character. The colon "
                "is reserved for the 'model:adapter' syntax used in LoRA adapter "
                f"specification. Invalid value: '{tier.model_name}'.",
                "set servedModelName without ':' (e.g. replace it with '-').",
                "sglang-served-model-name",
            )
        )
    problems += common.tokenizer_reachable(tier, "tokenizer-path", "SGLang")
    chunk = tier.engine_args.get("chunked-prefill-size")
    page = tier.engine_args.get("page-size", 1)
    if isinstance(chunk, int) and isinstance(page, int) and page > 0 and chunk > 0 and chunk % page:
        problems.append(
            Problem(
                f"{path}.engineArgs.chunked-prefill-size",
                f"SGLang: chunked_prefill_size must be divisible by page_size ({chunk} by "
                f"{page}).",
                f"use a multiple of {page}, e.g. {chunk - chunk % page or page}.",
                "sglang-chunked-prefill-page-size",
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
    tp, kv = tier.num_shard, facts.num_kv_heads
    if facts.num_attention_heads % tp:
        problems.append(
            Problem(
                f"{path}.numShard",
                f"SGLang: total_num_heads % tp_size == 0 fails: {facts.model_id} has "
                f"{facts.num_attention_heads} attention heads, tp_size is {tp} (the model "
                "fails to load).",
                f"use a numShard that divides {facts.num_attention_heads}.",
                "sglang-tp-divides-heads",
            )
        )
    elif (kv >= tp and kv % tp) or (kv < tp and tp % kv):
        problems.append(
            Problem(
                f"{path}.numShard",
                f"SGLang: {facts.model_id} has {kv} KV heads; tp_size {tp} must divide them "
                "(or be a multiple of them, each GPU holding a replica).",
                f"use a numShard that divides {kv} or is a multiple of it.",
                "sglang-tp-kv-heads",
            )
        )
    problems += check_quantize_on_gpu(tier, facts, gpu)
    derived = derived_context_length(facts)
    if tier.max_total_tokens > derived:
        problems.append(
            Problem(
                f"{path}.maxTotalTokens",
                f"SGLang: User-specified context_length ({tier.max_total_tokens}) is greater "
                f"than the derived context_length ({derived}) of {facts.model_id}. This may "
                "lead to incorrect model outputs or CUDA errors.",
                f"lower maxTotalTokens to at most {derived} "
                "(SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1 overrides it).",
                "sglang-context-length",
            )
        )
    if mem.max_batch_total_tokens <= 0:
        gib = 2**30
        problems.append(
            Problem(
                path,
                "SGLang: Not enough memory. Please try to increase --mem-fraction-static. "
                f"(weights {mem.weights_bytes_per_shard / gib:.1f} GiB per GPU leave no KV "
                f"pool on a {gpu.name}).",
                "add shards, quantize, or use a larger GPU (raising cudaMemoryFraction helps "
                "only when it is below what the weights need).",
                "weights-fit",
            )
        )
        return problems
    if tier.max_total_tokens > mem.max_batch_total_tokens:
        problems.append(
            Problem(
                f"{path}.maxTotalTokens",
                f"SGLang: KV pool holds {mem.max_batch_total_tokens} tokens (estimated), fewer "
                f"than --context-length {tier.max_total_tokens}. One full-length request "
                "cannot fit, so long requests will be refused or truncated at serving time.",
                f"lower maxTotalTokens to at most {mem.max_batch_total_tokens}, use an fp8 KV "
                "cache, quantize, add shards, or use a larger GPU.",
                "sglang-kv-holds-one-request",
                "warning",
            )
        )
        return problems
    problems += common.kv_holds_requests(tier, mem, min_full_length_requests)
    if not problems and not is_approximate(mem):
        near = error_band_problem(
            "sglang", mem.max_batch_total_tokens, tier.max_total_tokens, f"{path}.maxTotalTokens"
        )
        problems += [near] if near else []
    return problems

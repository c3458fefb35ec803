"""Rules every engine shares: they follow from the platform, not from one engine's CLI.

TGI words some of them as its launcher does (`engines/tgi/rules.py`); vLLM and SGLang use
these, each passing its own flag names for the message.
"""

from __future__ import annotations

from tgi_infra.capacity.catalog import Gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.memory import MemoryPlan, max_total_tokens_for_requests
from tgi_infra.config.models import TierConfig
from tgi_infra.problems import Problem

GIB = 2**30


def input_below_total(tier: TierConfig) -> list[Problem]:
    """maxInputTokens < maxTotalTokens: the difference is the room left to generate."""
    if tier.max_input_tokens < tier.max_total_tokens:
        return []
    return [
        Problem(
            f"tiers[{tier.name}].maxInputTokens",
            f"{tier.max_input_tokens} must be below maxTotalTokens {tier.max_total_tokens}: "
            "the difference is the room left for generated tokens.",
            f"lower maxInputTokens to at most {tier.max_total_tokens - 1}, or raise "
            "maxTotalTokens.",
            "input-below-total",
        )
    ]


def shards_fit_node(tier: TierConfig, gpu: Gpu, gpus_per_node: int) -> list[Problem]:
    if tier.num_shard <= gpus_per_node:
        return []
    return [
        Problem(
            f"tiers[{tier.name}].numShard",
            f"{tier.num_shard} shards need {tier.num_shard} GPUs on one node, but pool "
            f"{tier.node_pool!r} has {gpus_per_node} {gpu.name} per node.",
            f"use at most {gpus_per_node} shards, or an instance type with "
            f"{tier.num_shard}+ GPUs.",
            "shards-fit-node",
        )
    ]


def weights_fit(tier: TierConfig, gpu: Gpu, mem: MemoryPlan, engine: str) -> list[Problem]:
    """Weights, CUDA context and the prefill peak leave room for a KV cache at all."""
    if mem.max_batch_total_tokens > 0:
        return []
    need = mem.weights_bytes_per_shard + mem.cuda_context_bytes + mem.prefill_peak_bytes
    return [
        Problem(
            f"tiers[{tier.name}]",
            f"weights ({mem.weights_bytes_per_shard / GIB:.1f} GiB per shard) plus CUDA "
            f"context and a prefill of {tier.effective_max_batch_prefill_tokens} tokens "
            f"({mem.prefill_peak_bytes / GIB:.1f} GiB) need {need / GIB:.1f} GiB, more than "
            f"the {mem.usable_bytes / GIB:.1f} GiB usable on a {gpu.name}; {engine} would "
            "fail at startup (CUDA out of memory, or no memory left for the KV cache).",
            "add shards, quantize, lower maxBatchPrefillTokens, or use a larger GPU.",
            "weights-fit",
        )
    ]


def kv_holds_requests(
    tier: TierConfig, mem: MemoryPlan, min_full_length_requests: int
) -> list[Problem]:
    """Warn when the KV cache holds fewer than capacity.minFullLengthRequests requests."""
    held = mem.max_batch_total_tokens // tier.max_total_tokens
    if held >= min_full_length_requests or held == 0:
        return []
    best = max_total_tokens_for_requests(mem, min_full_length_requests)
    return [
        Problem(
            f"tiers[{tier.name}].maxTotalTokens",
            f"the KV cache ({mem.max_batch_total_tokens} tokens) holds only {held} "
            f"request(s) of {tier.max_total_tokens} tokens; long requests will serialize "
            f"and queue (capacity.minFullLengthRequests = {min_full_length_requests}).",
            f"lower maxTotalTokens to {best} to hold {min_full_length_requests}, or add "
            "memory (fp8 KV cache, quantization, shards).",
            "kv-holds-requests",
            "warning",
        )
    ]


# Files beside config.json with a GPTQ/AWQ checkpoint's settings (AutoGPTQ, AutoAWQ). No
# engine's auto-detection reads them: vLLM (`model_arch_config_convertor`) and SGLang
# (`_parse_quant_hf_config`) take config.json's quantization_config or compression_config
# (else hf_quant_config.json), TGI's launcher and get_model config.json's. They are read
# only once a quantization is passed, by the weight loader.
UNDETECTED_QUANTIZATION_FILES = frozenset({"quantize_config.json", "quant_config.json"})


def quantization_not_detected(
    tier: TierConfig, facts: ModelFacts, engine: str, values: dict[str, str], check: str
) -> list[Problem]:
    """No quantize on a checkpoint whose settings live only beside config.json: the engine
    loads the packed weights as 16-bit ones and fails. `values` maps the checkpoint's
    method to the engine's quantize value for it."""
    where = facts.quantization_file
    method = facts.checkpoint_quantization
    if tier.quantize is not None or where not in UNDETECTED_QUANTIZATION_FILES or not method:
        return []
    value = values.get(method, method)
    return [
        Problem(
            f"tiers[{tier.name}].quantize",
            f"{engine} detects a checkpoint's quantization in config.json only, and "
            f"{facts.model_id} keeps its {method} settings in {where}: with no quantize, "
            f"{engine} loads the packed weights as 16-bit ones and fails.",
            f"set quantize {value} ({engine} then reads {where}).",
            check,
        )
    ]


def tokenizer_reachable(tier: TierConfig, flag: str, engine: str) -> list[Problem]:
    """engineArgs `flag` (a tokenizer repo or directory) against what the pod can read: the
    pods run with HF_HUB_OFFLINE=1 and the cache Job downloads modelId only, so another Hub
    repo is not there; a path must be absolute (baked into a custom image), as a relative
    one that is no repo id (`../x`) only fails."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    value = tier.engine_args.get(flag)
    if not isinstance(value, str) or value == tier.model_id:
        return []
    path = f"tiers[{tier.name}].engineArgs.{flag}"
    if value.startswith("/"):
        return [
            Problem(
                path,
                f"{engine}: --{flag} {value!r} is a directory the container must hold; the "
                "engine's own image has none and the weight cache holds only modelId's files.",
                "leave it unset (the model repo's tokenizer), or use an image that has it.",
                "tokenizer-reachable",
                "warning",
            )
        ]
    try:
        validate_repo_id(value)
    except HFValidationError as exc:
        return [
            Problem(
                path,
                f"{engine}: --{flag} {value!r} is neither an absolute path nor a Hub repo id: "
                "relative to the image's working directory it names nothing in the engine's "
                f"image, and as a repo id huggingface_hub refuses it ({exc}); loading the "
                "tokenizer fails at startup.",
                "leave it unset (the model repo's tokenizer is used), or give an absolute "
                "path inside the image.",
                "tokenizer-reachable",
            )
        ]
    return [
        Problem(
            path,
            f"{engine}: --{flag} {value!r} names another Hub repo, but the pods run with "
            f"HF_HUB_OFFLINE=1 and the cache Job downloads only {tier.model_id}: loading the "
            "tokenizer fails at startup.",
            "leave it unset (the model repo's tokenizer is used), or serve a repo that ships "
            "the tokenizer you want.",
            "tokenizer-reachable",
        )
    ]

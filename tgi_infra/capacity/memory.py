"""TGI's warmup memory model: how many KV-cache tokens a replica will get (pure).

When a TGI shard starts it loads the weights, then *warms up*: it allocates the KV blocks of
the largest prefill batch the router could send, runs that prefill once (so the PyTorch
caching allocator keeps the activation peak reserved), measures the free memory, keeps a
wiggle room, and turns what is left into KV-cache blocks. The router logs the result as
``Setting max batch total tokens to N``. This module predicts N from the model's facts and
the launch flags, without torch and without a GPU, so the planner can refuse a tier whose
``max-total-tokens`` would not fit before a pod ever starts.

Where each term comes from (TGI source, ``huggingface/text-generation-inference``):

- ``server/text_generation_server/models/flash_causal_lm.py`` ``FlashCausalLM.warmup``:
  ``cache_block_size = BLOCK_SIZE * num_kv_heads * head_size``,
  ``total_cache_size = num_layers * cache_block_size * 2 * dtype_size`` (K and V, the KV
  cache dtype), ``num_kv_heads // world_size`` per shard (1 stays 1), and
  ``num_blocks = kv_memory // total_cache_size + batch.num_blocks``.
- ``server/text_generation_server/utils/import_utils.py`` ``get_cuda_free_memory``:
  ``free = mem_get_info().free - (1 - fraction) * total_memory``.
- The wiggle room by release (``git show vX:.../flash_causal_lm.py``, ``FlashCausalLM.warmup``;
  free memory is always read after the warmup prefill, its KV blocks counted back in):
  0.9.4 to 1.4.0 ``num_blocks = int(free_memory // total_cache_size) + ...`` (none);
  1.4.1 to 2.2.x ``int((free_memory * 0.95) // total_cache_size)`` (commit 0d794af6, "cuda
  graphs", 2024-02-12); 2.3.x and 2.4.x ``free_memory * TGI_WIGGLE_ROOM`` (commit e415b690);
  3.0.0 to 3.3.7 ``get_free_memory(device, MEMORY_FRACTION * TGI_WIGGLE_ROOM)`` (commit
  a04356fb, #2808), i.e. it stops at ``fraction * TGI_WIGGLE_ROOM * total``.
  ``TGI_WIGGLE_ROOM`` (``models/globals.py``) defaults, by tag: 0.95 in 2.3.x, 0.90 in 2.4.x
  (a6a0c97e), 0.95 in 3.0.x (a04356fb), 0.93 in 3.1.0-3.2.3 (eb3df0f4, #2958), 0.90 from 3.3.0
  (39cfe232, #3189) (`TGI_WIGGLE_ROOMS`).
- ``backends/v3/src/client/grpc_client.rs`` ``warmup``: the warmup batch is requests of
  ``max_input_tokens`` tokens until ``max_batch_prefill_tokens`` is reached, each asking for
  ``max_total_tokens - truncate`` new tokens, with ``prefill_logprobs: true``. Since TGI 3.0
  the server drops prefill logprobs unless ``--enable-prefill-logprobs`` is set, so only one
  logits row per request is materialised; before 3.0 every prefill token got a logits row
  (``torch.log_softmax(out, -1)`` over ``tokens x vocab``, in place from 2.4.0:
  `prefill_logits_bytes_per_entry`).
- Tied embeddings (``tie_word_embeddings``): the modeling files load ``lm_head`` from the
  ``embed_tokens`` tensor name with a load of its own, so TGI holds the matrix twice though
  the checkpoint stores it once (`tied_head_bytes_per_shard`).
- ``server/text_generation_server/layers/tensor_parallel.py``: embeddings and ``lm_head`` are
  sharded over the vocab (the head is loaded whole when the vocab does not divide); GPTQ, AWQ,
  EETQ and Marlin leave ``lm_head`` unquantized.

- The 0.9.1-0.9.3 tags do not size the cache (warmup takes ``max_total_tokens`` as given and
  the router logs no "Setting max batch total tokens"), so such a log is from >= 0.9.4.
- The prefill budget the launcher picks when ``--max-batch-prefill-tokens`` is unset (3.0+:
  from the GPU's FLOP/s and memory) is ``tgi_launcher.default_max_batch_prefill_tokens``.

One constant is fitted on public startup logs (see ``docs/capacity.md`` and
``benchmarks/memory_accuracy.py``): `CUDA_CONTEXT_BYTES`; `NCCL_BYTES_PER_SHARD` is assumed.
Everything else is read from TGI's source.
"""

from __future__ import annotations

import math
import re
import typing
from dataclasses import dataclass

from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.config.models import Dtype, KvCacheDtype, Quantize

MIB = 2**20
GIB = 2**30

# launcher/src/main.rs `enum Quantization`, `enum Dtype`, `enum KVCacheDtype`: declared
# once, as the stack config's types.
TGI_QUANTIZE_METHODS: tuple[str, ...] = typing.get_args(Quantize)
TGI_DTYPES: tuple[str, ...] = typing.get_args(Dtype)
TGI_KV_CACHE_DTYPES: tuple[str, ...] = typing.get_args(KvCacheDtype)

# server/text_generation_server/models/globals.py at v3.3.7 (the pinned release):
# TGI_WIGGLE_ROOM = float(os.getenv("TGI_WIGGLE_ROOM", "0.90")).
TGI_WIGGLE_ROOM = 0.90
# Its default at each earlier tag (`git show vX:server/.../models/globals.py`), newest first:
# the first release each value shipped in.
TGI_WIGGLE_ROOMS: tuple[tuple[tuple[int, int, int], float], ...] = (
    ((3, 3, 0), TGI_WIGGLE_ROOM),  # 39cfe232 "Put more wiggle room." (#3189), 2025-04-24
    ((3, 1, 0), 0.93),  # eb3df0f4 (#2958), 2025-01-28
    ((3, 0, 0), 0.95),  # a04356fb (#2808), 2024-12-10
    ((2, 4, 0), 0.90),  # a6a0c97e "feat: prefill chunking" (#2600), 2024-10-16
    ((2, 3, 0), 0.95),  # e415b690 (#2449), where TGI_WIGGLE_ROOM appears
)
# flash_causal_lm.py 1.4.1 to 2.2.x, before TGI_WIGGLE_ROOM existed:
# `int((free_memory * 0.95) // total_cache_size)`; 0.9.4 to 1.4.0 kept no wiggle room.
LEGACY_WIGGLE_ROOM = 0.95


def wiggle_room(version: tuple[int, int, int]) -> float:
    """TGI_WIGGLE_ROOM of a release: below 3.0 the share of the post-prefill free memory
    turned into KV blocks, from 3.0 the share of the total it stops at (module doc)."""
    for first, value in TGI_WIGGLE_ROOMS:
        if version >= first:
            return value
    if version >= (1, 4, 1):
        return LEGACY_WIGGLE_ROOM
    return 1.0
# server/text_generation_server/models/globals.py: BLOCK_SIZE per attention backend.
BLOCK_SIZES: dict[str, int] = {"flashinfer": 1, "flashdecoding": 256, "paged": 16}
# launcher/src/main.rs `resolve_attention`: flashinfer only for these head dims.
FLASHINFER_HEAD_DIMS = frozenset({64, 128, 256})
# resolve_attention: model types forced onto the fallback backend (3.0.0 to 3.3.7), with the
# architecture prefix their config.json names (for facts without a model_type).
FALLBACK_ATTENTION_MODEL_TYPES = {"falcon": "Falcon", "deepseek_v2": "DeepseekV2"}
# The TGI release whose warmup arithmetic the defaults mirror.
DEFAULT_TGI_VERSION = "3.3"

# Fitted: memory a shard process holds outside PyTorch's tensors at warmup (CUDA context,
# cuBLAS/flash-attention workspaces, allocator slack). The value that minimises the mean
# |predicted - logged| KV bytes, as a share of the GPU, over the "tuned" reports of
# tests/test_capacity_memory.py (`benchmarks/memory_accuracy.py --fit`; docs/capacity.md).
CUDA_CONTEXT_BYTES = 704 * MIB
# Assumed (no tuned case isolates it): NCCL communicator buffers per shard when num_shard > 1.
NCCL_BYTES_PER_SHARD = 512 * MIB
# Logits are computed in the serving dtype (bf16/fp16): 2 bytes per (token x vocab entry).
LOGITS_ELEMENT_BYTES = 2
# flash_causal_lm.py `generate_token`: `torch.log_softmax(out, -1, out=out)` (in place) from
# 2.4.0 (commit 5f32dea1, #2661); before it, `torch.log_softmax(out, -1)` made a second tensor.
IN_PLACE_LOG_SOFTMAX_SINCE = (2, 4, 0)
# One float32 logits row (plus its log-softmax) per warmup request otherwise.
LAST_TOKEN_LOGITS_BYTES_PER_VOCAB_ENTRY = 8
# MLP width assumed when config.json's intermediate_size is unknown (Llama-3-8B: 3.5).
DEFAULT_MLP_RATIO = 3.5
# Experts a MoE token is routed to, assumed when the facts do not say (Mixtral: 2).
MOE_ACTIVE_EXPERTS = 2
# Bytes per weight of on-the-fly quantization relative to 16-bit weights, scales included.
ON_THE_FLY_WEIGHT_FACTOR: dict[str, float] = {
    "bitsandbytes": 0.53,  # int8 + per-row scales
    "bitsandbytes-nf4": 0.28,  # 4 bit + one fp32 absmax per 64 weights
    "bitsandbytes-fp4": 0.28,
    "eetq": 0.51,  # int8 + per-channel fp16 scales
    "fp8": 0.51,  # e4m3 + per-channel scales
}
# tensor_parallel.py TensorParallelHead.load: these keep lm_head in 16 bit.
HEAD_NOT_QUANTIZED = frozenset({"gptq", "awq", "eetq", "marlin"})

_DTYPE_BYTES = {"float32": 4, "float": 4, "float16": 2, "half": 2, "bfloat16": 2}


@dataclass(frozen=True)
class MemoryPlan:
    """Predicted memory of one TGI shard at warmup, and the KV capacity it leads to.

    Byte figures are per shard (one GPU); ``max_batch_total_tokens`` is what the router would
    log as ``Setting max batch total tokens to N`` (0 when nothing is left for the KV cache).
    """

    gpu_memory_bytes: int
    num_shard: int
    weights_bytes_per_shard: int
    cuda_context_bytes: int
    prefill_peak_bytes: int  # activations + logits of the warmup prefill batch
    usable_bytes: int  # where TGI stops filling the GPU: after memory fraction and wiggle room
    kv_bytes_per_token_per_shard: int
    kv_budget_bytes_per_shard: int  # usable - context - weights - prefill peak (may be < 0)
    max_batch_total_tokens: int  # predicted; 0 when it does not fit
    fits: bool
    notes: tuple[str, ...]  # assumptions made, one sentence each
    block_size: int = 1
    tgi_version: str = DEFAULT_TGI_VERSION
    attention: str | None = None  # TGI: the backend its launcher picks (`resolve_attention`)

    @property
    def kv_budget_gib(self) -> float:
        return self.kv_budget_bytes_per_shard / GIB


# --------------------------------------------------------------------------- helpers


def resolve_attention(
    facts: ModelFacts,
    version: tuple[int, int, int],
    compute_capability: tuple[int, int] | None = None,
) -> tuple[str, str | None]:
    """The attention backend TGI's launcher picks (`resolve_attention`, launcher/src/main.rs,
    the same from 3.0.0 to 3.3.7), and why when it is not flashinfer.

    flashinfer, unless the head dim is not 64/128/256 or the model is Falcon or DeepSeek-V2;
    then the fallback: paged below compute capability 8.0, else flashdecoding. Before 3.0
    TGI ran paged attention. ``compute_capability`` None: not known, taken as 8.0+ (the
    launcher itself falls back to paged when it cannot read one).
    """
    if version < (3, 0, 0):
        return "paged", None
    old_gpu = compute_capability is not None and compute_capability < (8, 0)
    fallback = "paged" if old_gpu else "flashdecoding"
    on = " on a GPU below compute capability 8.0" if old_gpu else ""
    arch = facts.architecture.lower()
    for model_type, prefix in FALLBACK_ATTENTION_MODEL_TYPES.items():
        if facts.model_type:
            named = facts.model_type == model_type
        else:
            named = arch.startswith(prefix.lower())
        if named:
            return fallback, f"TGI forces {fallback} attention for {model_type} models{on}."
    if facts.head_dim not in FLASHINFER_HEAD_DIMS:
        return fallback, (
            f"head dim {facts.head_dim} is not one flashinfer takes (64, 128, 256): TGI runs "
            f"{fallback} attention{on}, without prefix caching."
        )
    return "flashinfer", None


def _parse_version(version: str) -> tuple[int, int, int]:
    parts = [int(p) for p in re.findall(r"\d+", version)[:3]]
    if not parts:
        raise ValueError(f"tgi_version {version!r} is not a version like '3.3' or '2.2.0'")
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def _check_choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise ValueError(
            f"{name}={value!r} is not one TGI accepts; use one of {', '.join(allowed)}"
        )


def _serving_dtype_bytes(facts: ModelFacts, dtype: str | None) -> int:
    """TGI serves in float16 or bfloat16 (a float32 checkpoint is cast down): 2 bytes."""
    _check_choice("dtype", dtype, TGI_DTYPES)
    return 2


def _stored_dtype_bytes(facts: ModelFacts) -> int:
    return _DTYPE_BYTES.get((facts.torch_dtype or "bfloat16").lower(), 2)


def _intermediate_size(facts: ModelFacts) -> tuple[int, bool]:
    value = getattr(facts, "intermediate_size", None)
    if value:
        return int(value), False
    return round(DEFAULT_MLP_RATIO * facts.hidden_size), True


def _served_weight_bytes(
    facts: ModelFacts, quantize: str | None, dtype: str | None, notes: list[str]
) -> int:
    """Bytes of all weights as TGI holds them on the GPUs (before splitting into shards)."""
    _check_choice("quantize", quantize, TGI_QUANTIZE_METHODS)
    _serving_dtype_bytes(facts, dtype)
    stored = int(facts.weight_bytes)
    if facts.checkpoint_quantization:
        notes.append(
            f"The checkpoint is already quantized ({facts.checkpoint_quantization}); "
            "weights are taken at their stored size."
        )
        if quantize in ON_THE_FLY_WEIGHT_FACTOR:
            notes.append(
                f"--quantize {quantize} does not quantize a "
                f"{facts.checkpoint_quantization} checkpoint again (TGI refuses or misloads "
                "it: engines/tgi/quantization.py)."
            )
        return stored
    if _stored_dtype_bytes(facts) == 4:
        stored //= 2
        notes.append("The float32 checkpoint is served in 16 bit: weights halve.")
    # Lazy: the TGI plug-in imports this module.
    from tgi_infra.engines.tgi.quantization import PREQUANTIZED_ONLY

    if quantize in PREQUANTIZED_ONLY:
        notes.append(
            f"--quantize {quantize} needs a checkpoint quantized with {quantize}; this one is "
            "not, so TGI would fail to load it. Weights taken at their 16-bit size."
        )
        return stored
    if quantize in ON_THE_FLY_WEIGHT_FACTOR:
        factor = ON_THE_FLY_WEIGHT_FACTOR[quantize]
        embedding = facts.vocab_size * facts.hidden_size * 2
        head = 0 if quantize not in HEAD_NOT_QUANTIZED else embedding
        shrinkable = max(0, stored - embedding - head)
        served = stored - int(shrinkable * (1.0 - factor))
        notes.append(
            f"--quantize {quantize} shrinks the linear layers to about {factor:.2f} of their "
            f"16-bit size (embeddings{'' if head == 0 else ' and lm_head'} stay 16 bit)."
        )
        return served
    return stored


# --------------------------------------------------------------------------- public API


def prefill_logits_bytes_per_entry(
    version: tuple[int, int, int], num_shard: int, vocab_size: int
) -> float:
    """Bytes per (prefill token x vocab entry) one shard holds when every prefill token gets
    logits (warmup before TGI 3.0, or ``--enable-prefill-logprobs``).

    One shard (or a vocab that does not divide, so ``lm_head`` is whole and nothing is
    gathered): the logits, plus log_softmax's output before 2.4.0 (in place after).
    Sharded (``layers/tensor_parallel.py`` ``TensorParallelHead.forward``): the local
    ``[vocab / n, tokens]`` product, the gathered ``[vocab, tokens]`` tensor (returned
    transposed), and log_softmax's contiguous result: a new tensor before 2.4.0, and from
    2.4.0 the proxy PyTorch writes for an ``out=`` that is not contiguous. Assumed: the
    transposed input is read in place (no contiguous copy), which the one sharded public
    log (TGI 2.4, 2x A100) supports; a copy would add 2 more bytes.
    """
    element = LOGITS_ELEMENT_BYTES
    if num_shard > 1 and vocab_size % num_shard == 0:
        return element / num_shard + 2 * element
    return element if version >= IN_PLACE_LOG_SOFTMAX_SINCE else 2 * element


def tied_head_bytes_per_shard(facts: ModelFacts, num_shard: int = 1) -> int:
    """A second copy of a tied embedding matrix: TGI loads ``lm_head`` from
    ``embed_tokens``' tensor with its own ``weights.get_sharded``/``get_tensor`` (a new GPU
    tensor; e.g. ``flash_llama_modeling.py``, ``flash_gemma_modeling.py`` scale the embedding
    in place, so the two cannot share), though the checkpoint stores it once. 16 bit."""
    if not facts.tie_word_embeddings:
        return 0
    head = facts.vocab_size * facts.hidden_size * 2
    if num_shard > 1 and facts.vocab_size % num_shard == 0:
        return math.ceil(head / num_shard)
    return head


def activation_bytes_per_token(
    facts: ModelFacts, num_shard: int = 1, *, element_bytes: int = 2
) -> float:
    """Bytes of the intermediates one prefill token holds at the layer's peak, per shard.

    gate_up output + activation output (MoE: `MOE_ACTIVE_EXPERTS` experts), hidden states and
    residual, the fused qkv and the attention output; every engine's profile run reaches it.
    """
    intermediate, _ = _intermediate_size(facts)
    experts = MOE_ACTIVE_EXPERTS if facts.num_experts else 1
    heads = max(1, facts.num_attention_heads // num_shard)
    kv_heads = max(1, facts.num_kv_heads // num_shard)
    per_token = (
        3 * intermediate * experts / num_shard
        + 2 * facts.hidden_size
        + (heads + 2 * kv_heads) * facts.head_dim
        + heads * facts.head_dim
    )
    return element_bytes * per_token


def kv_bytes_per_token(
    facts: ModelFacts,
    *,
    num_shard: int = 1,
    kv_cache_dtype: str | None = None,
    dtype: str | None = None,
) -> int:
    """KV-cache bytes one token takes on one shard: 2 x layers x kv_heads x head_dim x bytes.

    KV heads split across shards (``num_kv_heads // num_shard``, at least 1: an MQA model
    replicates its single head). An fp8 KV cache stores one byte per element.
    """
    if num_shard < 1:
        raise ValueError(f"num_shard={num_shard} must be at least 1")
    _check_choice("kv_cache_dtype", kv_cache_dtype, TGI_KV_CACHE_DTYPES)
    element = 1 if kv_cache_dtype else _serving_dtype_bytes(facts, dtype)
    kv_heads = max(1, facts.num_kv_heads // num_shard)
    return 2 * facts.num_layers * kv_heads * facts.head_dim * element


def weight_bytes_per_shard(
    facts: ModelFacts,
    *,
    num_shard: int = 1,
    quantize: str | None = None,
    dtype: str | None = None,
) -> int:
    """Weight bytes one shard holds: the served size split evenly across shards.

    Embeddings and ``lm_head`` are sharded over the vocab like the linear layers; when the
    vocab does not divide by ``num_shard`` TGI loads ``lm_head`` whole on every shard.
    """
    return _weights_per_shard(facts, num_shard=num_shard, quantize=quantize, dtype=dtype)[0]


def _weights_per_shard(
    facts: ModelFacts, *, num_shard: int, quantize: str | None, dtype: str | None
) -> tuple[int, list[str]]:
    if num_shard < 1:
        raise ValueError(f"num_shard={num_shard} must be at least 1")
    notes: list[str] = []
    served = _served_weight_bytes(facts, quantize, dtype, notes)
    per_shard = math.ceil(served / num_shard)
    if num_shard > 1 and facts.vocab_size % num_shard:
        head = facts.vocab_size * facts.hidden_size * 2
        per_shard += int(head * (1 - 1 / num_shard))
        notes.append(
            f"vocab_size {facts.vocab_size} does not divide by {num_shard} shards: lm_head is "
            "loaded whole on every shard."
        )
    return per_shard, notes


def plan_memory(
    facts: ModelFacts,
    *,
    gpu_memory_bytes: int,
    num_shard: int = 1,
    quantize: str | None = None,
    dtype: str | None = None,
    kv_cache_dtype: str | None = None,
    max_batch_prefill_tokens: int = 4096,
    cuda_memory_fraction: float = 1.0,
    max_input_tokens: int | None = None,
    max_total_tokens: int | None = None,
    enable_prefill_logprobs: bool = False,
    attention: str | None = None,
    tgi_version: str = DEFAULT_TGI_VERSION,
    compute_capability: tuple[int, int] | None = None,
) -> MemoryPlan:
    """Predict TGI's warmup on one GPU per shard: the KV budget and max batch total tokens.

    ``gpu_memory_bytes`` is one GPU's total as CUDA reports it (``torch.cuda.mem_get_info``),
    a little less than nvidia-smi's figure. ``max_input_tokens`` / ``max_total_tokens`` only
    shape the warmup batch (defaults: ``max_batch_prefill_tokens - 50`` and one more);
    ``tgi_version`` selects the warmup arithmetic of that TGI release (see the module doc);
    ``attention`` None: the backend the launcher would pick on a GPU of ``compute_capability``
    (`resolve_attention`).
    """
    if gpu_memory_bytes <= 0:
        raise ValueError(f"gpu_memory_bytes={gpu_memory_bytes} must be positive")
    if not 0.0 < cuda_memory_fraction <= 1.0:
        raise ValueError(f"cuda_memory_fraction={cuda_memory_fraction} must be in (0, 1]")
    if max_batch_prefill_tokens < 1:
        raise ValueError(f"max_batch_prefill_tokens={max_batch_prefill_tokens} must be >= 1")
    if attention is not None and attention not in BLOCK_SIZES:
        raise ValueError(f"attention={attention!r}: use one of {', '.join(BLOCK_SIZES)}")
    version = _parse_version(tgi_version)

    weights, notes = _weights_per_shard(facts, num_shard=num_shard, quantize=quantize, dtype=dtype)
    tied_head = tied_head_bytes_per_shard(facts, num_shard)
    if tied_head:
        weights += tied_head
        notes.append(
            f"Tied embeddings: TGI loads lm_head as a second copy of embed_tokens "
            f"({tied_head / GIB:.2f} GiB per shard) though the checkpoint stores it once."
        )
    kv_per_token = kv_bytes_per_token(
        facts, num_shard=num_shard, kv_cache_dtype=kv_cache_dtype, dtype=dtype
    )
    act_bytes = _serving_dtype_bytes(facts, dtype)

    if kv_cache_dtype:
        notes.append(f"KV cache in {kv_cache_dtype}: one byte per element, half of 16 bit.")
    if facts.num_kv_heads < num_shard and facts.num_kv_heads > 1:
        notes.append(
            f"{facts.num_kv_heads} KV heads over {num_shard} shards: counted as one head per "
            "shard, but TGI may refuse a KV-head count that does not divide."
        )
    elif facts.num_kv_heads % num_shard and facts.num_kv_heads > 1:
        notes.append(
            f"{facts.num_kv_heads} KV heads do not divide by {num_shard} shards; TGI may refuse."
        )
    if quantize is not None and dtype is not None and not quantize.startswith("bitsandbytes"):
        notes.append(f"TGI refuses --dtype together with --quantize {quantize}.")
    if facts.architecture.lower().startswith("deepseek"):
        notes.append("MLA models (DeepSeek) cache a compressed latent; KV bytes are overstated.")

    # -- attention backend and block size
    if attention is None:
        attention, why = resolve_attention(facts, version, compute_capability)
        if why:
            notes.append(why)
    block_size = BLOCK_SIZES[attention]

    # -- the warmup prefill batch (backends/v3/src/client/grpc_client.rs warmup)
    prefill_tokens = max_batch_prefill_tokens
    max_input = max_input_tokens or max(1, prefill_tokens - 50)
    max_total = max_total_tokens or max_input + 1
    n_requests = math.ceil(prefill_tokens / max_input)

    if _intermediate_size(facts)[1]:
        notes.append(
            f"intermediate_size unknown: assumed {DEFAULT_MLP_RATIO} x hidden_size for the "
            "prefill activations."
        )
    if facts.num_experts:
        notes.append(f"MoE: prefill activations assume {MOE_ACTIVE_EXPERTS} experts per token.")
    activations = int(
        prefill_tokens * activation_bytes_per_token(facts, num_shard, element_bytes=act_bytes)
    )
    all_token_logits = enable_prefill_logprobs or version < (3, 0, 0)
    if all_token_logits:
        # The logits are gathered to the full vocab on every shard before log_softmax.
        logits = int(
            prefill_tokens
            * facts.vocab_size
            * prefill_logits_bytes_per_entry(version, num_shard, facts.vocab_size)
        )
        notes.append(
            "Warmup materialises logits for every prefill token "
            f"({'--enable-prefill-logprobs' if enable_prefill_logprobs else 'TGI < 3.0'})."
        )
    else:
        logits = n_requests * facts.vocab_size * LAST_TOKEN_LOGITS_BYTES_PER_VOCAB_ENTRY
    prefill_peak = activations + logits

    context = CUDA_CONTEXT_BYTES + (NCCL_BYTES_PER_SHARD if num_shard > 1 else 0)
    base = context + weights + prefill_peak
    block_bytes = kv_per_token * block_size

    # -- free memory -> KV blocks
    if version >= (3, 0, 0):
        # get_free_memory(device, MEMORY_FRACTION * TGI_WIGGLE_ROOM): stop at f * w * total.
        wiggle = wiggle_room(version)
        usable = int(cuda_memory_fraction * wiggle * gpu_memory_bytes)
        kv_budget = usable - base
        tokens = (kv_budget // block_bytes) * block_size if kv_budget > 0 else 0
        notes.append(
            f"TGI {tgi_version} stops at cuda_memory_fraction x TGI_WIGGLE_ROOM ({wiggle}) of "
            "the GPU; the warmup batch's own KV blocks are counted back in."
        )
    else:
        wiggle = wiggle_room(version)
        blocks_per_request = math.ceil((max_total - 1) / block_size)
        warm_blocks = n_requests * blocks_per_request
        warm_bytes = warm_blocks * block_bytes
        free = int(cuda_memory_fraction * gpu_memory_bytes) - base - warm_bytes
        if free > 0:
            usable = base + warm_bytes + int(wiggle * free)
            tokens = (int(wiggle * free) // block_bytes + warm_blocks) * block_size
        else:
            usable = base + warm_bytes + free
            tokens = 0
        kv_budget = usable - base
        notes.append(
            f"TGI {tgi_version} keeps {wiggle:.2f} of the memory free after the warmup prefill."
        )

    fits = tokens > 0 and tokens >= prefill_tokens
    if max_total_tokens is not None:
        fits = fits and tokens >= max_total_tokens
    if kv_budget <= 0:
        notes.append(
            "Nothing is left for the KV cache after weights and the prefill peak: quantize, "
            "lower --max-batch-prefill-tokens, add shards or use a larger GPU."
        )
    elif not fits:
        notes.append(
            f"The KV cache holds {tokens} tokens, fewer than max_batch_prefill_tokens "
            f"({prefill_tokens})"
            + (f" or max_total_tokens ({max_total_tokens})" if max_total_tokens else "")
            + ": TGI would refuse to start."
        )

    return MemoryPlan(
        gpu_memory_bytes=int(gpu_memory_bytes),
        num_shard=num_shard,
        weights_bytes_per_shard=int(weights),
        cuda_context_bytes=int(context),
        prefill_peak_bytes=int(prefill_peak),
        usable_bytes=int(usable),
        kv_bytes_per_token_per_shard=int(kv_per_token),
        kv_budget_bytes_per_shard=int(kv_budget),
        max_batch_total_tokens=int(max(0, tokens)),
        fits=bool(fits),
        notes=tuple(notes),
        block_size=block_size,
        tgi_version=tgi_version,
        attention=attention,
    )


def max_total_tokens_for_requests(plan: MemoryPlan, n_requests: int) -> int:
    """Largest ``--max-total-tokens`` such that the KV cache holds ``n_requests`` full requests.

    TGI's block allocator gives each request whole blocks, so the per-request share is rounded
    down to the block size. Returns 0 when the plan has no KV capacity.
    """
    if n_requests < 1:
        raise ValueError(f"n_requests={n_requests} must be at least 1")
    per_request = plan.max_batch_total_tokens // n_requests
    block = max(1, plan.block_size)
    return max(0, (per_request // block) * block)

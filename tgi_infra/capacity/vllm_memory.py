"""vLLM's startup memory arithmetic: how many KV-cache tokens a replica will log (pure).

vLLM loads the weights, runs a *profile run* (one dummy forward pass of
``max_num_batched_tokens`` tokens, plus a sampler pass of ``max_num_seqs`` rows), measures what
the process holds, and gives the KV cache what is left of ``gpu_memory_utilization x total``.
It logs ``GPU KV cache size: N tokens`` (V1, 0.7.3+) or ``# GPU blocks: B`` (V0; N = B x 16).

Read in the source (paths under ``vllm/``):

- ``v1/worker/utils.py`` ``request_memory``: ``requested = ceil(total x utilization)``.
- ``utils/mem_utils.py`` ``memory_profiling``: ``non_kv_cache_memory = weights + torch peak
  increase of the profile run + non-torch increase since the worker's first snapshot``. That
  snapshot is taken after the CUDA context exists, so the context is *not* charged (0.6.4 to
  0.33; V0 0.6.0-0.6.3 computed the same from ``init_free - free_after_profile``).
- ``v1/worker/gpu_worker.py`` ``determine_available_memory``: ``available = requested -
  non_kv_cache_memory - cudagraph_memory_estimate``; the CUDA-graph estimate is charged since
  v0.21.0 (``VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1`` by default) unless
  ``--enforce-eager``; before, graphs were captured after the KV cache was sized.
- 0.34.0 (the pinned version) sizes an *extensible* KV cache from memory measured after
  warmup (``v1/worker/extensible_kv_cache.py`` ``measure_kv_cache_bytes``) with the
  utilization defaulting to 1.0: ``available = min(requested - non_kv_used, free - margin) -
  max(transient_peak, torch_growth)``, ``margin = max(1 GiB, 0.75 x transient_peak)``. Free
  memory there is measured, so the CUDA context *is* charged. The first release with this
  sizing was not established; `EXTENSIBLE_SINCE` says which version the model assumes.
- ``config/cache.py``: block size 16 before 0.34 (0.6.6 ``platforms/cuda.py``),
  ``DEFAULT_BLOCK_SIZE = 64`` in 0.34; utilization 0.9 before (0.6.6 ``engine/arg_utils.py``),
  ``DEFAULT_GPU_MEMORY_UTILIZATION = 0.92`` in 0.34 when not extensible. 0.6.6
  ``worker/worker.py`` ``determine_num_available_blocks``: ``available = total x utilization -
  non_kv_cache_memory`` with the baseline taken after the CUDA context (not charged).
- ``engine/arg_utils.py``: ``max_num_batched_tokens`` defaults for the API server: 2048
  (8192 on GPUs of 70 GiB or more other than A100, 16384 at 160 GiB or more) in V1; V0
  (read in 0.6.6, ``config.py`` ``SchedulerConfig``) profiled ``max(max_model_len, 2048)``
  tokens, or 2048 with chunked prefill, which it turned on above a 32K ``max_model_len``.
- ``v1/core/kv_cache_utils.py``: ``num_blocks = available // (page_bytes x layers)``, logged
  tokens ``= num_blocks x block_size``.

Constants set from the terms public logs print (see ``docs/capacity.md``,
``tests/test_capacity_engines.py``): `NON_TORCH_BYTES`, `ACTIVATION_FACTOR` (the tuned RTX 3090
0.6.4 log) and `NCCL_BYTES_PER_SHARD` (the tuned 2x RTX 4090 0.7.2 log); the sampler term
`SAMPLER_BYTES_PER_VOCAB_ENTRY` is counted in the source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.memory import activation_bytes_per_token

MIB = 2**20
GIB = 2**30

# Memory outside torch that vLLM charges (CUDA context in 0.6.4, cuBLAS/cuDNN workspaces,
# attention-backend buffers) on one GPU: what the tuned RTX 3090 0.6.4 log prints
# ("non_torch_memory=0.35GiB"). Other 0.6.4 logs print 0.15-0.73 GiB (GTX 1080 to H200).
NON_TORCH_BYTES = int(0.35 * GIB)
# Extra non-torch memory per shard when tensor_parallel > 1 (NCCL communicators, custom
# all-reduce buffers). The only tp > 1 log that prints the term (vllm#13061, 2x RTX 4090,
# 0.7.2 V0) shows "non_torch_memory takes 0.25GiB", no more than one-GPU runs print (0.15-
# 0.73 GiB): nothing measurable beyond NON_TORCH_BYTES. Was 1280 MiB, assumed, never fitted.
NCCL_BYTES_PER_SHARD = 0
# Fitted: torch peak of the profile run's forward pass relative to the per-token activation
# sum that TGI's model uses (`memory.activation_bytes_per_token`): fused kernels and freed
# intermediates. Read off the tuned RTX 3090 0.6.4 log at 20000 batched tokens of Llama 3.1
# 8B: peak_torch_memory 17.06 GiB - weights 14.99 GiB = 2.07 GiB = 0.90 x 20000 x 120 KiB
# (its 29000-token twin, held out, prints 2.99 GiB = 0.90 x 29000 x 120 KiB).
ACTIVATION_FACTOR = 0.9
# The sampler pass of the profile run runs after the forward pass has freed its activations,
# so the torch peak is the larger of the two, not their sum. It samples max_num_seqs rows
# with top-k and top-p (V0 profile_run: SamplingParams(top_p=0.99, top_k=vocab - 1); V1
# _dummy_sampler_run: top_p 0.9), which sorts the whole vocab. Read in 0.10.1.1
# v1/sample/ops/topk_topp_sampler.py (PyTorch-native path, used when FlashInfer is not
# installed, e.g. a plain ``pip install vllm``): the model's 16-bit logits (2), the float32
# copy (4), sorted values (4) and int64 indices (8), two bool masks (2), the softmax/cumsum
# buffer (4) and the re-scattered logits (4) are 28 bytes per row and vocab entry; the CUDA
# radix sort double-buffers keys and indices (12 more): 40. Checked against the torch peaks
# five public logs print with a small forward pass (0.6.4: opt-125m, phi-1_5, Llama-3.2-1B
# at 512 batched tokens, rho-1b; 0.10.2: Qwen3-8B-FP8), which imply 38-43 bytes.
SAMPLER_BYTES_PER_VOCAB_ENTRY = 40
# Assumed from vLLM 0.21+ logs ("Estimated CUDA graph memory: 0.73 GiB total" for a 8B
# model): graphs captured for decode batch sizes up to max_num_seqs.
CUDA_GRAPH_BYTES = 768 * MIB
# v1/worker/extensible_kv_cache.py
EXTENSIBLE_MARGIN_FLOOR_BYTES = 1 * GIB
EXTENSIBLE_MARGIN_FRACTION = 0.75
# Assumed CUDA context (torch + cuBLAS handles) for the extensible sizing, which measures it.
CUDA_CONTEXT_BYTES = 512 * MIB

V1_SINCE = (0, 8, 0)  # V1 engine by default
CUDAGRAPH_ESTIMATE_SINCE = (0, 21, 0)  # gpu_worker.py log: "default since v0.21.0"
EXTENSIBLE_SINCE = (0, 34, 0)  # read in 0.34.0; earlier first release not established
# 0.34.0 v1/core/kv_cache_utils.py get_kv_cache_capacity logs int(max_concurrency x
# max_model_len), max_concurrency = num_blocks / cdiv(max_model_len, block_size) for one
# full-attention group; 0.10.1.1 logs num_blocks x block_size. First release in between not
# established: taken as 0.34.
CAPACITY_BY_CONCURRENCY_SINCE = (0, 34, 0)
# vllm 0.6.6 engine/arg_utils.py: chunked prefill on by default above 32K max_model_len;
# config.py SchedulerConfig.__post_init__: then max_num_batched_tokens = 2048.
V0_CHUNKED_PREFILL_ABOVE = 32768
V0_CHUNKED_BATCHED_TOKENS = 2048
# 0.6.4 logs print "Chunked prefill is enabled with max_num_batched_tokens=512"; 0.6.6 reads
# 2048 (0.6.5 not read: taken as the older value).
V0_CHUNKED_BATCHED_TOKENS_BEFORE_066 = 512


@dataclass(frozen=True)
class VllmMemory:
    """The terms of one vLLM worker's KV budget (bytes per GPU) and the logged token count."""

    version: tuple[int, int, int]
    total_bytes: int
    utilization: float
    requested_bytes: int
    weights_bytes: int
    non_torch_bytes: int
    activation_bytes: int
    cuda_graph_bytes: int
    context_bytes: int
    margin_bytes: int
    available_bytes: int
    block_size: int
    max_num_batched_tokens: int
    kv_cache_tokens: int
    notes: tuple[str, ...] = field(default=())


def default_max_num_seqs(version: tuple[int, int, int], total_bytes: int, gpu_name: str) -> int:
    """``max_num_seqs`` when the user sets none: V1 uses 1024 on GPUs of 70 GiB or more other
    than A100 (read in 0.10.1.1 and 0.34.0 ``engine/arg_utils.py``), 256 elsewhere and in V0."""
    if version >= V1_SINCE and (
        total_bytes >= 160 * GIB or (total_bytes >= 70 * GIB and "a100" not in gpu_name.lower())
    ):
        return 1024
    return 256


def default_max_num_batched_tokens(
    version: tuple[int, int, int], total_bytes: int, gpu_name: str, max_model_len: int
) -> int:
    """``max_num_batched_tokens`` when the user sets none (API server, ``engine/arg_utils.py``)."""
    if version < V1_SINCE:
        if max_model_len > V0_CHUNKED_PREFILL_ABOVE:
            if version < (0, 6, 6):
                return V0_CHUNKED_BATCHED_TOKENS_BEFORE_066
            return V0_CHUNKED_BATCHED_TOKENS
        return max(max_model_len, 2048)
    if total_bytes >= 160 * GIB:
        return 16384
    if total_bytes >= 70 * GIB and "a100" not in gpu_name.lower():
        return 8192
    return 2048


def _logged_tokens(
    version: tuple[int, int, int], blocks: int, block_size: int, max_model_len: int
) -> int:
    """The token count vLLM prints for ``blocks`` KV blocks (see CAPACITY_BY_CONCURRENCY_SINCE)."""
    if version >= CAPACITY_BY_CONCURRENCY_SINCE and max_model_len > 0:
        return int(blocks / math.ceil(max_model_len / block_size) * max_model_len)
    return blocks * block_size


def plan_vllm(
    facts: ModelFacts,
    *,
    total_bytes: int,
    weights_bytes: int,
    kv_bytes_per_token: int,
    version: tuple[int, int, int],
    gpu_name: str = "",
    tensor_parallel: int = 1,
    gpu_memory_utilization: float | None = None,
    max_model_len: int | None = None,
    max_num_seqs: int | None = None,
    max_num_batched_tokens: int | None = None,
    enforce_eager: bool = False,
) -> VllmMemory:
    """Predict one vLLM worker's KV budget and the ``GPU KV cache size`` it logs."""
    notes: list[str] = []
    extensible = version >= EXTENSIBLE_SINCE
    if gpu_memory_utilization is None:
        utilization = 1.0 if extensible else 0.9
    else:
        utilization = gpu_memory_utilization
    model_len = max_model_len or facts.max_position_embeddings
    tokens = max_num_batched_tokens or default_max_num_batched_tokens(
        version, total_bytes, gpu_name, model_len
    )
    seqs = min(max_num_seqs or default_max_num_seqs(version, total_bytes, gpu_name), tokens)
    requested = math.ceil(total_bytes * utilization)
    forward = ACTIVATION_FACTOR * tokens * activation_bytes_per_token(facts, tensor_parallel)
    sampler = seqs * facts.vocab_size * SAMPLER_BYTES_PER_VOCAB_ENTRY
    activation = int(max(forward, sampler))
    non_torch = NON_TORCH_BYTES + (NCCL_BYTES_PER_SHARD if tensor_parallel > 1 else 0)
    graphs = 0
    if version >= CUDAGRAPH_ESTIMATE_SINCE and not enforce_eager:
        graphs = CUDA_GRAPH_BYTES
        notes.append(
            "vLLM >= 0.21 charges its CUDA-graph memory estimate to the budget "
            "(--enforce-eager gives it back)."
        )
    context = 0
    margin = 0
    if extensible:
        context = CUDA_CONTEXT_BYTES
        margin = max(EXTENSIBLE_MARGIN_FLOOR_BYTES, int(EXTENSIBLE_MARGIN_FRACTION * activation))
        used = weights_bytes + non_torch + graphs
        headroom = total_bytes - context - used
        available = min(requested - used, headroom - margin) - activation
        notes.append(
            "vLLM 0.34 sizes an extensible KV cache after warmup: utilization defaults to "
            "1.0, a margin of max(1 GiB, 0.75 x activation peak) stays free."
        )
    else:
        available = requested - weights_bytes - non_torch - activation - graphs
    block_size = 64 if version >= (0, 34, 0) else 16
    page = kv_bytes_per_token * block_size
    blocks = max(0, available) // page if page else 0
    return VllmMemory(
        version=version,
        total_bytes=int(total_bytes),
        utilization=utilization,
        requested_bytes=int(requested),
        weights_bytes=int(weights_bytes),
        non_torch_bytes=int(non_torch),
        activation_bytes=int(activation),
        cuda_graph_bytes=int(graphs),
        context_bytes=int(context),
        margin_bytes=int(margin),
        available_bytes=int(available),
        block_size=block_size,
        max_num_batched_tokens=int(tokens),
        kv_cache_tokens=_logged_tokens(version, blocks, block_size, model_len),
        notes=tuple(notes),
    )

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

Fitted constants (see ``docs/capacity.md``, ``tests/test_capacity_engines.py``):
`NON_TORCH_BYTES`, `NCCL_BYTES_PER_SHARD` and `ACTIVATION_FACTOR`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.memory import activation_bytes_per_token

MIB = 2**20
GIB = 2**30

# Fitted on the tuned vLLM cases: memory outside torch that vLLM measures as growth after its
# first snapshot (cuBLAS/cuDNN workspaces, attention-backend buffers) on one GPU.
NON_TORCH_BYTES = 128 * MIB
# Fitted: extra non-torch memory per shard when tensor_parallel > 1 (NCCL communicators and
# the custom all-reduce buffers).
NCCL_BYTES_PER_SHARD = 1280 * MIB
# Fitted: torch peak of the profile run relative to the per-token activation sum that TGI's
# model uses (`memory.activation_bytes_per_token`): fused kernels and freed intermediates.
ACTIVATION_FACTOR = 0.8
# Assumed from vLLM 0.21+ logs ("Estimated CUDA graph memory: 0.73 GiB total" for a 8B
# model): graphs captured for decode batch sizes up to max_num_seqs.
CUDA_GRAPH_BYTES = 768 * MIB
# Sampler pass of the profile run: float32 logits of max_num_seqs rows, plus the sorted copy.
SAMPLER_BYTES_PER_VOCAB_ENTRY = 8
# v1/worker/extensible_kv_cache.py
EXTENSIBLE_MARGIN_FLOOR_BYTES = 1 * GIB
EXTENSIBLE_MARGIN_FRACTION = 0.75
# Assumed CUDA context (torch + cuBLAS handles) for the extensible sizing, which measures it.
CUDA_CONTEXT_BYTES = 512 * MIB

V1_SINCE = (0, 8, 0)  # V1 engine by default
CUDAGRAPH_ESTIMATE_SINCE = (0, 21, 0)  # gpu_worker.py log: "default since v0.21.0"
EXTENSIBLE_SINCE = (0, 34, 0)  # read in 0.34.0; earlier first release not established
# vllm 0.6.6 engine/arg_utils.py: chunked prefill on by default above 32K max_model_len;
# config.py SchedulerConfig.__post_init__: then max_num_batched_tokens = 2048.
V0_CHUNKED_PREFILL_ABOVE = 32768
V0_CHUNKED_BATCHED_TOKENS = 2048


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


def default_max_num_batched_tokens(
    version: tuple[int, int, int], total_bytes: int, gpu_name: str, max_model_len: int
) -> int:
    """``max_num_batched_tokens`` when the user sets none (API server, ``engine/arg_utils.py``)."""
    if version < V1_SINCE:
        if max_model_len > V0_CHUNKED_PREFILL_ABOVE:
            return V0_CHUNKED_BATCHED_TOKENS
        return max(max_model_len, 2048)
    if total_bytes >= 160 * GIB:
        return 16384
    if total_bytes >= 70 * GIB and "a100" not in gpu_name.lower():
        return 8192
    return 2048


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
    seqs = max_num_seqs or 256
    requested = math.ceil(total_bytes * utilization)
    activation = int(
        ACTIVATION_FACTOR * tokens * activation_bytes_per_token(facts, tensor_parallel)
        + seqs * facts.vocab_size * SAMPLER_BYTES_PER_VOCAB_ENTRY
    )
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
        kv_cache_tokens=int(blocks * block_size),
        notes=tuple(notes),
    )

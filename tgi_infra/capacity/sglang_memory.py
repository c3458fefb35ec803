"""SGLang's startup memory arithmetic: the KV pool it logs as ``#tokens`` (pure).

SGLang measures the free memory once distributed init is done (``pre``), loads the weights,
and sizes the KV pool from what is free then, keeping ``pre x (1 - mem_fraction_static)`` for
activations and CUDA graphs. It logs ``KV Cache is allocated. #tokens: N`` and
``max_total_num_tokens=N``.

Read in the source of 0.5.23 (paths under ``sglang/srt/``):

- ``mem_cache/kv_cache_configurator.py`` ``_profile_available_bytes``: ``rest = free_after_load
  - pre x (1 - mem_fraction_static)`` (older releases: ``model_runner.py``
  ``profile_max_num_token``, the same with ``total_gpu_memory`` = the free memory at init).
  With ``free_after_load = pre - weights`` that is ``pre x mem_fraction_static - weights``.
- ``model_executor/pool_configurator.py`` ``calculate_pool_sizes``: ``tokens = rest //
  cell_size``, rounded down to the page size (1 by default); ``cell_size`` is the K and V bytes
  of one token over the layers of one shard.
- ``arg_groups/memory_hook.py`` ``handle_gpu_memory_settings``: with no ``--mem-fraction-static``,
  ``mem_fraction_static = round((gpu_mem - reserved) / gpu_mem, 3)`` where ``gpu_mem`` is
  nvidia-smi's total in MiB (``utils/common.py`` ``get_nvgpu_memory_capacity``) and
  ``reserved = 512 + 1.5 x max(chunked_prefill_size, 2048) + tp / 8 x 1024 + 2 x
  decode_max_bs + 8 x len(prefill graph sizes)`` MiB, at least 10 GiB on GPUs above 60 GiB.
  ``chunked_prefill_size`` and the decode graph ``max_bs`` default by GPU memory (same file).
- Older defaults (``server_args.py``, read in the 0.4.4-0.5.18 wheels): before 0.4.6 a table
  by tensor parallelism, 0.88 (tp 1), 0.87 (2), 0.85 (4), 0.81 (8), 0.79 (16); 0.4.6-0.4.7 the
  table up to 80 GiB GPUs and 0.88 above, raised to ``min(f + 48 GiB x (1 - f) / gpu_mem,
  (gpu_mem - 18 GiB) / gpu_mem)`` above 96 GiB (0.79 above 180 GB in 0.4.7); 0.4.8-0.5.2
  ``round((gpu_mem - reserved) / gpu_mem, 3)`` with ``reserved`` = 2.8 + tp/10 GiB below 35
  GiB, 9.5 + tp/2 below 90, 12 + tp/2 below 160, 32 GiB above; the formula above from 0.5.3
  (without the prefill-graph term before piecewise prefill graphs were on by default).

Fitted constants (``docs/capacity.md``): `CUDA_CONTEXT_BYTES` (memory gone before ``pre`` is
measured) and `NCCL_BYTES_PER_SHARD`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MIB = 2**20
GIB = 2**30

# Fitted on the tuned SGLang cases: what the process holds before "Load weight begin"
# (CUDA context, torch and cuBLAS handles), on one GPU.
CUDA_CONTEXT_BYTES = 576 * MIB
# Fitted: extra memory per shard held after distributed init when tp > 1 (NCCL, custom
# all-reduce buffers).
NCCL_BYTES_PER_SHARD = 192 * MIB
# mem_fraction_static defaults, by release (server_args.py of each wheel, read in
# /work/engine-src/sglang-<v>): < 0.4.6 a table by tensor parallelism; 0.4.6-0.4.7 the table
# only up to 80 GiB GPUs, 0.88 above, raised above 96 GiB; 0.4.8-0.5.2 a reserved-memory
# bracket by GPU size; 0.5.3+ reserved = 512 MiB + 1.5 x chunked prefill + 2 x decode graph
# max_bs + tp/8 GiB (+ 8 MiB per prefill graph size since piecewise prefill graphs became the
# default, read on in 0.5.10, off in 0.5.6).
LEGACY_FRACTIONS = ((16, 0.79), (8, 0.81), (4, 0.85), (2, 0.87), (1, 0.88))
LARGE_GPU_ADJUST_SINCE = (0, 4, 6)
B200_FRACTION_SINCE = (0, 4, 7)
BRACKET_FORMULA_SINCE = (0, 4, 8)
RESERVED_FORMULA_SINCE = (0, 5, 3)
PIECEWISE_GRAPHS_SINCE = (0, 5, 10)


@dataclass(frozen=True)
class SglangMemory:
    """The terms of one SGLang TP rank's KV pool (bytes) and the logged token count."""

    version: tuple[int, int, int]
    total_bytes: int
    pre_load_free_bytes: int
    mem_fraction_static: float
    weights_bytes: int
    reserved_bytes: int  # pre x (1 - mem_fraction_static)
    rest_bytes: int
    chunked_prefill_size: int
    kv_cache_tokens: int
    notes: tuple[str, ...] = field(default=())


def gpu_defaults(
    nvidia_smi_mib: int, tensor_parallel: int, version: tuple[int, int, int] = (0, 5, 23)
) -> tuple[int, int]:
    """(chunked_prefill_size, decode CUDA-graph max_bs) SGLang picks by GPU memory.

    Below 35 GiB: 2048 and 16 (tp < 4) or 80 in 0.5.3-0.5.5, 2048 and 24/80 from 0.5.6
    (read in 0.5.6-0.5.18), 4096 and 48/160 from 0.5.21 (``arg_groups/memory_hook.py``).
    Before 0.5.3 below 35 GiB the chunk was 2048 (the graph size did not enter the fraction).
    """
    if nvidia_smi_mib < 20 * 1024:
        return 2048, 8
    if nvidia_smi_mib < 35 * 1024:
        if version >= (0, 5, 21):
            return 4096, 48 if tensor_parallel < 4 else 160
        if version >= (0, 5, 6):
            return 2048, 24 if tensor_parallel < 4 else 80
        return 2048, 16 if tensor_parallel < 4 else 80
    if nvidia_smi_mib < 60 * 1024:
        return 4096, 32 if tensor_parallel < 4 else 160
    if nvidia_smi_mib < 160 * 1024:
        return 8192, 256 if tensor_parallel < 4 else 512
    return 16384, 512


def _prefill_graph_sizes(max_bs: int) -> int:
    sizes = (
        list(range(4, 33, 4))
        + list(range(48, 257, 16))
        + list(range(288, 513, 32))
        + list(range(576, 1025, 64))
        + list(range(1280, 4097, 256))
        + list(range(4608, max_bs + 1, 512))
    )
    return len([s for s in sizes if s <= max_bs])


def _legacy_fraction(version: tuple[int, int, int], nvidia_smi_mib: int, tp: int) -> float:
    """< 0.4.8: the table by tensor parallelism, with the 0.4.6 large-GPU adjustments."""
    fraction = next(f for t, f in LEGACY_FRACTIONS if tp >= t)
    if version < LARGE_GPU_ADJUST_SINCE:
        return fraction
    if nvidia_smi_mib > 81920:
        fraction = 0.88
    if version >= B200_FRACTION_SINCE and nvidia_smi_mib > 180_000:
        return 0.79
    if nvidia_smi_mib > 96 * 1024:
        return min(fraction + 48 * 1024 * (1 - fraction) / nvidia_smi_mib,
                   (nvidia_smi_mib - 18 * 1024) / nvidia_smi_mib)
    return fraction


def _bracket_reserved_mib(nvidia_smi_mib: int, tp: int) -> float:
    """0.4.8-0.5.2: reserved memory for activations and graphs by GPU size (MiB)."""
    if nvidia_smi_mib < 35 * 1024:
        return (2.8 + tp / 10) * 1024
    if nvidia_smi_mib < 90 * 1024:
        return (9.5 + tp / 2) * 1024
    if nvidia_smi_mib < 160 * 1024:
        return (12 + tp / 2) * 1024
    return 32 * 1024


def default_mem_fraction_static(
    version: tuple[int, int, int],
    nvidia_smi_mib: int,
    tensor_parallel: int = 1,
    chunked_prefill_size: int | None = None,
    max_running_requests: int | None = None,
) -> float:
    """``mem_fraction_static`` SGLang chooses when the user gives none (see the module doc)."""
    if version < BRACKET_FORMULA_SINCE:
        return _legacy_fraction(version, nvidia_smi_mib, tensor_parallel)
    if version < RESERVED_FORMULA_SINCE:
        reserved = _bracket_reserved_mib(nvidia_smi_mib, tensor_parallel)
        return round((nvidia_smi_mib - reserved) / nvidia_smi_mib, 3)
    chunk, max_bs = gpu_defaults(nvidia_smi_mib, tensor_parallel, version)
    chunk = chunked_prefill_size or chunk
    if max_running_requests is not None:
        max_bs = min(max_bs, max_running_requests)
    reserved = 512 + max(chunk, 2048) * 1.5 + tensor_parallel / 8 * 1024 + max_bs * 2
    if version >= PIECEWISE_GRAPHS_SINCE:
        reserved += _prefill_graph_sizes(chunk) * 8
    if nvidia_smi_mib > 60 * 1024:
        reserved = max(reserved, 10 * 1024)
    return round((nvidia_smi_mib - reserved) / nvidia_smi_mib, 3)


def plan_sglang(
    *,
    total_bytes: int,
    nvidia_smi_mib: int,
    weights_bytes: int,
    kv_bytes_per_token: int,
    version: tuple[int, int, int],
    tensor_parallel: int = 1,
    mem_fraction_static: float | None = None,
    chunked_prefill_size: int | None = None,
    max_running_requests: int | None = None,
    page_size: int = 1,
) -> SglangMemory:
    """Predict one SGLang rank's KV pool and the ``#tokens`` it logs."""
    notes: list[str] = []
    fraction = mem_fraction_static
    if fraction is None:
        fraction = default_mem_fraction_static(
            version, nvidia_smi_mib, tensor_parallel, chunked_prefill_size, max_running_requests
        )
        notes.append(f"mem_fraction_static defaults to {fraction} for this GPU and TP.")
    chunk = chunked_prefill_size or gpu_defaults(nvidia_smi_mib, tensor_parallel, version)[0]
    context = CUDA_CONTEXT_BYTES + (NCCL_BYTES_PER_SHARD if tensor_parallel > 1 else 0)
    pre = total_bytes - context
    reserved = int(pre * (1 - fraction))
    rest = pre - weights_bytes - reserved
    tokens = max(0, rest) // kv_bytes_per_token if kv_bytes_per_token else 0
    tokens = tokens // page_size * page_size
    return SglangMemory(
        version=version,
        total_bytes=int(total_bytes),
        pre_load_free_bytes=int(pre),
        mem_fraction_static=float(fraction),
        weights_bytes=int(weights_bytes),
        reserved_bytes=reserved,
        rest_bytes=int(rest),
        chunked_prefill_size=int(chunk),
        kv_cache_tokens=int(tokens),
        notes=tuple(notes),
    )

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
- Before 0.5 the default was a table by tensor parallelism (``server_args.py``): 0.88 (tp 1),
  0.87 (2), 0.85 (4), 0.81 (8), 0.79 (16).

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
RESERVED_FORMULA_SINCE = (0, 5, 0)
LEGACY_FRACTIONS = ((16, 0.79), (8, 0.81), (4, 0.85), (2, 0.87), (1, 0.88))


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


def gpu_defaults(nvidia_smi_mib: int, tensor_parallel: int) -> tuple[int, int]:
    """(chunked_prefill_size, decode CUDA-graph max_bs) SGLang 0.5.23 picks by GPU memory."""
    if nvidia_smi_mib < 20 * 1024:
        return 2048, 8
    if nvidia_smi_mib < 35 * 1024:
        return 4096, 48 if tensor_parallel < 4 else 160
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


def default_mem_fraction_static(
    version: tuple[int, int, int],
    nvidia_smi_mib: int,
    tensor_parallel: int = 1,
    chunked_prefill_size: int | None = None,
    max_running_requests: int | None = None,
) -> float:
    """``mem_fraction_static`` SGLang chooses when the user gives none."""
    if version < RESERVED_FORMULA_SINCE:
        return next(f for tp, f in LEGACY_FRACTIONS if tensor_parallel >= tp)
    chunk, max_bs = gpu_defaults(nvidia_smi_mib, tensor_parallel)
    chunk = chunked_prefill_size or chunk
    if max_running_requests is not None:
        max_bs = min(max_bs, max_running_requests)
    reserved = 512 + max(chunk, 2048) * 1.5 + tensor_parallel / 8 * 1024
    reserved += max_bs * 2 + _prefill_graph_sizes(chunk) * 8
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
    chunk = chunked_prefill_size or gpu_defaults(nvidia_smi_mib, tensor_parallel)[0]
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

"""KV capacity per engine: one entry point over the TGI, vLLM and SGLang memory models.

    plan_kv(engine, facts, gpu, settings, version=None) -> KvPlan

``engine`` is ``"tgi" | "vllm" | "sglang"``; ``gpu`` a catalog `Gpu`; ``settings`` the launch
flags as that engine takes them (`KvSettings`, ``None`` fields meaning the engine's default);
``version`` the engine release (default: `tgi_infra.engines.DEFAULT_VERSIONS`). The answer,
``KvPlan.kv_cache_tokens``, is the number the engine logs at startup: TGI "Setting max batch
total tokens to N", vLLM "GPU KV cache size: N tokens", SGLang "KV Cache is allocated.
#tokens: N". ``settings.gpu_memory_mib`` is the nvidia-smi total; it becomes the torch total
by the catalog's driver reservation for that GPU.

`ERROR_BAND` is each model's measured held-out error (``benchmarks/memory_accuracy.py``);
`error_band_problem` warns when a tier fits by less than that band.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields

from tgi_infra.capacity.catalog import MIB, Gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.memory import (
    TGI_KV_CACHE_DTYPES,
    TGI_QUANTIZE_METHODS,
    kv_bytes_per_token,
    plan_memory,
    weight_bytes_per_shard,
)
from tgi_infra.capacity.sglang_memory import plan_sglang
from tgi_infra.capacity.tgi_launcher import default_max_batch_prefill_tokens
from tgi_infra.capacity.vllm_memory import plan_vllm
from tgi_infra.engines import DEFAULT_VERSIONS, ENGINE_NAMES
from tgi_infra.problems import Problem

# Held-out max |error| of each model on public startup logs, rounded up to a whole percent:
# the band inside which a "fits" is not certain (docs/capacity.md,
# benchmarks/memory_accuracy.py; tests/test_capacity_engines.py keeps it >= the measured max).
ERROR_BAND: dict[str, float] = {"tgi": 0.14, "vllm": 0.24, "sglang": 0.08}

# Quantization methods each memory model understands, and the TGI method whose weight
# arithmetic (memory._served_weight_bytes) stands for it.
QUANTIZE_AS_TGI: dict[str, dict[str, str]] = {
    "tgi": {q: q for q in TGI_QUANTIZE_METHODS},
    "vllm": {
        "awq": "awq", "awq_marlin": "awq", "gptq": "gptq", "gptq_marlin": "gptq",
        "marlin": "marlin", "compressed-tensors": "compressed-tensors", "fp8": "fp8",
        "bitsandbytes": "bitsandbytes-nf4", "experts_int8": "eetq", "modelopt": "fp8",
    },
    "sglang": {
        "awq": "awq", "awq_marlin": "awq", "gptq": "gptq", "gptq_marlin": "gptq",
        "marlin": "marlin", "compressed-tensors": "compressed-tensors", "fp8": "fp8",
        "bitsandbytes": "bitsandbytes-nf4", "w8a8_int8": "eetq", "w8a8_fp8": "fp8",
        "modelopt": "fp8",
    },
}
KV_CACHE_DTYPES: dict[str, tuple[str, ...]] = {
    "tgi": TGI_KV_CACHE_DTYPES,
    "vllm": ("auto", "fp8", "fp8_e4m3", "fp8_e5m2", "bfloat16"),
    "sglang": ("auto", "fp8_e4m3", "fp8_e5m2", "bf16", "bfloat16"),
}


@dataclass(frozen=True)
class KvSettings:
    """Launch flags that move the KV capacity; ``None`` is the engine's default.

    The shared ones apply to every engine; the others only to the engine named in their
    ``metadata`` (a flag for another engine is a usage error in the CLI).
    """

    tensor_parallel: int = 1
    quantize: str | None = None
    dtype: str | None = None
    kv_cache_dtype: str | None = None
    gpu_memory_mib: int | None = None  # nvidia-smi total; None: the catalog's
    # TGI
    max_batch_prefill_tokens: int | None = field(default=None, metadata={"engine": "tgi"})
    max_input_tokens: int | None = field(default=None, metadata={"engine": "tgi"})
    max_total_tokens: int | None = field(default=None, metadata={"engine": "tgi"})
    cuda_memory_fraction: float | None = field(default=None, metadata={"engine": "tgi"})
    # vLLM
    gpu_memory_utilization: float | None = field(default=None, metadata={"engine": "vllm"})
    max_model_len: int | None = field(default=None, metadata={"engine": "vllm"})
    max_num_seqs: int | None = field(default=None, metadata={"engine": "vllm"})
    max_num_batched_tokens: int | None = field(default=None, metadata={"engine": "vllm"})
    enforce_eager: bool | None = field(default=None, metadata={"engine": "vllm"})
    # SGLang
    mem_fraction_static: float | None = field(default=None, metadata={"engine": "sglang"})
    context_length: int | None = field(default=None, metadata={"engine": "sglang"})
    max_running_requests: int | None = field(default=None, metadata={"engine": "sglang"})
    chunked_prefill_size: int | None = field(default=None, metadata={"engine": "sglang"})


def engine_flags(engine: str) -> tuple[str, ...]:
    """The `KvSettings` fields that belong to ``engine`` alone."""
    return tuple(f.name for f in fields(KvSettings) if f.metadata.get("engine") == engine)


@dataclass(frozen=True)
class KvPlan:
    """One engine's predicted KV capacity on one GPU per shard."""

    engine: str
    engine_version: str
    gpu: str
    tensor_parallel: int
    gpu_torch_total_bytes: int
    kv_cache_tokens: int
    weights_bytes_per_shard: int
    kv_bytes_per_token_per_shard: int
    required_tokens: int  # the longest request the flags admit
    fits: bool
    error_band: float
    terms: dict[str, int | float]  # each byte term of the engine's arithmetic
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def parse_version(version: str) -> tuple[int, int, int]:
    """'0.6.6.post1' -> (0, 6, 6); 'v3.1' -> (3, 1, 0)."""
    parts = [int(p) for p in re.findall(r"\d+", version)[:3]]
    if not parts:
        raise ValueError(f"engine version {version!r} is not a version like '0.8.5'")
    major, minor, patch = [*parts, 0, 0][:3]
    return major, minor, patch


def torch_total_bytes(gpu: Gpu, gpu_memory_mib: int | None) -> int:
    """The torch total of ``gpu``, or of a card whose nvidia-smi total is ``gpu_memory_mib``."""
    if gpu_memory_mib is None:
        return gpu.memory_bytes
    return gpu.torch_total_bytes_for(gpu_memory_mib)


def _kv_element_bytes(engine: str, kv_cache_dtype: str | None) -> str | None:
    """The TGI KV dtype standing for this engine's choice (``None``: 16 bit)."""
    if kv_cache_dtype is None or kv_cache_dtype in ("auto", "bfloat16", "bf16"):
        return None
    if kv_cache_dtype not in KV_CACHE_DTYPES[engine]:
        raise ValueError(
            f"kv_cache_dtype={kv_cache_dtype!r} is not one {engine} accepts; use one of "
            f"{', '.join(KV_CACHE_DTYPES[engine])}"
        )
    return "fp8_e5m2" if kv_cache_dtype.endswith("e5m2") else "fp8_e4m3fn"


def plan_kv(
    engine: str,
    facts: ModelFacts,
    gpu: Gpu,
    settings: KvSettings | None = None,
    version: str | None = None,
) -> KvPlan:
    """Predict the KV-cache tokens ``engine`` logs at startup (see the module doc)."""
    if engine not in ENGINE_NAMES:
        raise ValueError(f"engine {engine!r}: use one of {', '.join(ENGINE_NAMES)}")
    s = settings or KvSettings()
    version = version or DEFAULT_VERSIONS[engine]
    v = parse_version(version)
    tp = s.tensor_parallel
    if tp < 1:
        raise ValueError(f"tensor_parallel={tp} must be at least 1")
    quantize = None
    if s.quantize is not None:
        if s.quantize not in QUANTIZE_AS_TGI[engine]:
            raise ValueError(
                f"quantize={s.quantize!r} is not one {engine} accepts; use one of "
                f"{', '.join(QUANTIZE_AS_TGI[engine])}"
            )
        quantize = QUANTIZE_AS_TGI[engine][s.quantize]
    kv_dtype = _kv_element_bytes(engine, s.kv_cache_dtype)
    total = torch_total_bytes(gpu, s.gpu_memory_mib)
    weights = weight_bytes_per_shard(facts, num_shard=tp, quantize=quantize, dtype=None)
    kv_token = kv_bytes_per_token(facts, num_shard=tp, kv_cache_dtype=kv_dtype, dtype=None)
    notes: list[str] = []
    if engine != "tgi" and quantize is None and _serves_float32(engine, facts, s.dtype, gpu):
        weights *= 2  # float32 against the 16-bit size the helpers return
        kv_follows = s.kv_cache_dtype in (None, "auto")  # auto follows the model dtype
        if kv_follows:
            kv_token *= 2
        notes.append(
            f"{engine} runs this model in float32 here: twice the 16-bit weights"
            + (" and KV cache." if kv_follows else ".")
        )
    terms: dict[str, int | float]
    if engine == "tgi":
        prefill = s.max_batch_prefill_tokens or default_max_batch_prefill_tokens(
            facts, product_name=gpu.product_name,
            nvidia_smi_mib=s.gpu_memory_mib or gpu.nvidia_smi_mib, num_shard=tp,
            cuda_memory_fraction=s.cuda_memory_fraction or 1.0, version=v,
            max_input_tokens=s.max_input_tokens,
        )
        mem = plan_memory(
            facts, gpu_memory_bytes=total, num_shard=tp, quantize=quantize, dtype=s.dtype,
            kv_cache_dtype=kv_dtype, max_batch_prefill_tokens=prefill,
            cuda_memory_fraction=1.0 if s.cuda_memory_fraction is None else s.cuda_memory_fraction,
            max_input_tokens=s.max_input_tokens, max_total_tokens=s.max_total_tokens,
            tgi_version=version, compute_capability=gpu.compute_capability_tuple,
        )
        tokens = mem.max_batch_total_tokens
        weights = mem.weights_bytes_per_shard  # with a tied lm_head's second copy
        required = max(s.max_total_tokens or 0, prefill)
        terms = {
            "usable_bytes": mem.usable_bytes, "cuda_context_bytes": mem.cuda_context_bytes,
            "prefill_peak_bytes": mem.prefill_peak_bytes,
            "kv_budget_bytes": mem.kv_budget_bytes_per_shard, "block_size": mem.block_size,
        }
        notes += mem.notes
    elif engine == "vllm":
        vm = plan_vllm(
            facts, total_bytes=total, weights_bytes=weights, kv_bytes_per_token=kv_token,
            version=v, gpu_name=gpu.name, tensor_parallel=tp,
            gpu_memory_utilization=s.gpu_memory_utilization, max_model_len=s.max_model_len,
            max_num_seqs=s.max_num_seqs, max_num_batched_tokens=s.max_num_batched_tokens,
            enforce_eager=bool(s.enforce_eager),
        )
        tokens = vm.kv_cache_tokens
        required = s.max_model_len or facts.max_position_embeddings
        terms = {
            k: getattr(vm, k)
            for k in ("requested_bytes", "non_torch_bytes", "activation_bytes",
                      "cuda_graph_bytes", "context_bytes", "margin_bytes", "available_bytes",
                      "block_size", "max_num_batched_tokens", "utilization")
        }
        notes += vm.notes
        if required > tokens:
            notes.append(
                f"vLLM refuses to start: max_model_len {required} is larger than the KV cache "
                f"({tokens} tokens); lower --max-model-len or add memory."
            )
    else:
        sm = plan_sglang(
            total_bytes=total, nvidia_smi_mib=total // MIB + gpu.driver_reserved_mib,
            weights_bytes=weights, kv_bytes_per_token=kv_token, version=v, tensor_parallel=tp,
            mem_fraction_static=s.mem_fraction_static,
            chunked_prefill_size=s.chunked_prefill_size,
            max_running_requests=s.max_running_requests,
        )
        tokens = sm.kv_cache_tokens
        required = s.context_length or facts.max_position_embeddings
        terms = {
            k: getattr(sm, k)
            for k in ("pre_load_free_bytes", "mem_fraction_static", "reserved_bytes",
                      "rest_bytes", "chunked_prefill_size")
        }
        notes += sm.notes
        if tokens <= 0:
            notes.append(
                "SGLang refuses to start: the weights leave nothing for the KV cache under "
                "this mem_fraction_static; raise it, quantize or add GPUs."
            )
    fits = tokens > 0 and tokens >= required
    return KvPlan(
        engine=engine, engine_version=version, gpu=gpu.name, tensor_parallel=tp,
        gpu_torch_total_bytes=int(total), kv_cache_tokens=int(tokens),
        weights_bytes_per_shard=int(weights), kv_bytes_per_token_per_shard=int(kv_token),
        required_tokens=int(required), fits=bool(fits), error_band=ERROR_BAND[engine],
        terms=terms, notes=tuple(notes),
    )


def _serves_float32(engine: str, facts: ModelFacts, dtype: str | None, gpu: Gpu) -> bool:
    """Where vLLM or SGLang serve a 16-bit checkpoint in float32 (engines/*/dtype.py; imported
    here, since the engine packages import this module)."""
    if engine == "vllm":
        from tgi_infra.engines.vllm.dtype import serves_float32
    else:
        from tgi_infra.engines.sglang.dtype import serves_float32
    return serves_float32(facts, dtype, gpu)


def error_band_problem(
    engine: str, kv_cache_tokens: int, required_tokens: int, path: str
) -> Problem | None:
    """A warning when ``required_tokens`` fits, but by less than the model's error band."""
    band = ERROR_BAND[engine]
    if kv_cache_tokens < required_tokens or kv_cache_tokens <= 0:
        return None
    if math.floor(kv_cache_tokens * (1 - band)) >= required_tokens:
        return None
    return Problem(
        path,
        f"fits by {kv_cache_tokens - required_tokens} tokens: the {engine} memory model "
        f"predicts {kv_cache_tokens} KV-cache tokens for {required_tokens} needed, inside its "
        f"error band of ±{band:.0%} (held-out public startup logs), so the engine may refuse "
        "to start.",
        "leave more room: lower the token limits, use an fp8 KV cache, quantize, add shards, "
        "or check the engine's startup log.",
        "kv-within-error-band",
        "warning",
    )

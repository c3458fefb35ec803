"""Throughput and latency of one replica for a workload (pure): a roofline per step.

For a workload of ``isl`` prompt tokens, ``osl`` generated tokens and ``concurrency`` clients
that each send the next request when the last one finishes (what ``vllm bench serve
--max-concurrency C`` does), one replica of ``tensor_parallel`` GPUs runs:

- **the running batch** ``B = min(concurrency, running-request cap, KV tokens // (isl + osl))``:
  the engine admits no request whose whole context would not fit its KV cache; the rest
  queue. The cap is the engine's own (TGI ``--max-concurrent-requests``, vLLM
  ``--max-num-seqs``, SGLang ``--max-running-requests``; see `default_running_cap`);
- **a decode step** reads every weight of a shard once (not the input embedding table, of
  which it looks up a few rows) plus the KV cache of the batch, or is
  bound by compute when the batch is large: ``max((W + B x ctx x kv) / (BW x e_bw),
  2 x P x B / (tp x F x e_f)) + all-reduce + t_0``, with ``ctx = isl + osl / 2``;
- **a prefill** of one prompt costs ``2 x P x isl`` FLOPs plus causal attention
  (``2 x layers x isl^2 x heads x head_dim``) at ``F x e_f`` per GPU, at least one
  read of the weights;
- **tensor parallelism** adds two all-reduces of the activations per layer: a fixed latency
  per all-reduce plus ``2 (tp-1)/tp x bytes / link bandwidth`` (NVLink or PCIe);
- **the cycle**: while the batch turns over once, every running request prefills once and
  decodes ``osl`` steps: ``T = osl x t_step + B x t_prefill``. Output tokens/s are
  ``B x osl / T``, requests/s ``B / T``; time per output token (the benchmark's TPOT,
  excluding the first token) is ``(osl x t_step + (B - 1) x t_prefill) / osl``; time to
  first token is the own prefill, one step per prefill chunk, a share ``c_p`` of the other
  running requests' prefills (arrivals bunch), and the queue wait
  ``(concurrency - B) / requests_per_s`` when clients outnumber the batch.

Four constants are fitted on the tuned public benchmarks in
``tests/fixtures/perf/benchmarks.yaml`` by ``benchmarks/perf_accuracy.py`` (a grid search for
the least sum of squared log errors of output tokens/s and TPOT): `BANDWIDTH_EFFICIENCY`,
`COMPUTE_EFFICIENCY`, `STEP_OVERHEAD_S` and `ALLREDUCE_LATENCY_S` (on the tuned 4x H100
cases); then, those fixed, `PREFILL_CONTENTION` on the tuned TTFTs (it moves nothing else).
Everything else is arithmetic on the model's shape, or read from the engines' sources (caps,
chunk sizes) and vendor data sheets.
It ignores prefix caching, speculative decoding and CPU-side tokenisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from tgi_infra.capacity.catalog import Gpu
from tgi_infra.capacity.facts import ModelFacts

Bound = Literal["memory-bandwidth", "compute", "kv-capacity", "running-request-cap"]

# ------------------------------------------------------------------ fitted constants
# benchmarks/perf_accuracy.py --fit prints these; tests/test_performance.py checks that they
# are the best fit of the tuned cases on its grid.
BANDWIDTH_EFFICIENCY = 1.0
"""Share of the data-sheet memory bandwidth a decode step achieves."""
COMPUTE_EFFICIENCY = 0.5
"""Share of the data-sheet dense 16-bit tensor FLOP/s a prefill or a large batch achieves."""
STEP_OVERHEAD_S = 0.006
"""Fixed time per engine step (scheduling, sampling, kernel launches), seconds."""
ALLREDUCE_LATENCY_S = 30e-6
"""Fixed time of one tensor-parallel all-reduce over NVLink (kernel launch, synchronisation),
seconds; two per layer per step. Over PCIe, `PCIE_LATENCY_FACTOR` times it."""
PREFILL_CONTENTION = 0.15
"""Share of the other running requests' prefills a new request waits behind before its own
(arrivals bunch: fixed-length requests of a closed loop finish, and return, together)."""

ERROR_BAND: dict[str, float] = {"output_tokens_per_s": 0.13, "tpot_ms": 0.32, "ttft_ms": 0.76}
"""The model's error band: the largest |error| over every closed- and open-loop case, tuned
or held out, per metric, rounded up to the percent (benchmarks/perf_accuracy.py; a test keeps
every such case inside it). TPOT's is set by the held-out TGI 2.1 70B TP 4 open-loop point
(-31 %). SLO checks warn inside it."""

# ------------------------------------------------------------------ read or assumed
FLOPS_PER_BYTE_FALLBACK = 100  # a GPU whose catalog entry has no FLOP/s: a low ridge point
# Interconnect for the all-reduces of tensor parallelism: NVLink parts (SXM) versus PCIe.
# The bus bandwidths and the PCIe latency factor are assumed; the NVLink latency per
# all-reduce is fitted (`ALLREDUCE_LATENCY_S`, on the tuned 4x H100 cases).
NVLINK_GPUS = frozenset({"A100-40GB", "A100-80GB", "H100-80GB", "H200", "B200"})
NVLINK_BUS_BYTES_S = 300e9  # achieved all-reduce bus bandwidth, NVLink 3/4
PCIE_BUS_BYTES_S = 20e9  # achieved all-reduce bus bandwidth over PCIe 4.0 x16
PCIE_LATENCY_FACTOR = 3.0  # a PCIe all-reduce's fixed latency, in NVLink ones (assumed)
ACTIVATION_BYTES = 2

# Engines' running-request caps and prefill chunk sizes when the tier does not set them.
# vLLM 0.34.0 vllm/engine/arg_utils.py `_set_default_max_num_seqs_and_batched_tokens_args`
# (OPENAI_API_SERVER): >= 70 GiB and not A100: max_num_seqs 1024, max_num_batched_tokens
# 8192; >= 160 GiB: 1024 / 16384; otherwise 256 / 2048.
VLLM_SMALL = (256, 2048)
VLLM_LARGE = (1024, 8192)
VLLM_HUGE = (1024, 16384)
# SGLang 0.5.23 resolves --max-running-requests from the KV pool when unset: the KV cache is
# the only cap assumed here; --chunked-prefill-size assumed 8192 on >= 70 GiB, else 2048.
SGLANG_CHUNK_LARGE, SGLANG_CHUNK_SMALL = 8192, 2048


@dataclass(frozen=True)
class GpuSpeed:
    """What bounds a GPU's steps: bytes/s of memory, dense FLOP/s, interconnect."""

    bandwidth_bytes_s: float
    bf16_flops: float
    fp8_flops: float | None
    link_bytes_s: float
    nvlink: bool


def gpu_speed(gpu: Gpu) -> GpuSpeed:
    """The one place bandwidth and FLOP/s are read: the GPU catalog's data-sheet fields."""
    bandwidth = gpu.memory_bandwidth_bytes_per_s
    if bandwidth <= 0:
        raise ValueError(f"no memory bandwidth known for GPU {gpu.name!r}")
    bf16 = gpu.bf16_dense_flops or bandwidth * FLOPS_PER_BYTE_FALLBACK
    nvlink = gpu.name in NVLINK_GPUS
    return GpuSpeed(
        bandwidth_bytes_s=bandwidth,
        bf16_flops=bf16,
        fp8_flops=gpu.fp8_dense_flops,
        link_bytes_s=NVLINK_BUS_BYTES_S if nvlink else PCIE_BUS_BYTES_S,
        nvlink=nvlink,
    )


@dataclass(frozen=True)
class Calibration:
    """The fitted constants; tests and the fitting script pass others."""

    bandwidth_efficiency: float = BANDWIDTH_EFFICIENCY
    compute_efficiency: float = COMPUTE_EFFICIENCY
    step_overhead_s: float = STEP_OVERHEAD_S
    prefill_contention: float = PREFILL_CONTENTION
    allreduce_latency_s: float = ALLREDUCE_LATENCY_S


FITTED = Calibration()
"""The shipped constants."""


@dataclass(frozen=True)
class Workload:
    """Prompt tokens, generated tokens and concurrent clients (closed loop)."""

    isl: int
    osl: int
    concurrency: int

    def __post_init__(self) -> None:
        for name in ("isl", "osl", "concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1")


@dataclass(frozen=True)
class Replica:
    """One replica as the memory model planned it."""

    engine: str
    tensor_parallel: int
    weights_bytes_per_shard: int
    kv_bytes_per_token_per_shard: int
    kv_cache_tokens: int
    max_running_requests: int | None = None  # None: the engine's default (`default_running_cap`)
    prefill_chunk_tokens: int | None = None  # None: the engine's default
    fp8_compute: bool = False


@dataclass(frozen=True)
class Performance:
    """Predicted steady state of one replica under a workload."""

    output_tokens_per_s: float
    requests_per_s: float
    ttft_ms: float
    tpot_ms: float
    running_requests: int
    bound: Bound
    step_ms: float
    prefill_ms: float
    notes: tuple[str, ...] = field(default=())
    isl: int = 0
    osl: int = 0

    @property
    def total_tokens_per_s(self) -> float:
        """Prompt plus generated tokens per second (what tenants' budgets count)."""
        return self.requests_per_s * (self.isl + self.osl)


def active_parameters(facts: ModelFacts) -> int:
    """Weights one token passes through: attention, MLP (routed experts only), lm_head."""
    h, hd = facts.hidden_size, facts.head_dim
    attention = h * hd * (facts.num_attention_heads + 2 * facts.num_kv_heads)
    attention += facts.num_attention_heads * hd * h
    intermediate = facts.intermediate_size or round(3.5 * h)
    experts = min(facts.num_experts, 2) if facts.num_experts else 1
    mlp = 3 * h * intermediate * experts
    return facts.num_layers * (attention + mlp) + facts.vocab_size * h


def unread_embedding_bytes(facts: ModelFacts, tensor_parallel: int = 1) -> int:
    """Bytes of the input embedding table a step does not read (only looked-up rows are).

    Counted only when the checkpoint stores the table apart from ``lm_head`` (its size
    covers both) and is 16 bit; a tied or quantized checkpoint gets 0.
    """
    if facts.checkpoint_quantization:
        return 0
    table = facts.vocab_size * facts.hidden_size * 2
    untied = facts.weight_bytes >= 0.97 * 2 * (active_parameters(facts) + table / 2)
    return table // tensor_parallel if untied else 0


def default_running_cap(engine: str, gpu: Gpu) -> int | None:
    """The engine's running-request cap when the tier sets none (None: only the KV cache)."""
    if engine == "vllm":
        return _vllm_defaults(gpu)[0]
    if engine == "tgi":
        return 128  # TGI's --max-concurrent-requests default (launcher/src/main.rs)
    return None


def default_prefill_chunk(engine: str, gpu: Gpu) -> int | None:
    """Tokens of prompt an engine prefills per step when unset (None: whole prompts)."""
    if engine == "vllm":
        return _vllm_defaults(gpu)[1]
    if engine == "sglang":
        big = gpu.memory_mib >= 70 * 1024
        return SGLANG_CHUNK_LARGE if big else SGLANG_CHUNK_SMALL
    return None


def _vllm_defaults(gpu: Gpu) -> tuple[int, int]:
    if gpu.memory_mib >= 160 * 1024:
        return VLLM_HUGE
    if gpu.memory_mib >= 70 * 1024 and "a100" not in gpu.name.lower():
        return VLLM_LARGE
    return VLLM_SMALL


def _allreduce_s(
    speed: GpuSpeed, tp: int, tokens: int, facts: ModelFacts, calibration: Calibration
) -> float:
    if tp <= 1:
        return 0.0
    size = tokens * facts.hidden_size * ACTIVATION_BYTES
    latency = calibration.allreduce_latency_s * (1.0 if speed.nvlink else PCIE_LATENCY_FACTOR)
    one = latency + 2 * (tp - 1) / tp * size / speed.link_bytes_s
    return 2 * facts.num_layers * one


def predict(
    facts: ModelFacts,
    gpu: Gpu,
    replica: Replica,
    workload: Workload,
    calibration: Calibration = FITTED,
) -> Performance:
    """Steady-state throughput and latency of one replica (see the module doc)."""
    tp = replica.tensor_parallel
    if tp < 1:
        raise ValueError(f"tensor_parallel={tp} must be at least 1")
    speed = gpu_speed(gpu)
    bw = speed.bandwidth_bytes_s * calibration.bandwidth_efficiency
    peak = speed.fp8_flops if replica.fp8_compute and speed.fp8_flops else speed.bf16_flops
    flops = peak * calibration.compute_efficiency * tp
    isl, osl = workload.isl, workload.osl
    notes: list[str] = []

    cap = replica.max_running_requests
    if cap is None:
        cap = default_running_cap(replica.engine, gpu)
    by_kv = replica.kv_cache_tokens // (isl + osl)
    batch = min(workload.concurrency, by_kv, cap if cap is not None else by_kv)
    if batch < 1:
        notes.append(
            f"The KV cache ({replica.kv_cache_tokens} tokens) holds no request of "
            f"{isl + osl} tokens."
        )
        return Performance(
            0.0, 0.0, math.inf, math.inf, 0, "kv-capacity", 0.0, 0.0, tuple(notes), isl, osl
        )

    params = active_parameters(facts)
    ctx = isl + osl / 2
    weights = replica.weights_bytes_per_shard - unread_embedding_bytes(facts, tp)
    mem_s = (weights + batch * ctx * replica.kv_bytes_per_token_per_shard) / bw
    compute_s = 2 * params * batch / flops
    step = max(mem_s, compute_s) + _allreduce_s(speed, tp, batch, facts, calibration)
    step += calibration.step_overhead_s

    attention = 2 * facts.num_layers * isl * isl * facts.num_attention_heads * facts.head_dim
    prefill = max((2 * params * isl + attention) / flops, weights / bw)
    prefill += _allreduce_s(speed, tp, isl, facts, calibration)

    cycle = osl * step + batch * prefill
    rps = batch / cycle
    tpot = (osl * step + (batch - 1) * prefill) / osl
    chunk = replica.prefill_chunk_tokens or default_prefill_chunk(replica.engine, gpu) or isl
    ttft = prefill + math.ceil(isl / chunk) * step
    ttft += calibration.prefill_contention * (batch - 1) * prefill
    if workload.concurrency > batch:
        ttft += (workload.concurrency - batch) / rps

    if workload.concurrency > batch:
        bound: Bound = "kv-capacity" if cap is None or by_kv < cap else "running-request-cap"
    elif batch * prefill > osl * step or compute_s > mem_s:
        bound = "compute"
    else:
        bound = "memory-bandwidth"
    return Performance(
        output_tokens_per_s=batch * osl / cycle,
        requests_per_s=rps,
        ttft_ms=ttft * 1e3,
        tpot_ms=tpot * 1e3,
        running_requests=batch,
        bound=bound,
        step_ms=step * 1e3,
        prefill_ms=prefill * 1e3,
        notes=tuple(notes),
        isl=isl,
        osl=osl,
    )


def saturated(
    facts: ModelFacts,
    gpu: Gpu,
    replica: Replica,
    isl: int,
    osl: int,
    calibration: Calibration = FITTED,
) -> Performance:
    """The replica with as many clients as it can run at once (its peak throughput)."""
    cap = replica.max_running_requests or default_running_cap(replica.engine, gpu)
    by_kv = max(1, replica.kv_cache_tokens // (isl + osl))
    concurrency = min(by_kv, cap) if cap else by_kv
    return predict(facts, gpu, replica, Workload(isl, osl, concurrency), calibration)


def best_under_slo(
    facts: ModelFacts,
    gpu: Gpu,
    replica: Replica,
    isl: int,
    osl: int,
    *,
    ttft_ms: float | None = None,
    tpot_ms: float | None = None,
    calibration: Calibration = FITTED,
) -> Performance | None:
    """The highest-throughput concurrency whose TTFT and TPOT meet the targets (None: none).

    Concurrency rises in powers of two up to the saturating batch, then bisects between the
    last that met the targets and the first that did not.
    """

    def meets(p: Performance) -> bool:
        return (
            p.running_requests > 0
            and (ttft_ms is None or p.ttft_ms <= ttft_ms)
            and (tpot_ms is None or p.tpot_ms <= tpot_ms)
        )

    top = saturated(facts, gpu, replica, isl, osl, calibration).running_requests
    if top < 1:
        return None
    good: Performance | None = None
    lo, hi = 0, None
    c = 1
    while c <= top:
        p = predict(facts, gpu, replica, Workload(isl, osl, c), calibration)
        if not meets(p):
            hi = c
            break
        good, lo = p, c
        c *= 2
    if hi is None:
        if lo < top:
            p = predict(facts, gpu, replica, Workload(isl, osl, top), calibration)
            if meets(p):
                return p
            hi = top
        else:
            return good
    while hi - lo > 1:
        mid = (lo + hi) // 2
        p = predict(facts, gpu, replica, Workload(isl, osl, mid), calibration)
        if meets(p):
            good, lo = p, mid
        else:
            hi = mid
    return good

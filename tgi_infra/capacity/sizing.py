"""SLA-driven sizing (pure): engine x GPU x tensor-parallel x replicas options that meet targets.

For each engine, catalog GPU (one that an AWS instance type carries) and tensor-parallel size
the model can be split into, the performance model finds the highest request rate one replica
sustains within the TTFT/TPOT targets (`performance.best_under_slo`); the replicas needed for
the peak rate follow, packed onto the cheapest instance type with enough GPUs. Options are
ranked by On-Demand $/hour. Spot prices vary by zone and hour and are not in the instance
catalog: the Spot figure applies `spot_ratio` to the On-Demand list price (an assumption the
output says it is).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tgi_infra.capacity.catalog import Gpu, InstanceType, instance_types_with
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.performance import Performance, best_under_slo, default_running_cap
from tgi_infra.capacity.planning import kv_plan, replica
from tgi_infra.config.models import MAX_REPLICAS

HOURS_PER_MONTH = 730  # AWS pricing pages' month
DEFAULT_SPOT_RATIO = 0.5
"""Spot price as a share of On-Demand assumed when none is given (AWS: "up to 90% off")."""
TENSOR_PARALLEL_SIZES = (1, 2, 4, 8)
TIER_RUNNING_CAP = 128
"""tiers[].maxConcurrentRequests' default: what an engine without a default cap of its own
(SGLang) is given, so sizing assumes the cap the pods get."""


@dataclass(frozen=True)
class Targets:
    isl: int
    osl: int
    rps: float
    ttft_ms: float | None = None
    tpot_ms: float | None = None


@dataclass(frozen=True)
class SizingOption:
    """One way to serve the targets, with what it costs."""

    engine: str
    gpu: str
    tensor_parallel: int
    replicas: int
    instance_type: str
    nodes: int
    per_replica: Performance
    usd_per_hour: float
    spot_usd_per_hour: float
    usd_per_million_tokens: float
    spot_usd_per_million_tokens: float
    usd_per_million_output_tokens: float
    kv_cache_tokens: int
    price_estimated: bool
    max_concurrent_requests: int
    """The running-request cap sizing assumed (tiers[].maxConcurrentRequests)."""
    max_batch_prefill_tokens: int
    """The per-step prompt budget sizing assumed (tiers[].maxBatchPrefillTokens)."""

    @property
    def usd_per_month(self) -> float:
        return self.usd_per_hour * HOURS_PER_MONTH

    @property
    def spot_usd_per_month(self) -> float:
        return self.spot_usd_per_hour * HOURS_PER_MONTH


@dataclass(frozen=True)
class Rejected:
    engine: str
    gpu: str
    tensor_parallel: int
    reason: str


def splits(facts: ModelFacts, sizes: Iterable[int] = TENSOR_PARALLEL_SIZES) -> list[int]:
    """Tensor-parallel sizes the attention heads divide by (KV heads divide or replicate)."""
    out = []
    for tp in sizes:
        if facts.num_attention_heads % tp:
            continue
        if facts.num_kv_heads % tp and tp % facts.num_kv_heads:
            continue
        out.append(tp)
    return out


def cheapest_instance(gpu: Gpu, tensor_parallel: int, replicas: int) -> tuple[InstanceType, int]:
    """(instance type, nodes) of least total On-Demand price holding ``replicas`` replicas."""
    best: tuple[float, InstanceType, int] | None = None
    for it in instance_types_with(gpu.name):
        per_node = it.gpu_count // tensor_parallel
        if per_node < 1:
            continue
        nodes = math.ceil(replicas / per_node)
        price = nodes * it.hourly_usd
        if best is None or price < best[0]:
            best = (price, it, nodes)
    if best is None:
        raise LookupError(f"no instance type carries {tensor_parallel} x {gpu.name}")
    return best[1], best[2]


def size(
    facts: ModelFacts,
    targets: Targets,
    *,
    engines: Sequence[str],
    gpus: Sequence[Gpu],
    spot_ratio: float = DEFAULT_SPOT_RATIO,
) -> tuple[list[SizingOption], list[Rejected]]:
    """Every option meeting ``targets``, cheapest first, and why the others do not."""
    options: list[SizingOption] = []
    rejected: list[Rejected] = []
    for card in gpus:
        carriers = instance_types_with(card.name)
        most = max((it.gpu_count for it in carriers), default=0)
        for tp in splits(facts):
            if tp > most:
                continue
            for engine in engines:
                option, why = _option(facts, targets, engine, card, tp, spot_ratio)
                if option is not None:
                    options.append(option)
                else:
                    rejected.append(Rejected(engine, card.name, tp, why))
    options.sort(key=lambda o: (o.usd_per_hour, o.per_replica.ttft_ms, o.tensor_parallel))
    return options, rejected


def _option(
    facts: ModelFacts, targets: Targets, engine: str, card: Gpu, tp: int, spot_ratio: float
) -> tuple[SizingOption | None, str]:
    # The settings a tier pasted from `tier_snippet` gives its pods (engine_memory.settings_for,
    # planning.tier_replica), so the plan of that tier is this one.
    prefill = targets.isl + 50
    cap = default_running_cap(engine, card) or TIER_RUNNING_CAP
    flags: dict[str, int] = {}
    if engine == "vllm":
        flags = {"max_num_seqs": cap, "max_num_batched_tokens": prefill}
    elif engine == "sglang":
        flags = {"max_running_requests": cap}
    kv = kv_plan(
        engine,
        facts,
        card,
        tensor_parallel=tp,
        max_input_tokens=targets.isl,
        max_total_tokens=targets.isl + targets.osl,
        max_batch_prefill_tokens=prefill,
        engine_flags=flags,
    )
    if not kv.fits or kv.kv_cache_tokens < targets.isl + targets.osl:
        return None, "the weights leave no KV cache for one request"
    rep = replica(
        engine,
        kv,
        tensor_parallel=tp,
        max_running_requests=cap,
        prefill_chunk_tokens=None if engine == "sglang" else prefill,
    )
    best = best_under_slo(
        facts,
        card,
        rep,
        targets.isl,
        targets.osl,
        ttft_ms=targets.ttft_ms,
        tpot_ms=targets.tpot_ms,
    )
    if best is None:
        return None, "not even one request at a time meets the latency targets"
    replicas = math.ceil(targets.rps / best.requests_per_s)
    if replicas > MAX_REPLICAS:
        return None, (
            f"{replicas} replicas needed, above the {MAX_REPLICAS} a tier may have "
            "(replicas.max); split the traffic over tiers or use a larger GPU"
        )
    it, nodes = cheapest_instance(card, tp, replicas)
    hourly = nodes * it.hourly_usd
    tokens_per_hour = targets.rps * (targets.isl + targets.osl) * 3600
    output_per_hour = targets.rps * targets.osl * 3600
    return (
        SizingOption(
            engine=engine,
            gpu=card.name,
            tensor_parallel=tp,
            replicas=replicas,
            instance_type=it.name,
            nodes=nodes,
            per_replica=best,
            usd_per_hour=hourly,
            spot_usd_per_hour=hourly * spot_ratio,
            usd_per_million_tokens=hourly / tokens_per_hour * 1e6,
            spot_usd_per_million_tokens=hourly * spot_ratio / tokens_per_hour * 1e6,
            usd_per_million_output_tokens=hourly / output_per_hour * 1e6,
            kv_cache_tokens=kv.kv_cache_tokens,
            price_estimated=it.price_estimated,
            max_concurrent_requests=cap,
            max_batch_prefill_tokens=prefill,
        ),
        "",
    )


def tier_snippet(model_id: str, option: SizingOption, targets: Targets) -> dict:
    """The nodePools and tiers entries to paste into a stack (camelCase, as the YAML has it),
    with every setting the sizing assumed, so the pasted tier plans as `option` did."""
    pool = f"{option.gpu.lower()}-x{option.tensor_parallel}"
    slo: dict = {"peakRps": targets.rps, "isl": targets.isl, "osl": targets.osl}
    if targets.ttft_ms is not None:
        slo["ttftMs"] = targets.ttft_ms
    if targets.tpot_ms is not None:
        slo["tpotMs"] = targets.tpot_ms
    name = re.sub(r"[^a-z0-9]+", "-", model_id.rsplit("/", 1)[-1].lower())[:40].strip("-")
    tier = {
        "name": name,
        "modelId": model_id,
        "nodePool": pool,
        "engine": option.engine,
        "numShard": option.tensor_parallel,
        "maxInputTokens": targets.isl,
        "maxTotalTokens": targets.isl + targets.osl,
        "maxBatchPrefillTokens": option.max_batch_prefill_tokens,
        "maxConcurrentRequests": option.max_concurrent_requests,
        "replicas": {"min": 1, "max": option.replicas},
        "slo": slo,
    }
    return {
        "nodePools": [
            {
                "name": pool,
                "instanceTypes": [option.instance_type],
                # One node holds replicas.min (1): the node group starts with what it needs.
                "minSize": 1,
                "maxSize": option.nodes,
            }
        ],
        "tiers": [tier],
    }

"""The same tier under another engine: what `tgi-infra plan` shows beside each TGI tier.

Only the engine changes (at its pinned release: a TGI imageVersion and engineArgs do not carry
over): model, GPU, shards, token limits and replicas stay the tier's. The
KV capacity comes from the other engine's own memory model (`Engine.native_memory_plan`, one
call); while that model is pending, or where that engine cannot load the checkpoint as stored
(`Engine.check_checkpoint`), the columns that depend on it say "not available" and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from tgi_infra.capacity.planning import tier_total_tokens_per_second
from tgi_infra.checks.cost import tier_cost
from tgi_infra.checks.launcher import TierCapacity
from tgi_infra.checks.pools import PoolHardware
from tgi_infra.engines import get_engine
from tgi_infra.problems import errors


@dataclass(frozen=True)
class EngineEstimate:
    """One tier under one engine; None where the engine's memory model is not available."""

    tier: str
    engine: str
    kv_tokens: int | None
    full_length_requests: int | None
    tokens_per_second: float | None  # per replica, input + output
    monthly_usd: tuple[float, float]  # at replicas.min and replicas.max
    note: str = ""

    @property
    def available(self) -> bool:
        return self.kv_tokens is not None


def estimate(cap: TierCapacity, hw: PoolHardware, engine: str) -> EngineEstimate:
    """The tier as planned under `engine` (its own engine: the plan it already has)."""
    tier = cap.tier
    if engine != tier.engine:  # the other engine at its pinned release, without TGI's engineArgs
        tier = tier.model_copy(update={"engine": engine, "image_version": None, "engine_args": {}})
    cost = tier_cost(tier, hw)
    monthly = (cost.monthly_min, cost.monthly_max)
    if engine == cap.tier.engine:
        plan = cap.memory
    else:
        as_stored = tier.model_copy(update={"quantize": None})
        refused = errors(get_engine(engine).check_checkpoint(as_stored, cap.facts))
        if refused:  # the checkpoint as stored: this engine cannot load it at all
            name = get_engine(engine).display_name
            return EngineEstimate(
                tier.name, engine, None, None, None, monthly,
                f"{name} cannot load {cap.facts.model_id} ({refused[0].message})",
            )  # fmt: skip
        plan = get_engine(engine).native_memory_plan(tier, cap.facts, cap.gpu)
    if plan is None:
        name = get_engine(engine).display_name
        return EngineEstimate(
            tier.name, engine, None, None, None, monthly,
            f"{name}'s memory model is not available yet",
        )  # fmt: skip
    alt = TierCapacity(tier, cap.facts, cap.gpu, cap.gpus_per_node, plan)
    return EngineEstimate(
        tier.name,
        engine,
        plan.max_batch_total_tokens if plan.fits else 0,
        alt.full_length_requests if plan.fits else 0,
        tier_total_tokens_per_second(alt) if plan.fits else 0.0,
        monthly,
    )


def tgi_alternatives(
    tiers: dict[str, TierCapacity], pools: dict[str, PoolHardware], engine: str = "vllm"
) -> list[tuple[EngineEstimate, EngineEstimate]]:
    """(as planned, under `engine`) for every TGI tier with a plan."""
    out = []
    for cap in tiers.values():
        hw = pools.get(cap.tier.node_pool)
        if cap.tier.engine != "tgi" or hw is None:
            continue
        out.append((estimate(cap, hw, "tgi"), estimate(cap, hw, engine)))
    return out

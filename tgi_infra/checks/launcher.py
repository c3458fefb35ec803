"""Each tier's engine startup rules and memory plan, dispatched to the tier's engine plug-in.

The rules themselves live with their engine (`tgi_infra.engines.<engine>`); this module keeps
the planner's view of a tier (`TierCapacity`) and the two entry points the stack checks call.
"""

from __future__ import annotations

from dataclasses import dataclass

from tgi_infra.capacity.catalog import Gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.memory import MemoryPlan
from tgi_infra.config.models import TierConfig
from tgi_infra.engines import engine_of
from tgi_infra.engines.tgi.rules import BITSANDBYTES
from tgi_infra.problems import Problem

__all__ = [
    "BITSANDBYTES",
    "TierCapacity",
    "check_tier_arguments",
    "check_tier_capacity",
    "plan_tier",
]


@dataclass(frozen=True)
class TierCapacity:
    """What the planner knows about one tier: model facts, GPU, memory plan."""

    tier: TierConfig
    facts: ModelFacts
    gpu: Gpu
    gpus_per_node: int
    memory: MemoryPlan

    @property
    def full_length_requests(self) -> int:
        return self.memory.max_batch_total_tokens // self.tier.max_total_tokens


def plan_tier(tier: TierConfig, facts: ModelFacts, gpu: Gpu, gpus_per_node: int) -> TierCapacity:
    """The tier's memory plan from its engine's memory model."""
    memory = engine_of(tier).memory_plan(tier, facts, gpu)
    return TierCapacity(tier, facts, gpu, gpus_per_node, memory)


def check_tier_arguments(tier: TierConfig) -> list[Problem]:
    """The engine's rules on the tier alone: legal enums, engineArgs, its own refusals."""
    return engine_of(tier).check_arguments(tier)


def check_tier_capacity(cap: TierCapacity, *, min_full_length_requests: int) -> list[Problem]:
    """The engine's rules that need the model and the GPU."""
    return engine_of(cap.tier).check_capacity(
        cap.tier,
        cap.facts,
        cap.gpu,
        cap.gpus_per_node,
        cap.memory,
        min_full_length_requests=min_full_length_requests,
    )

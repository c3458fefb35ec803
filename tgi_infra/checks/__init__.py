"""Preview-time checks of a whole stack: every problem at once, each with a fix.

`validate_platform` is the one entry point: references, node pools, each tier's engine
startup rules and memory plan. It never raises for a bad stack; it returns problems.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.model_facts import ModelFactsError, resolve_model_facts
from tgi_infra.checks.addons import check_addons
from tgi_infra.checks.cache import check_cache_access
from tgi_infra.checks.gateway import check_gateway, check_tenant_overcommit
from tgi_infra.checks.inputs import check_requests_positive, check_tier_inputs
from tgi_infra.checks.launcher import (
    TierCapacity,
    check_tier_arguments,
    check_tier_capacity,
    plan_tier,
)
from tgi_infra.checks.names import check_name_collisions, check_name_syntax
from tgi_infra.checks.nodepools import check_node_pools
from tgi_infra.checks.observability import check_observability
from tgi_infra.checks.pools import (
    PoolHardware,
    check_pool_fit,
    check_tier_requests,
    resolve_pools,
)
from tgi_infra.checks.references import check_references
from tgi_infra.checks.slo import check_slo
from tgi_infra.checks.text import check_texts
from tgi_infra.config.models import PlatformConfig, TierConfig
from tgi_infra.engines import engine_of
from tgi_infra.problems import Problem, errors

FactsResolver = Callable[[TierConfig], ModelFacts]


@dataclass
class StackReport:
    """The outcome of validating one stack."""

    config: PlatformConfig
    pools: dict[str, PoolHardware] = field(default_factory=dict)
    tiers: dict[str, TierCapacity] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not errors(self.problems)


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def default_facts_resolver(tier: TierConfig) -> ModelFacts:
    """Facts from the tier's modelSpec, a local dir, the Hub, or the shipped catalog."""
    spec = tier.model_spec.model_dump() if tier.model_spec else None
    return resolve_model_facts(
        tier.model_id,
        revision=tier.revision,
        model_spec=spec,
        offline=hub_offline(),
        token=os.environ.get("HF_TOKEN"),
    )


def validate_platform(
    cfg: PlatformConfig, facts_resolver: FactsResolver = default_facts_resolver
) -> StackReport:
    report = StackReport(cfg)
    report.problems += check_references(cfg)
    report.problems += check_name_syntax(cfg) + check_name_collisions(cfg) + check_texts(cfg)
    report.pools, pool_problems = resolve_pools(cfg)
    report.problems += pool_problems
    report.problems += check_pool_fit(cfg, report.pools)
    report.problems += check_tier_requests(cfg, report.pools)
    report.problems += check_cache_access(cfg)
    for tier in cfg.tiers:
        arguments = check_tier_arguments(tier) + check_requests_positive(tier)
        report.problems += arguments + engine_of(tier).notices(tier)
        # A quantize/dtype the engine does not know cannot be planned: its problem says so.
        unplannable = any(p.check.endswith("-value") for p in arguments)
        report.problems += check_model_policy(cfg, tier)
        hw = report.pools.get(tier.node_pool)
        try:
            facts = facts_resolver(tier)
        except ModelFactsError as exc:
            report.problems.append(
                Problem(
                    f"tiers[{tier.name}].modelId",
                    str(exc),
                    "add a modelSpec to the tier, or run with Hub access (HF_TOKEN).",
                    "model-facts",
                )
            )
            continue
        report.problems += check_model_facts(cfg, tier, facts)
        report.problems += check_tier_inputs(tier, facts, cfg.cache)
        if hw is None or unplannable:
            continue
        cap = plan_tier(tier, facts, hw.gpu, hw.gpus_per_node)
        report.tiers[tier.name] = cap
        report.problems += check_tier_capacity(
            cap, min_full_length_requests=cfg.capacity.min_full_length_requests
        )
    report.problems += check_node_pools(cfg, report.pools, pod_specs=_pod_specs(report))
    report.problems += check_observability(cfg)
    report.problems += check_gateway(cfg)
    report.problems += check_tenant_overcommit(cfg, report.tiers)
    report.problems += check_addons(cfg)
    report.problems += check_slo(cfg, report.tiers)
    return report


def _pod_specs(report: StackReport) -> dict[str, dict[str, Any]]:
    """Each planned tier's Deployment as the builders render it: scheduling is checked on
    what the pods will carry, not on what the config says."""
    from tgi_infra.manifests.platform import tier_context
    from tgi_infra.manifests.serving import deployment

    cfg = report.config
    return {
        name: deployment(tier_context(cfg, cap.tier, cap.facts.weight_bytes))
        for name, cap in report.tiers.items()
    }


def check_model_policy(cfg: PlatformConfig, tier: TierConfig) -> list[Problem]:
    """Revision pinning: a moving `main` in prod means an unreviewed model swap."""
    if tier.revision_is_pinned:
        return []
    severity = "error" if cfg.environment == "prod" else "warning"
    return [
        Problem(
            f"tiers[{tier.name}].revision",
            f"{tier.revision!r} is not a commit sha; a push to the model repo changes what "
            "new pods load, with no blue/green swap.",
            "pin the 40-hex commit sha shown on the model's Hub page (Files → history).",
            "revision-pinned",
            severity,
        )
    ]


def check_model_facts(cfg: PlatformConfig, tier: TierConfig, facts: ModelFacts) -> list[Problem]:
    path = f"tiers[{tier.name}]"
    problems: list[Problem] = []
    if facts.fallback_reason and not hub_offline():  # offline on purpose: the table says it
        problems.append(
            Problem(
                f"{path}.modelId",
                f"facts for {facts.model_id} come from the {facts.source} because the Hub "
                f"could not be asked ({facts.fallback_reason}).",
                "check the model id and revision once online, or give a modelSpec.",
                "model-facts-fallback",
                "warning",
            )
        )
    if facts.trust_remote_code and not tier.trust_remote_code:
        problems.append(
            Problem(
                f"{path}.trustRemoteCode",
                f"{facts.model_id} ships its own modeling code (auto_map); "
                f"{engine_of(tier).display_name} refuses to load it unless trustRemoteCode is "
                "set.",
                "audit the repo's code at the pinned revision, then set trustRemoteCode: true.",
                "trust-remote-code",
            )
        )
    if tier.trust_remote_code:
        problems.append(
            Problem(
                f"{path}.trustRemoteCode",
                "runs code from the model repo inside the pod.",
                "audit it at the pinned revision."
                if tier.revision_is_pinned
                else "pin the revision: remote code at a moving revision is unreviewed code.",
                "trust-remote-code",
                "warning" if tier.revision_is_pinned else "error",
            )
        )
    if facts.gated:
        problems.append(
            Problem(
                f"{path}.modelId",
                f"{facts.model_id} is gated: the HF token (tgi-infra:hfToken) needs access.",
                "request access on the model page with the token's account.",
                "gated-model",
                "warning",
            )
        )
    return problems

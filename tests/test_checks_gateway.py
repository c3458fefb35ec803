"""Gateway checks: hostnames, limits, supplied keys, and the tokens/min overcommit."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.support import raw_stack, small_raw, stack_config
from tgi_infra.capacity import planning
from tgi_infra.capacity.catalog import gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.checks import gateway as checks
from tgi_infra.checks import validate_platform
from tgi_infra.checks.launcher import TierCapacity, plan_tier
from tgi_infra.checks.references import check_references
from tgi_infra.config.loader import parse_platform
from tgi_infra.config.models import PlatformConfig
from tgi_infra.problems import ConfigInvalid, Problem, errors

LLAMA_8B = ModelFacts(
    model_id="meta-llama/Llama-3.1-8B-Instruct",
    source="modelSpec",
    architecture="LlamaForCausalLM",
    num_layers=32,
    hidden_size=4096,
    num_attention_heads=32,
    num_kv_heads=8,
    head_dim=128,
    vocab_size=128256,
    max_position_embeddings=131072,
    weight_bytes=16_060_522_496,
    intermediate_size=14336,
)


def platform(tenants: list[dict[str, Any]] | None = None, **gateway: Any) -> PlatformConfig:
    raw = small_raw()
    if tenants is not None:
        raw["tenants"] = tenants
    raw["gateway"] = {"hostname": "llm.corp.internal", **gateway}
    return parse_platform(raw)


def tenant(name: str = "team-a", **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "tiers": ["chat"],
        "requestsPerMinute": 60,
        "tokensPerMinute": 50_000,
        **changes,
    }


def capacity(cfg: PlatformConfig, gpu_name: str = "L40S") -> dict[str, TierCapacity]:
    return {t.name: plan_tier(t, LLAMA_8B, gpu(gpu_name), 1) for t in cfg.tiers}


def by_check(problems: list[Problem], check: str) -> list[Problem]:
    return [p for p in problems if p.check == check]


# --------------------------------------------------------------------------- stacks


def test_shipped_stacks_pass_the_gateway_checks(stack_name: str) -> None:
    cfg = stack_config(stack_name)
    report = validate_platform(cfg)
    problems = checks.check_gateway(cfg) + checks.check_tenant_overcommit(cfg, report.tiers)
    assert not errors(problems), [str(p) for p in problems]


def test_prod_chat_tier_is_flagged_as_overcommitted_with_its_ratio() -> None:
    raw = raw_stack("prod")["tgi-infra:platform"]
    budgets = {"search": 2_000_000, "support-bot": 2_500_000}
    for tenant in raw["tenants"]:
        tenant["tokensPerMinute"] = budgets.get(tenant["name"], tenant["tokensPerMinute"])
    cfg = parse_platform(raw)
    problems = checks.check_tenant_overcommit(cfg, validate_platform(cfg).tiers)
    # search also reaches chat-vllm, which the raised budget may overcommit too.
    (problem,) = [p for p in problems if p.path == "tiers[chat]"]
    assert problem.severity == "warning"
    assert "search (2000000), support-bot (2500000)" in problem.message
    assert "4,500,000 tokens/min" in problem.message
    assert "x is above gateway.overcommitWarnRatio 1.0" in problem.message
    assert "raise tiers[chat].replicas.max to" in problem.fix


# --------------------------------------------------------------------------- done-when


def test_unknown_tier_in_a_tenant_fails_validation() -> None:
    raw = small_raw()
    raw["tenants"][0]["tiers"] = ["chat", "chta"]
    (problem,) = by_check(check_references(parse_platform(raw)), "tenant-tier-exists")
    assert problem.path == "tenants[team-a].tiers"
    assert "'chta' is not a tier" in problem.message and "['chat']" in problem.fix
    assert not validate_platform(parse_platform(raw)).ok


@pytest.mark.parametrize("key", ["requestsPerMinute", "tokensPerMinute"])
def test_zero_limit_fails_validation(key: str) -> None:
    raw = small_raw()
    raw["tenants"][0][key] = 0
    with pytest.raises(ConfigInvalid) as exc:
        parse_platform(raw)
    (problem,) = exc.value.problems
    assert problem.path == f"tenants[team-a].{key}"
    assert "0 is not accepted" in problem.message
    assert problem.fix == "use a value at least 1."


def test_overcommitted_tier_fails_with_the_ratio() -> None:
    cfg = platform([tenant(tokensPerMinute=50_000_000)])
    supply = checks.estimate_tier_tokens_per_minute(capacity(cfg)["chat"])
    (problem,) = checks.check_tenant_overcommit(cfg, capacity(cfg))
    assert problem.severity == "error" and problem.check == "tier-overcommit"
    ratio = 50_000_000 / supply
    assert f"Overcommit {ratio:.1f}x is above gateway.overcommitErrorRatio 3.0" in problem.message
    assert f"about {supply:,} at replicas.max 2" in problem.message


def test_overcommit_thresholds() -> None:
    base = platform([tenant()])
    supply = checks.estimate_tier_tokens_per_minute(capacity(base)["chat"])

    def severity(tokens: int) -> list[str]:
        cfg = platform([tenant(tokensPerMinute=tokens)])
        return [p.severity for p in checks.check_tenant_overcommit(cfg, capacity(cfg))]

    assert severity(supply) == []
    assert severity(int(supply * 2)) == ["warning"]
    assert severity(int(supply * 3.2)) == ["error"]
    relaxed = platform(
        [tenant(tokensPerMinute=int(supply * 3.2))],
        overcommitWarnRatio=2.0,
        overcommitErrorRatio=4.0,
    )
    assert [p.severity for p in checks.check_tenant_overcommit(relaxed, capacity(relaxed))] == [
        "warning"
    ]


def test_overcommit_sums_every_tenant_of_the_tier() -> None:
    cfg = platform([tenant("a", tokensPerMinute=10**7), tenant("b", tokensPerMinute=2 * 10**7)])
    (problem,) = checks.check_tenant_overcommit(cfg, capacity(cfg, "L4"))
    assert "a (10000000), b (20000000) may send 30,000,000 tokens/min" in problem.message


def test_overcommit_skips_unplanned_or_unfit_tiers_and_disabled_gateway() -> None:
    cfg = platform([tenant(tokensPerMinute=10**9)])
    assert checks.check_tenant_overcommit(cfg, {}) == []
    cap = capacity(cfg)["chat"]
    unfit = dataclasses.replace(cap, memory=dataclasses.replace(cap.memory, fits=False))
    assert checks.check_tenant_overcommit(cfg, {"chat": unfit}) == []
    off = platform([tenant(tokensPerMinute=10**9)], enabled=False)
    assert checks.check_tenant_overcommit(off, capacity(off)) == []


# --------------------------------------------------------------------------- estimate


def test_estimate_is_the_performance_model_at_replicas_max() -> None:
    cap = capacity(platform([tenant()]))["chat"]
    per_second = planning.tier_saturated(cap).total_tokens_per_s
    assert checks.estimate_tier_tokens_per_minute(cap) == int(per_second * 60 * 2)


def test_estimate_is_plausible_and_monotonic() -> None:
    cfg = platform([tenant()])
    l40s = capacity(cfg, "L40S")["chat"]
    per_replica = planning.tier_total_tokens_per_second(l40s)
    # Llama-3.1-8B on one L40S: public benchmarks show 1-3k output tok/s at high load.
    assert 1000 < planning.tier_saturated(l40s).output_tokens_per_s < 3000
    assert 1000 < per_replica < 12_000
    assert planning.tier_total_tokens_per_second(capacity(cfg, "H100")["chat"]) > per_replica
    assert planning.tier_total_tokens_per_second(capacity(cfg, "T4")["chat"]) < per_replica
    more = dataclasses.replace(
        l40s,
        tier=l40s.tier.model_copy(
            update={"replicas": l40s.tier.replicas.model_copy(update={"max": 4})}
        ),
    )
    assert checks.estimate_tier_tokens_per_minute(more) == pytest.approx(
        2 * checks.estimate_tier_tokens_per_minute(l40s), abs=2
    )


def test_estimate_is_zero_when_the_model_does_not_fit() -> None:
    cap = capacity(platform([tenant()]))["chat"]
    empty = dataclasses.replace(
        cap, memory=dataclasses.replace(cap.memory, max_batch_total_tokens=0, fits=False)
    )
    assert checks.estimate_tier_tokens_per_minute(empty) == 0

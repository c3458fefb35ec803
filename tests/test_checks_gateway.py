"""Gateway checks: hostnames, limits, supplied keys, and the tokens/min overcommit."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.support import raw_stack, small_raw, stack_config
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
    budgets = {"search": 1_000_000, "support-bot": 1_500_000}
    for tenant in raw["tenants"]:
        tenant["tokensPerMinute"] = budgets.get(tenant["name"], tenant["tokensPerMinute"])
    cfg = parse_platform(raw)
    problems = checks.check_tenant_overcommit(cfg, validate_platform(cfg).tiers)
    # search also reaches chat-vllm, which the raised budget overcommits too.
    (problem,) = [p for p in problems if p.path == "tiers[chat]"]
    assert problem.severity == "warning"
    assert "search (1000000), support-bot (1500000)" in problem.message
    assert "2,500,000 tokens/min" in problem.message
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


def test_estimate_follows_the_documented_formula() -> None:
    cap = capacity(platform([tenant()]))["chat"]
    mem, tier = cap.memory, cap.tier
    context = min(checks.DECODE_CONTEXT_TOKENS, tier.max_total_tokens // 2)
    batch = min(tier.max_concurrent_requests, mem.max_batch_total_tokens // context)
    step = (mem.weights_bytes_per_shard + batch * context * mem.kv_bytes_per_token_per_shard) / (
        864e9 * checks.BANDWIDTH_EFFICIENCY
    )
    decode = batch / step
    prefill = 362e12 * checks.COMPUTE_EFFICIENCY / (2 * checks.active_parameters(LLAMA_8B))
    share = checks.OUTPUT_TOKEN_SHARE
    per_second = 1 / (share / decode + (1 - share) / prefill)
    assert checks.estimate_decode_tokens_per_second(cap) == pytest.approx(decode)
    assert checks.estimate_tier_tokens_per_minute(cap) == int(per_second * 60 * 2)


def test_active_parameters_match_the_published_count() -> None:
    # Llama-3.1-8B has 8.03e9 parameters, 0.53e9 of them in the (looked-up) embedding.
    assert checks.active_parameters(LLAMA_8B) == pytest.approx(7.5e9, rel=0.01)
    moe = dataclasses.replace(LLAMA_8B, num_experts=8)
    assert checks.active_parameters(moe) < 2.1 * checks.active_parameters(LLAMA_8B)


def test_estimate_is_plausible_and_monotonic() -> None:
    cfg = platform([tenant()])
    l40s = capacity(cfg, "L40S")["chat"]
    per_replica = checks.estimate_replica_tokens_per_second(l40s)
    # Llama-3.1-8B on one L40S: public benchmarks show 1-3k output tok/s at high load.
    assert 500 < checks.estimate_decode_tokens_per_second(l40s) < 3000
    assert 1000 < per_replica < 10_000
    assert checks.estimate_replica_tokens_per_second(capacity(cfg, "H100")["chat"]) > per_replica
    assert checks.estimate_replica_tokens_per_second(capacity(cfg, "T4")["chat"]) < per_replica
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


def test_bandwidth_falls_back_to_the_module_table() -> None:
    l4 = dataclasses.replace(gpu("L4"), memory_bandwidth_gbs=0)
    assert checks.gpu_bandwidth_bytes(l4) == 300e9
    unknown = dataclasses.replace(gpu("L4"), name="X1", memory_bandwidth_gbs=0)
    with pytest.raises(ValueError, match="X1"):
        checks.gpu_bandwidth_bytes(unknown)
    assert checks.gpu_dense_flops(dataclasses.replace(gpu("L4"), name="X2")) == 300e9 * 100


# --------------------------------------------------------------------------- hostname, limits


def test_placeholder_and_wildcard_hostnames_warn() -> None:
    (problem,) = by_check(
        checks.check_gateway(stack_config("prod")), "gateway-hostname-placeholder"
    )
    assert problem.path == "gateway.hostname" and problem.severity == "warning"
    assert "'llm.example.com'" in problem.message
    wildcard = checks.check_gateway(platform([tenant()], hostname="*.corp.internal"))
    assert [p.check for p in wildcard] == ["gateway-hostname-wildcard"]
    assert checks.check_gateway(platform([tenant()])) == []


def test_overlong_hostname_is_an_error() -> None:
    host = ".".join(["a" * 60] * 5) + ".internal"
    (problem,) = checks.check_gateway(platform([tenant()], hostname=host))
    assert problem.check == "gateway-hostname" and problem.severity == "error"
    assert f"{len(host)} characters" in problem.message


def test_limits_beyond_uint32_are_errors() -> None:
    cfg = platform([tenant(tokensPerMinute=2**32)], tierRequestsPerMinute=2**33)
    found = by_check(checks.check_gateway(cfg), "gateway-limit-range")
    assert {p.path for p in found} == {
        "tenants[team-a].tokensPerMinute",
        "gateway.tierRequestsPerMinute",
    }
    assert all(p.severity == "error" and "4294967295" in p.fix for p in found)


def test_tenant_above_the_tier_limit_warns() -> None:
    cfg = platform([tenant(requestsPerMinute=700)], tierRequestsPerMinute=600)
    (problem,) = by_check(checks.check_gateway(cfg), "tenant-within-tier-limit")
    assert problem.path == "tenants[team-a].requestsPerMinute"
    assert "700" in problem.message and "600" in problem.message


def test_token_budget_below_one_full_request_warns() -> None:
    cfg = platform([tenant(tokensPerMinute=5000)])
    (problem,) = by_check(checks.check_gateway(cfg), "tenant-tokens-cover-request")
    assert "5000" in problem.message and "8192" in problem.message
    assert "at least 8192" in problem.fix


def test_ratio_order_and_rule_count_and_tenants() -> None:
    cfg = platform([tenant()], overcommitWarnRatio=2.0, overcommitErrorRatio=1.5)
    assert [p.check for p in checks.check_gateway(cfg)] == ["overcommit-ratios"]
    many = platform([tenant(f"t{i}", requestsPerMinute=i + 1) for i in range(256)])
    (problem,) = by_check(checks.check_gateway(many), "gateway-rule-count")
    assert "258 rate-limit rules" in problem.message  # 256 request limits + 2 token chunks
    plans = platform([tenant(f"t{i}") for i in range(500)])
    assert not by_check(checks.check_gateway(plans), "gateway-rule-count")
    assert [p.check for p in checks.check_gateway(platform([]))] == ["gateway-has-tenants"]
    off = platform([tenant()], enabled=False)
    assert [p.check for p in checks.check_gateway(off)] == ["gateway-disabled-tenants"]


def test_supplied_keys_must_name_tenants() -> None:
    cfg = platform([tenant("search"), tenant("ads")])
    assert checks.check_tenant_key_names(cfg, ["search"]) == []
    (problem,) = checks.check_tenant_key_names(cfg, ["search", "serach"])
    assert problem.path == "tenantKeys.serach" and problem.check == "tenant-key-unknown"
    assert "['ads', 'search']" in problem.fix

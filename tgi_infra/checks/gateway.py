"""Gateway checks: hostname, tenant limits, supplied keys, and tenants' budgets per tier.

The overcommit check compares what the tenants of a tier may send (the sum of their
`tokensPerMinute`, each counted in full against every tier it may call) with what the tier
can serve at `replicas.max`, from `estimate_tier_tokens_per_minute`.

The estimate (total = input + output tokens, like the tenants' budgets), per replica:

- decode is memory-bandwidth bound: one step reads a shard's weights once plus the KV
  cache of every running sequence, so `step = (weights + batch × context × kv_per_token) /
  (bandwidth × BANDWIDTH_EFFICIENCY)` and decode emits `batch / step` tokens/s. The batch
  is what the KV cache holds at a mean context of `DECODE_CONTEXT_TOKENS` (at most half of
  maxTotalTokens), capped by maxConcurrentRequests;
- prefill is compute bound: `2 × active parameters` FLOPs per input token at
  `COMPUTE_EFFICIENCY` of the GPUs' dense 16-bit peak;
- a tenant token is an output token with probability `OUTPUT_TOKEN_SHARE`, otherwise an
  input token; the replica's time is shared between the two.

It ignores prefix caching, speculative decoding and fp8 compute, and counts a tenant's whole
budget against each of its tiers: it errs on the side of fewer tokens.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from tgi_infra.capacity.catalog import Gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.memory import DEFAULT_MLP_RATIO, MOE_ACTIVE_EXPERTS
from tgi_infra.checks.launcher import TierCapacity
from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests.gateway import limit_rules
from tgi_infra.problems import Problem

BANDWIDTH_EFFICIENCY = 0.6
"""Share of the HBM bandwidth decode kernels achieve (measured 0.6-0.8 on large batches)."""
COMPUTE_EFFICIENCY = 0.4
"""Model FLOPs utilisation of a prefill (TGI's flash/paged kernels reach 0.4-0.6)."""
OUTPUT_TOKEN_SHARE = 0.25
"""Share of a tenant's total tokens that are generated: ~3 prompt tokens per output token."""
DECODE_CONTEXT_TOKENS = 2048
"""Mean context (prompt so far + generated) of a sequence while it decodes."""
RATE_LIMIT_MAX = 2**32 - 1  # BackendTrafficPolicy limit.requests is a uint32
RATE_LIMIT_RULES_MAX = 256  # BackendTrafficPolicy rateLimit.global.rules maxItems
PLACEHOLDER_DOMAINS = ("example.com", "example.net", "example.org")
PLACEHOLDER_TLDS = ("example", "test", "invalid", "localhost")

HBM_BANDWIDTH_GBS: dict[str, int] = {
    "T4": 320,
    "A10G": 600,
    "A10": 600,
    "L4": 300,
    "L40S": 864,
    "A100-40GB": 1555,
    "A100-80GB": 2039,
    "H100-80GB": 3350,
    "H200": 4800,
    "RTX-A6000": 768,
}
"""Spec-sheet memory bandwidth, for a GPU whose catalog entry lacks it."""
DENSE_16BIT_TFLOPS: dict[str, float] = {
    "T4": 65,
    "A10G": 70,
    "A10": 125,
    "L4": 121,
    "L40S": 362,
    "A100-40GB": 312,
    "A100-80GB": 312,
    "H100-80GB": 989,
    "H200": 989,
    "RTX-A6000": 155,
}
"""Spec-sheet dense (no sparsity) fp16/bf16 tensor-core TFLOPS."""
FLOPS_PER_BYTE_FALLBACK = 100  # for a GPU not in the table: a low ridge point


# --------------------------------------------------------------------------- estimate


def gpu_bandwidth_bytes(gpu: Gpu) -> float:
    gbs = getattr(gpu, "memory_bandwidth_gbs", 0) or HBM_BANDWIDTH_GBS.get(gpu.name, 0)
    if not gbs:
        raise ValueError(f"no memory bandwidth known for GPU {gpu.name!r}")
    return gbs * 1e9


def gpu_dense_flops(gpu: Gpu) -> float:
    tflops = DENSE_16BIT_TFLOPS.get(gpu.name)
    if tflops is None:
        return gpu_bandwidth_bytes(gpu) * FLOPS_PER_BYTE_FALLBACK
    return tflops * 1e12


def active_parameters(facts: ModelFacts) -> int:
    """Weights one token passes through: attention, MLP (routed experts only), lm_head."""
    h, hd = facts.hidden_size, facts.head_dim
    attention = h * hd * (facts.num_attention_heads + 2 * facts.num_kv_heads)
    attention += facts.num_attention_heads * hd * h
    intermediate = facts.intermediate_size or round(DEFAULT_MLP_RATIO * h)
    experts = min(facts.num_experts, MOE_ACTIVE_EXPERTS) if facts.num_experts else 1
    mlp = 3 * h * intermediate * experts
    return facts.num_layers * (attention + mlp) + facts.vocab_size * h


def decode_context(cap: TierCapacity) -> int:
    """Mean context of a decoding sequence: DECODE_CONTEXT_TOKENS, at most half the longest
    request the tier accepts."""
    return max(1, min(DECODE_CONTEXT_TOKENS, cap.tier.max_total_tokens // 2))


def decode_batch(cap: TierCapacity) -> int:
    """Sequences decoding together: what the KV cache holds at the mean context."""
    by_memory = cap.memory.max_batch_total_tokens // decode_context(cap)
    return max(0, min(cap.tier.max_concurrent_requests, by_memory))


def estimate_decode_tokens_per_second(cap: TierCapacity) -> float:
    """Generated tokens/s of one replica at a full decode batch (bandwidth bound)."""
    batch = decode_batch(cap)
    if not cap.memory.fits or batch == 0:
        return 0.0
    read = cap.memory.weights_bytes_per_shard
    read += batch * decode_context(cap) * cap.memory.kv_bytes_per_token_per_shard
    step = read / (gpu_bandwidth_bytes(cap.gpu) * BANDWIDTH_EFFICIENCY)
    return batch / step


def estimate_prefill_tokens_per_second(cap: TierCapacity) -> float:
    """Prompt tokens/s of one replica (compute bound, all shards together)."""
    flops = gpu_dense_flops(cap.gpu) * cap.tier.num_shard * COMPUTE_EFFICIENCY
    return flops / (2 * active_parameters(cap.facts))


def estimate_replica_tokens_per_second(cap: TierCapacity) -> float:
    """Total (input + output) tokens/s one replica serves at the assumed token mix."""
    decode = estimate_decode_tokens_per_second(cap)
    prefill = estimate_prefill_tokens_per_second(cap)
    if decode <= 0 or prefill <= 0:
        return 0.0
    return 1.0 / (OUTPUT_TOKEN_SHARE / decode + (1 - OUTPUT_TOKEN_SHARE) / prefill)


def estimate_tier_tokens_per_minute(cap: TierCapacity) -> int:
    """Total tokens/min the tier serves at replicas.max (0 when its model does not fit)."""
    return int(estimate_replica_tokens_per_second(cap) * 60 * cap.tier.replicas.max)


# --------------------------------------------------------------------------- checks


def check_gateway(cfg: PlatformConfig) -> list[Problem]:
    """Hostname, tenants and limits: what Envoy Gateway would refuse or never enforce.

    Unknown tiers in a tenant are `check_references`' `tenant-tier-exists`; zero or
    negative limits never get past the schema (minimum 1).
    """
    gw = cfg.gateway
    if not gw.enabled:
        if cfg.tenants:
            return [
                Problem(
                    "gateway.enabled",
                    "false, so tenants' keys and limits are not enforced: "
                    "nothing reaches the tiers from outside the cluster.",
                    "enable the gateway, or drop the tenants.",
                    "gateway-disabled-tenants",
                    "warning",
                )
            ]
        return []
    problems = _check_hostname(cfg)
    if not cfg.tenants:
        problems.append(
            Problem(
                "tenants",
                "is empty: the gateway accepts no key, so every request gets a 401.",
                "add a tenant (docs/gateway.md).",
                "gateway-has-tenants",
                "warning",
            )
        )
    if gw.overcommit_error_ratio < gw.overcommit_warn_ratio:
        problems.append(
            Problem(
                "gateway.overcommitErrorRatio",
                f"{gw.overcommit_error_ratio} is below overcommitWarnRatio "
                f"{gw.overcommit_warn_ratio}.",
                f"raise it to at least {gw.overcommit_warn_ratio}.",
                "overcommit-ratios",
            )
        )
    problems += _check_limits(cfg)
    rules = len(limit_rules(cfg))
    if rules > RATE_LIMIT_RULES_MAX:
        problems.append(
            Problem(
                "tenants",
                f"{rules} rate-limit rules (one per distinct tenant limit, more when a "
                "group's names exceed 1024 characters; 2 per tier with "
                f"tierRequestsPerMinute): a BackendTrafficPolicy holds at most "
                f"{RATE_LIMIT_RULES_MAX}.",
                "use fewer distinct requestsPerMinute/tokensPerMinute values (plans), or "
                "drop gateway.tierRequestsPerMinute.",
                "gateway-rule-count",
            )
        )
    return problems


def _check_hostname(cfg: PlatformConfig) -> list[Problem]:
    host = cfg.gateway.hostname
    problems = []
    if len(host) > 253:
        problems.append(
            Problem(
                "gateway.hostname",
                f"{len(host)} characters; a DNS name has at most 253.",
                "use a shorter name.",
                "gateway-hostname",
            )
        )
    bare = host.removeprefix("*.")
    if bare.endswith(PLACEHOLDER_DOMAINS) or bare.rsplit(".", 1)[-1] in PLACEHOLDER_TLDS:
        problems.append(
            Problem(
                "gateway.hostname",
                f"{host!r} is a reserved example name (RFC 2606): no client "
                "can resolve it and no public CA will issue its certificate.",
                "set the name clients will use, e.g. llm.<your domain>.",
                "gateway-hostname-placeholder",
                "warning",
            )
        )
    if host.startswith("*."):
        problems.append(
            Problem(
                "gateway.hostname",
                f"{host!r} is a wildcard: the endpoint output is not a URL "
                "clients can call, and cert-manager needs a DNS-01 solver for it.",
                "use one concrete name unless several names must share the gateway.",
                "gateway-hostname-wildcard",
                "warning",
            )
        )
    return problems


def _check_limits(cfg: PlatformConfig) -> list[Problem]:
    problems = []
    tier_rpm = cfg.gateway.tier_requests_per_minute
    if tier_rpm is not None and tier_rpm > RATE_LIMIT_MAX:
        problems.append(_too_large("gateway.tierRequestsPerMinute", tier_rpm))
    tiers = {t.name: t for t in cfg.tiers}
    for tenant in cfg.tenants:
        path = f"tenants[{tenant.name}]"
        for key, value in (
            ("requestsPerMinute", tenant.requests_per_minute),
            ("tokensPerMinute", tenant.tokens_per_minute),
        ):
            if value > RATE_LIMIT_MAX:
                problems.append(_too_large(f"{path}.{key}", value))
        if tier_rpm is not None and tenant.requests_per_minute > tier_rpm:
            problems.append(
                Problem(
                    f"{path}.requestsPerMinute",
                    f"{tenant.requests_per_minute} is above gateway.tierRequestsPerMinute "
                    f"{tier_rpm}: the tier's limit (shared by all tenants) refuses first.",
                    f"lower it to at most {tier_rpm}, or raise the tier limit.",
                    "tenant-within-tier-limit",
                    "warning",
                )
            )
        longest = max((tiers[n].max_total_tokens for n in tenant.tiers if n in tiers), default=0)
        if tenant.tokens_per_minute < longest:
            problems.append(
                Problem(
                    f"{path}.tokensPerMinute",
                    f"{tenant.tokens_per_minute} is below the {longest} tokens one full-length "
                    "request may use on its tiers (maxTotalTokens): one such request spends more "
                    "than a minute's budget, and the next ones get 429 until it refills.",
                    f"raise it to at least {longest}, or lower the tiers' maxTotalTokens.",
                    "tenant-tokens-cover-request",
                    "warning",
                )
            )
    return problems


def _too_large(path: str, value: int) -> Problem:
    return Problem(
        path,
        f"{value} is above {RATE_LIMIT_MAX}, the largest rate limit Envoy Gateway "
        "accepts (uint32).",
        f"use at most {RATE_LIMIT_MAX}.",
        "gateway-limit-range",
    )


def check_tenant_key_names(cfg: PlatformConfig, supplied: Iterable[str]) -> list[Problem]:
    """Keys supplied in secret config `tgi-infra:tenantKeys` must name tenants."""
    tenants = {t.name for t in cfg.tenants}
    return [
        Problem(
            f"tenantKeys.{name}",
            f"{name!r} is not a tenant: this key would never be used "
            "and the tenant you meant gets a generated key.",
            f"use one of {sorted(tenants)}, or add the tenant.",
            "tenant-key-unknown",
        )
        for name in sorted(set(supplied) - tenants)
    ]


def check_tenant_overcommit(
    cfg: PlatformConfig, tiers: Mapping[str, TierCapacity]
) -> list[Problem]:
    """Tenants' tokens/min per tier against the tier's estimated tokens/min at replicas.max.

    `tiers` is what the capacity planner resolved (`StackReport.tiers`); tiers missing from
    it (unknown GPU, unknown model) or whose model does not fit are reported elsewhere.
    """
    gw = cfg.gateway
    if not gw.enabled:
        return []
    problems = []
    for tier in cfg.tiers:
        cap = tiers.get(tier.name)
        tenants = [t for t in cfg.tenants if tier.name in t.tiers]
        if cap is None or not tenants:
            continue
        supply = estimate_tier_tokens_per_minute(cap)
        if supply <= 0:
            continue
        demand = sum(t.tokens_per_minute for t in tenants)
        ratio = demand / supply
        if ratio <= gw.overcommit_warn_ratio:
            continue
        error = ratio > gw.overcommit_error_ratio
        per_replica = supply / tier.replicas.max
        replicas = math.ceil(demand / (per_replica * gw.overcommit_warn_ratio))
        who = ", ".join(f"{t.name} ({t.tokens_per_minute})" for t in tenants)
        threshold = (
            f"gateway.overcommitErrorRatio {gw.overcommit_error_ratio}"
            if error
            else f"gateway.overcommitWarnRatio {gw.overcommit_warn_ratio}"
        )
        problems.append(
            Problem(
                f"tiers[{tier.name}]",
                f"tenants {who} may send {demand:,} tokens/min; the tier serves about "
                f"{supply:,} at replicas.max {tier.replicas.max} (~{per_replica:,.0f} per "
                f"replica on {tier.num_shard} x {cap.gpu.name}, an estimate: docs/gateway.md). "
                f"Overcommit {ratio:.1f}x is above {threshold}: at peak the tenants queue and "
                "time out before their own limits stop them.",
                f"raise tiers[{tier.name}].replicas.max to {replicas} (and the pool's size), "
                "lower the tenants' tokensPerMinute, or raise the ratio if their peaks never "
                "coincide.",
                "tier-overcommit",
                "error" if error else "warning",
            )
        )
    return problems

"""Gateway checks: hostname, tenant limits, supplied keys, and tenants' budgets per tier.

The overcommit check compares what the tenants of a tier may send (the sum of their
`tokensPerMinute`, each counted in full against every tier it may call) with what the tier
can serve at `replicas.max`, from `estimate_tier_tokens_per_minute`.

The estimate (total = input + output tokens, like the tenants' budgets) is one replica at
its peak throughput under the performance model (`capacity.performance`, calibrated on public
benchmarks: docs/capacity.md), for the tier's SLO lengths or ~3 prompt tokens per output
token, times `replicas.max`. It counts a tenant's whole budget against each of its tiers: it
errs on the side of fewer tokens.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from tgi_infra.capacity.planning import tier_total_tokens_per_second
from tgi_infra.checks.launcher import TierCapacity
from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests.gateway import limit_rules
from tgi_infra.problems import Problem

RATE_LIMIT_MAX = 2**32 - 1  # BackendTrafficPolicy limit.requests is a uint32
RATE_LIMIT_RULES_MAX = 256  # BackendTrafficPolicy rateLimit.global.rules maxItems
PLACEHOLDER_DOMAINS = ("example.com", "example.net", "example.org")
PLACEHOLDER_TLDS = ("example", "test", "invalid", "localhost")

# --------------------------------------------------------------------------- estimate


def estimate_tier_tokens_per_minute(cap: TierCapacity) -> int:
    """Total tokens/min the tier serves at replicas.max (0 when its model does not fit)."""
    return int(tier_total_tokens_per_second(cap) * 60 * cap.tier.replicas.max)


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

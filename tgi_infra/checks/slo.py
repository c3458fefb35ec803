"""Declared SLOs (`tiers[].slo`) against the performance model at `replicas.max`.

Per replica, the highest request rate whose mean TTFT and TPOT meet the targets
(`performance.best_under_slo`), times `replicas.max`, must reach `peakRps`: an error when it
does not, a warning when it only does outside the model's error band (`ERROR_BAND`: the
largest |error| of tokens/s, TPOT and TTFT on the public benchmarks it is checked on), i.e.
when a replica that is as much slower as the model has been wrong would miss it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from tgi_infra.capacity.performance import ERROR_BAND, Performance, best_under_slo
from tgi_infra.capacity.planning import tier_replica
from tgi_infra.checks.launcher import TierCapacity
from tgi_infra.config.models import PlatformConfig
from tgi_infra.config.performance import SloConfig
from tgi_infra.problems import Problem


def slo_capacity(cap: TierCapacity, slo: SloConfig, *, margin: bool = False) -> Performance | None:
    """One replica at the best concurrency meeting the SLO (with the error band when margin)."""
    ttft, tpot = slo.ttft_ms, slo.tpot_ms
    if margin:
        ttft = ttft / (1 + ERROR_BAND["ttft_ms"]) if ttft else None
        tpot = tpot / (1 + ERROR_BAND["tpot_ms"]) if tpot else None
    return best_under_slo(
        cap.facts, cap.gpu, tier_replica(cap), slo.isl, slo.osl, ttft_ms=ttft, tpot_ms=tpot
    )


def band_text() -> str:
    return (
        f"±{ERROR_BAND['output_tokens_per_s']:.0%} tokens/s, ±{ERROR_BAND['tpot_ms']:.0%} TPOT, "
        f"±{ERROR_BAND['ttft_ms']:.0%} TTFT: the model's largest error on public benchmarks, "
        "docs/capacity.md"
    )


def check_slo(cfg: PlatformConfig, tiers: Mapping[str, TierCapacity]) -> list[Problem]:
    """Each tier's declared SLO at replicas.max; unplanned or unfit tiers are reported elsewhere."""
    problems: list[Problem] = []
    for tier in cfg.tiers:
        cap, slo = tiers.get(tier.name), tier.slo
        if slo is None or cap is None or not cap.memory.fits:
            continue
        path = f"tiers[{tier.name}].slo"
        targets = _targets(slo)
        if slo.isl + slo.osl > tier.max_total_tokens:
            problems.append(
                Problem(
                    path,
                    f"isl {slo.isl} + osl {slo.osl} is above maxTotalTokens "
                    f"{tier.max_total_tokens}: the tier refuses such requests.",
                    "lower isl/osl or raise maxTotalTokens.",
                    "slo-fits-tier",
                )
            )
            continue
        best = slo_capacity(cap, slo)
        where = f"{tier.num_shard} x {cap.gpu.name} ({tier.engine})"
        if best is None:
            problems.append(
                Problem(
                    path,
                    f"no load on one replica of {where} meets {targets} for {slo.isl}-token "
                    "prompts and "
                    f"{slo.osl}-token answers, even a single request.",
                    "use a faster GPU or more shards (numShard), shorter prompts, or relax "
                    "the targets.",
                    "slo-feasible",
                )
            )
            continue
        total = best.requests_per_s * tier.replicas.max
        need = math.ceil(slo.peak_rps / best.requests_per_s)
        said = (
            f"one replica of {where} serves ~{best.requests_per_s:.2f} req/s within {targets} "
            f"(at {best.running_requests} concurrent, TTFT ~{best.ttft_ms:.0f} ms, TPOT "
            f"~{best.tpot_ms:.1f} ms, {best.bound}-bound); replicas.max {tier.replicas.max} "
            f"gives ~{total:.2f} req/s"
        )
        if total < slo.peak_rps:
            problems.append(
                Problem(
                    path,
                    f"{said}, below peakRps {slo.peak_rps:g}.",
                    f"raise tiers[{tier.name}].replicas.max to at least {need} (and the pool), "
                    "or see `tgi-infra size` for other GPUs and engines.",
                    "slo-holds",
                )
            )
            continue
        safe = slo_capacity(cap, slo, margin=True)
        safe_total = (
            safe.requests_per_s * (1 - ERROR_BAND["output_tokens_per_s"]) * tier.replicas.max
            if safe
            else 0.0
        )
        if safe_total < slo.peak_rps:
            band_need = (
                math.ceil(slo.peak_rps / (safe_total / tier.replicas.max)) if safe_total else None
            )
            problems.append(
                Problem(
                    path,
                    f"{said}: peakRps {slo.peak_rps:g} holds, but inside the model's error "
                    f"band ({band_text()}).",
                    f"raise tiers[{tier.name}].replicas.max to {band_need} for margin, or "
                    "measure it with tiers[].benchmark and `tgi-infra bench-report`."
                    if band_need
                    else "measure it with tiers[].benchmark and `tgi-infra bench-report`.",
                    "slo-margin",
                    "warning",
                )
            )
    return problems


def _targets(slo: SloConfig) -> str:
    parts = []
    if slo.ttft_ms is not None:
        parts.append(f"TTFT {slo.ttft_ms:g} ms")
    if slo.tpot_ms is not None:
        parts.append(f"TPOT {slo.tpot_ms:g} ms")
    return " and ".join(parts) or "no latency target"

"""`tgi-infra size MODEL --isl N --osl N --rps R`: options that meet an SLA, cheapest first.

Exit codes: 0 at least one option meets the targets, 1 none does, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING

import yaml
from rich.console import Console
from rich.table import Table

from tgi_infra.config.performance import MAX_PEAK_RPS, MAX_TARGET_MS
from tgi_infra.engines import ENGINE_NAMES

if TYPE_CHECKING:
    from tgi_infra.capacity.facts import ModelFacts

EXIT_OK, EXIT_NONE, EXIT_USAGE = 0, 1, 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "size", help="rank engine x GPU x tensor-parallel x replicas options that meet an SLA"
    )
    p.add_argument("model", help="Hub id (org/name) or a local model directory")
    p.add_argument("--revision", default="main")
    p.add_argument("--isl", type=int, required=True, help="prompt tokens per request")
    p.add_argument("--osl", type=int, required=True, help="generated tokens per request")
    p.add_argument("--rps", type=float, required=True, help="peak requests per second")
    p.add_argument("--ttft-ms", type=float, help="mean time-to-first-token target")
    p.add_argument("--tpot-ms", type=float, help="mean time-per-output-token target")
    p.add_argument(
        "--engines", default=",".join(ENGINE_NAMES), help="comma-separated (default: all)"
    )
    p.add_argument("--gpus", help="comma-separated catalog GPUs (default: every one on AWS)")
    p.add_argument(
        "--spot-ratio",
        type=float,
        help="Spot price as a share of On-Demand (default 0.5: an assumption, not a quote)",
    )
    p.add_argument("--top", type=int, default=10, help="options to show (default 10)")
    p.add_argument("--json", action="store_true", help="print every option as JSON")
    p.set_defaults(handler=run)


def _usage(console: Console, message: str) -> int:
    console.print(f"[red]tgi-infra size: error:[/red] {message}", highlight=False)
    return EXIT_USAGE


def run(args: argparse.Namespace, console: Console) -> int:
    from tgi_infra.capacity.catalog import UnknownHardwareError, gpu, gpus, instance_types
    from tgi_infra.capacity.model_facts import ModelFactsError, resolve_model_facts
    from tgi_infra.capacity.sizing import DEFAULT_SPOT_RATIO, Rejected, Targets, size
    from tgi_infra.checks import hub_offline

    for flag, value in (("--isl", args.isl), ("--osl", args.osl), ("--top", args.top)):
        if value < 1:
            return _usage(console, f"{flag} {value}: must be a whole number of at least 1.")
    if args.isl + args.osl > 10_000_000:
        return _usage(console, "--isl + --osl is above 10,000,000 tokens, more than any GPU holds.")
    for flag, value, most in (
        ("--rps", args.rps, MAX_PEAK_RPS),
        ("--ttft-ms", args.ttft_ms, MAX_TARGET_MS),
        ("--tpot-ms", args.tpot_ms, MAX_TARGET_MS),
    ):
        if value is not None and not 0 < value <= most:  # NaN and inf fail too
            return _usage(console, f"{flag} {value}: must be above 0 and at most {most:,}.")
    spot = DEFAULT_SPOT_RATIO if args.spot_ratio is None else args.spot_ratio
    if not 0 < spot <= 1:
        return _usage(console, f"--spot-ratio {spot}: must be in (0, 1].")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINE_NAMES]
    if unknown or not engines:
        return _usage(
            console, f"--engines {args.engines!r}: use some of {', '.join(ENGINE_NAMES)}."
        )
    if args.gpus is not None and not args.gpus.replace(",", "").strip():
        return _usage(console, f"--gpus {args.gpus!r}: name at least one catalog GPU.")
    try:
        if args.gpus:
            cards = [gpu(name.strip()) for name in args.gpus.split(",") if name.strip()]
        else:
            on_aws = {it.gpu.name for it in instance_types()}
            cards = [g for g in gpus() if g.name in on_aws]
    except UnknownHardwareError as exc:
        return _usage(console, f"--gpus: {exc}")
    carried = {it.gpu.name for it in instance_types()}
    missing = [c.name for c in cards if c.name not in carried]
    if missing:
        return _usage(
            console,
            f"--gpus {', '.join(missing)}: no AWS instance type in the catalog carries it, so it "
            f"has no price; use some of {', '.join(sorted(carried))}.",
        )
    try:
        facts = resolve_model_facts(
            args.model,
            revision=args.revision,
            offline=hub_offline(),
            token=os.environ.get("HF_TOKEN"),
        )
    except ModelFactsError as exc:
        from tgi_infra.problems import shorten

        return _usage(console, f"MODEL {shorten(args.model)!r}: {exc}")

    targets = Targets(args.isl, args.osl, args.rps, args.ttft_ms, args.tpot_ms)
    refused = _engines_refusing(facts, engines)
    servable = [e for e in engines if e not in refused]
    options, rejected = size(facts, targets, engines=servable, gpus=cards, spot_ratio=spot)
    rejected = [Rejected(e, "any GPU", 0, why) for e, why in refused.items()] + rejected
    on_gpu = _refused_on_gpu(facts, {(o.engine, o.gpu) for o in options})
    rejected += [Rejected(o.engine, o.gpu, o.tensor_parallel, on_gpu[(o.engine, o.gpu)])
                 for o in options if (o.engine, o.gpu) in on_gpu]  # fmt: skip
    options = [o for o in options if (o.engine, o.gpu) not in on_gpu]
    if args.json:
        print(json.dumps(_as_json(facts.model_id, targets, options, rejected, spot), indent=2))
    else:
        _print(console, facts.model_id, targets, options[: args.top], rejected, spot)
    return EXIT_OK if options else EXIT_NONE


def _engines_refusing(facts: ModelFacts, engines: list[str]) -> dict[str, str]:
    """Engines that cannot load this checkpoint as stored (its quantization), with why."""
    from tgi_infra.checks.inputs import checkpoint_problems
    from tgi_infra.problems import errors

    refused = {}
    for engine in engines:
        problems = errors(checkpoint_problems(engine, facts, None))
        if problems:
            refused[engine] = f"{problems[0].message} Fix: {problems[0].fix}"
    return refused


def _refused_on_gpu(facts: ModelFacts, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(engine, GPU) pairs where the engine cannot run this checkpoint (kernels, capability)."""
    from tgi_infra.capacity.catalog import gpu
    from tgi_infra.checks.inputs import checkpoint_problems
    from tgi_infra.problems import errors

    refused = {}
    for engine, card in sorted(pairs):
        problems = errors(checkpoint_problems(engine, facts, None, gpu(card)))
        if problems:
            refused[(engine, card)] = f"{problems[0].message} Fix: {problems[0].fix}"
    return refused


def _as_json(model_id, targets, options, rejected, spot) -> dict:
    from tgi_infra.capacity.sizing import tier_snippet

    return {
        "model_id": model_id,
        "targets": asdict(targets),
        "spot_ratio": spot,
        "spot_is_estimate": True,
        "options": [
            {
                **{k: v for k, v in asdict(o).items() if k != "per_replica"},
                "usd_per_month": round(o.usd_per_month, 2),
                "spot_usd_per_month": round(o.spot_usd_per_month, 2),
                "per_replica": {
                    k: getattr(o.per_replica, k)
                    for k in (
                        "requests_per_s",
                        "output_tokens_per_s",
                        "ttft_ms",
                        "tpot_ms",
                        "running_requests",
                        "bound",
                    )
                },
                "config": tier_snippet(model_id, o, targets),
            }
            for o in options
        ],
        "rejected": [asdict(r) for r in rejected],
    }


def _print(console, model_id, targets, options, rejected, spot) -> None:
    from tgi_infra.capacity.sizing import tier_snippet

    wanted = [f"{targets.rps:g} req/s", f"{targets.isl} in / {targets.osl} out"]
    if targets.ttft_ms:
        wanted.append(f"TTFT <= {targets.ttft_ms:g} ms")
    if targets.tpot_ms:
        wanted.append(f"TPOT <= {targets.tpot_ms:g} ms")
    if not options:
        console.print(f"[red]no option meets {', '.join(wanted)} for {model_id}[/red]")
        for r in rejected[:12]:
            console.print(f"  {r.engine} on {r.tensor_parallel} x {r.gpu}: {r.reason}")
        return
    table = Table(title=f"{model_id}: {', '.join(wanted)}")
    for col in (
        "engine",
        "GPU x TP",
        "replicas",
        "nodes",
        "req/s/replica",
        "TTFT ms",
        "TPOT ms",
        "$/hour",
        "$/month",
        "$/M tok",
        "spot $/hour",
        "spot $/M tok",
        "bound",
    ):
        table.add_column(col, justify="right" if col not in ("engine", "bound") else "left")
    for o in options:
        p = o.per_replica
        table.add_row(
            o.engine,
            f"{o.gpu} x {o.tensor_parallel}",
            str(o.replicas),
            f"{o.nodes} x {o.instance_type}",
            f"{p.requests_per_s:.2f}",
            f"{p.ttft_ms:.0f}",
            f"{p.tpot_ms:.1f}",
            f"{o.usd_per_hour:,.2f}" + ("*" if o.price_estimated else ""),
            f"{o.usd_per_month:,.0f}",
            f"{o.usd_per_million_tokens:.3f}",
            f"{o.spot_usd_per_hour:,.2f}",
            f"{o.spot_usd_per_million_tokens:.3f}",
            p.bound,
        )
    console.print(table)
    for r in rejected:
        if r.gpu == "any GPU":  # an engine that cannot load the checkpoint at all
            console.print(f"  [yellow]{r.engine} left out:[/yellow] {r.reason}", highlight=False)
    console.print(
        f"  $/M tok: per million prompt + generated tokens at the peak rate. Spot = "
        f"{spot:g} x On-Demand (assumed; Spot prices vary by zone and hour). "
        "* estimated list price. Model accuracy: docs/capacity.md.",
        highlight=False,
    )
    console.print("[bold]stack config for the cheapest option[/bold] (tgi-infra:platform):")
    sys.stdout.flush()
    console.print(
        yaml.safe_dump(tier_snippet(model_id, options[0], targets), sort_keys=False),
        highlight=False,
        markup=False,
    )

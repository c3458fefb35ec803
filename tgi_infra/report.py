"""Human output: problems, the capacity summary, the plan tree (rich tables and trees)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from tgi_infra.capacity.memory import MemoryPlan
from tgi_infra.checks import StackReport
from tgi_infra.checks.addon_cost import addon_costs
from tgi_infra.checks.addon_cost import price_note as addon_price_note
from tgi_infra.checks.cost import pool_cost, price_note, tier_cost
from tgi_infra.checks.engine_comparison import tgi_alternatives
from tgi_infra.config.models import PlatformConfig
from tgi_infra.engines.approx_memory import APPROXIMATE_NOTE
from tgi_infra.offline.plan import OfflinePlan, PlannedResource
from tgi_infra.problems import Problem

GIB = 2**30


MAX_SHOWN_PER_CHECK = 20
"""Problems of one check printed before the rest are counted (`--json` lists them all)."""


def print_problems(console: Console, problems: Iterable[Problem]) -> None:
    problems = list(problems)
    for severity, style, mark in (("error", "bold red", "✗"), ("warning", "yellow", "!")):
        chosen = [p for p in problems if p.severity == severity]
        if not chosen:
            continue
        console.print(f"[{style}]{len(chosen)} {severity}(s):[/{style}]")
        per_check = Counter(p.check for p in chosen)
        shown: Counter[str] = Counter()
        for p in chosen:
            shown[p.check] += 1
            if shown[p.check] > MAX_SHOWN_PER_CHECK:
                if shown[p.check] == per_check[p.check]:
                    console.print(
                        f"  [{style}]{mark}[/{style}] ... and "
                        f"{per_check[p.check] - MAX_SHOWN_PER_CHECK} more ({escape(p.check)})",
                        highlight=False,
                    )
                continue
            console.print(
                f"  [{style}]{mark}[/{style}] [bold]{escape(p.path)}[/bold] ({p.check}): "
                f"{escape(p.message)}",
                highlight=False,
                soft_wrap=True,
            )
            if p.fix:
                console.print(f"      fix: {escape(p.fix)}", highlight=False, soft_wrap=True)


def capacity_table(report: StackReport) -> Table:
    table = Table(title=f"capacity ({report.config.environment})", title_justify="left")
    for col in (
        "tier",
        "model (facts from)",
        "GPU × shards",
        "weights/shard",
        "KV/token/shard",
        "KV tokens",
        "max total",
        "full-length reqs",
        "replicas",
    ):
        table.add_column(
            col, justify="right" if col not in ("tier", "model (facts from)") else "left"
        )
    for name, cap in report.tiers.items():
        mem = cap.memory
        approx = "~" if APPROXIMATE_NOTE in mem.notes else ""
        table.add_row(
            f"{name} ({cap.tier.engine})",
            f"{cap.facts.model_id} ({cap.facts.source})",
            f"{cap.gpu.name} × {cap.tier.num_shard}",
            f"{mem.weights_bytes_per_shard / GIB:.1f} GiB",
            f"{mem.kv_bytes_per_token_per_shard / 1024:.0f} KiB",
            f"{approx}{mem.max_batch_total_tokens:,}" if mem.fits else "does not fit",
            f"{cap.tier.max_total_tokens:,}",
            str(cap.full_length_requests) if mem.fits else "0",
            f"{cap.tier.replicas.min}–{cap.tier.replicas.max}",
        )
    return table


def engine_comparison_table(report: StackReport, engine: str = "vllm") -> Table | None:
    """Each TGI tier beside the same tier under `engine` (TGI is in maintenance mode)."""
    rows = tgi_alternatives(report.tiers, report.pools, engine)
    if not rows:
        return None
    table = Table(
        title=f"TGI tiers under {engine} (same model, GPUs, limits)", title_justify="left"
    )
    notes = sorted({est.note for pair in rows for est in pair if est.note})
    if notes:
        table.caption = "not available: " + "; ".join(notes)
    for col in ("tier", "engine", "KV tokens", "full-length reqs", "tokens/s/replica", "$/month"):
        table.add_column(col, justify="left" if col in ("tier", "engine") else "right")
    for pair in rows:
        for est in pair:
            table.add_row(
                est.tier,
                est.engine,
                f"{est.kv_tokens:,}" if est.available else "not available",
                str(est.full_length_requests) if est.available else "not available",
                f"{est.tokens_per_second:,.0f}" if est.available else "not available",
                f"{est.monthly_usd[0]:,.0f}–{est.monthly_usd[1]:,.0f}",
            )
    return table


def cost_table(report: StackReport) -> Table:
    """$/hour and $/month per pool (smallest and largest size) and per tier."""
    table = Table(title=f"cost ({price_note()})", title_justify="left")
    for col in ("pool / tier", "nodes or replicas", "$/hour", "$/month"):
        table.add_column(col, justify="left" if col == "pool / tier" else "right")
    cfg = report.config
    for name, hw in report.pools.items():
        tiers = [t for t in cfg.tiers if t.node_pool == name]
        cost = pool_cost(hw, tiers)
        note = " (Spot: below this)" if cost.spot else ""
        table.add_row(
            f"[bold]{name}[/bold] {cost.instance_type}{note}",
            f"{cost.nodes_min}–{cost.nodes_max}",
            f"{cost.hourly_min:,.2f}–{cost.hourly_max:,.2f}",
            f"{cost.monthly_min:,.0f}–{cost.monthly_max:,.0f}",
        )
        for tier in tiers:
            tc = tier_cost(tier, hw)
            table.add_row(
                f"  tier {tier.name}",
                f"{tc.replicas_min}–{tc.replicas_max}",
                f"{tc.hourly_min:,.2f}–{tc.hourly_max:,.2f}",
                f"{tc.monthly_min:,.0f}–{tc.monthly_max:,.0f}",
            )
    weights = {n: cap.facts.weight_bytes for n, cap in report.tiers.items()}
    for line in addon_costs(cfg, weights):
        table.add_row(
            f"[bold]{escape(line.item)}[/bold] [dim]{escape(line.note)}[/dim]",
            "",
            f"{line.monthly_min / 730:,.2f}–{line.monthly_max / 730:,.2f}",
            f"{line.monthly_min:,.0f}–{line.monthly_max:,.0f}",
        )
    if addon_costs(cfg, weights):
        table.caption = addon_price_note()
    return table


def addons_table(plan: OfflinePlan, cfg: PlatformConfig | None = None) -> Table:
    """Every Helm release the plan installs: chart, version, namespace, values (YAML,
    secrets already redacted by the offline runner); then the add-ons the stack relies on
    (`existing`) or does not use (`off`)."""
    table = Table(title="add-ons (Helm releases)", title_justify="left", show_lines=True)
    for col in ("release", "chart", "version", "namespace", "values"):
        table.add_column(col)
    for res in plan.of_type("kubernetes:helm.sh/v3:Release"):
        i = res.inputs
        repo = (i.get("repositoryOpts") or {}).get("repo")
        chart = f"{repo}/{i['chart']}" if repo else i["chart"]
        values = yaml.safe_dump(i.get("values") or {}, sort_keys=False, width=90).rstrip()
        table.add_row(
            i.get("name", res.name),
            chart,
            i.get("version", ""),
            i.get("namespace", ""),
            escape(values if values != "{}" else "(chart defaults)"),
        )
    for key, entry in (cfg.addons.entries() if cfg else {}).items():
        if entry.mode != "install":
            what = "relied on: `tgi-infra doctor` checks it" if entry.mode == "existing" else ""
            table.add_row(key, f"[dim]{entry.mode}[/dim]", "", "", what)
    return table


def memory_table(plan: MemoryPlan, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("term")
    table.add_column("per GPU", justify="right")
    rows = [
        ("GPU memory", plan.gpu_memory_bytes / GIB),
        ("weights (per shard)", plan.weights_bytes_per_shard / GIB),
        ("CUDA context", plan.cuda_context_bytes / GIB),
        ("warmup prefill peak", plan.prefill_peak_bytes / GIB),
        ("usable after fraction and wiggle room", plan.usable_bytes / GIB),
        ("KV budget", plan.kv_budget_bytes_per_shard / GIB),
    ]
    for term, gib in rows:
        table.add_row(term, f"{gib:.2f} GiB")
    table.add_row("KV bytes per token (per shard)", f"{plan.kv_bytes_per_token_per_shard:,} B")
    table.add_row("predicted max batch total tokens", f"{plan.max_batch_total_tokens:,}")
    table.add_row("fits", "yes" if plan.fits else "NO")
    return table


def plan_tree(plan: OfflinePlan) -> Tree:
    root = Tree(f"[bold]stack {plan.stack}[/bold]: {len(plan.resources)} resources")

    def add(node: Tree, parent: str | None) -> None:
        for res in plan.children(parent):
            label = _label(res)
            child = node.add(label)
            if not res.custom:
                add(child, res.urn)

    add(root, None)
    return root


def _label(res: PlannedResource) -> str:
    if not res.custom:
        return f"[bold cyan]{res.type}[/bold cyan] {res.name}"
    kind = res.type.split(":")[-1]
    if res.type.startswith("kubernetes:helm.sh/"):
        i = res.inputs
        return (
            f"{kind} [green]{i.get('name', res.name)}[/green] [dim]({i.get('namespace')})[/dim] "
            f"{escape(str(i.get('chart')))} {i.get('version')}"
        )
    meta: dict[str, Any] = res.inputs.get("metadata") or {}
    shown = meta.get("name") or res.name
    ns = meta.get("namespace")
    where = f" [dim]({ns})[/dim]" if ns else ""
    return f"{kind} [green]{shown}[/green]{where} [dim]{res.type}[/dim]"

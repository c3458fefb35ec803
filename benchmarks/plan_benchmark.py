"""How long the offline plan of a large generated platform takes, against a bare baseline.

For platforms of growing size (tiers, with ten tenants per tier), it times:
  - validate: parse + every preview-time check and memory plan (pure Python);
  - plan: the real program (`tgi_infra.program.main`) under Pulumi's mocks;
  - bare: registering the same custom resources the plan registers (every Kubernetes
    object, RandomPassword, IAM role, launch template, node group and explicit provider,
    with the plan's inputs) directly with their provider SDK classes under the same mocks:
    no components, no checks, no manifest building, no dependencies (the baseline). What
    the plan does beyond it is our layer.
Plan and bare runs alternate (plan, bare, plan, bare, ...), each in a fresh spawned
process after the same warm-up, so drift in machine load hits both arms alike. It prints
each arm's median and spread (min-max) of --repeats runs, the ratio of the medians
(target <= 1.2 at 50 tiers), the same ratio against a baseline of the Kubernetes objects
alone (the measure before the baseline registered every custom resource), seconds per
tier (flat when plan time grows linearly with tiers) and the peak resident memory each
stage adds.

    .venv/bin/python benchmarks/plan_benchmark.py [--tiers 10 25 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import importlib
import multiprocessing
import os
import resource
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rich.console import Console
from rich.table import Table

from tgi_infra.checks import validate_platform
from tgi_infra.components.kube import resource_class
from tgi_infra.config.loader import parse_platform
from tgi_infra.offline.plan import run_offline
from tgi_infra.program import main as program
from tgi_infra.validation import is_custom_resource

LLAMA_8B = ("meta-llama/Llama-3.1-8B-Instruct", "0e9e39f249a16976918f6564b8830bc894c89659")
TIERS_PER_POOL = 5
Reg = tuple[str, str, dict[str, Any]]
"""(type token, name, inputs) of one custom resource the plan registers."""


def generated_platform(tiers: int, tenants: int) -> dict[str, Any]:
    """A sound platform: `tiers` 8B tiers on 1-GPU L40S pools, `tenants` spread over them."""
    pools = -(-tiers // TIERS_PER_POOL)
    return {
        "environment": "staging",
        "cluster": {"name": "bench", "region": "us-east-1"},
        "nodePools": [
            {
                "name": f"pool-{p}",
                "instanceTypes": ["g6e.xlarge"],
                "minSize": TIERS_PER_POOL,
                "maxSize": 2 * TIERS_PER_POOL,
            }
            for p in range(pools)
        ],
        "tiers": [
            {
                "name": f"tier-{t}",
                "modelId": LLAMA_8B[0],
                "revision": LLAMA_8B[1],
                "servedModelName": f"llama-8b-{t}",
                "nodePool": f"pool-{t // TIERS_PER_POOL}",
                "maxInputTokens": 4096,
                "maxTotalTokens": 8192,
                "replicas": {"min": 1, "max": 2},
            }
            for t in range(tiers)
        ],
        "tenants": [
            {
                "name": f"tenant-{n}",
                "tiers": sorted({f"tier-{n % tiers}", f"tier-{(n + 1) % tiers}"}),
                "requestsPerMinute": 60,
                "tokensPerMinute": 20_000,
            }
            for n in range(tenants)
        ],
        "gateway": {"hostname": "llm.bench.internal.acme.io"},
    }


def validate_and_plan_capacity(raw: dict[str, Any]) -> Any:
    return validate_platform(parse_platform(raw))


def _stage(kind: str, tiers: int, tenants: int, registered: list[Reg], conn: Any) -> None:
    """One timed run in a fresh (spawned) process: (seconds, peak MiB, MiB before)."""
    raw = generated_platform(tiers, tenants)
    config = {"tgi-infra:platform": raw}
    if kind == "validate":
        fn: Callable[[], Any] = partial(validate_and_plan_capacity, raw)
    elif kind == "plan":
        fn = partial(run_offline, program, config, stack="bench")
    else:
        fn = partial(run_offline, bare_program(registered), {}, stack="bare")
    # Warm up: imports (pulumi_aws alone takes seconds) are not the plan's cost.
    run_offline(program, {"tgi-infra:platform": generated_platform(1, 1)}, stack="warm")
    validate_and_plan_capacity(generated_platform(1, 1))
    gc.collect()  # the warm-up's garbage is not the timed stage's
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    conn.send((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, before))
    conn.close()


def _once(kind: str, tiers: int, tenants: int, registered: list[Reg]) -> tuple[float, float]:
    """(seconds, peak MiB above the process's state after the warm-up) of one run, in a
    spawned process so the heap and the Pulumi runtime start fresh."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_stage, args=(kind, tiers, tenants, registered, child))
    proc.start()
    secs, peak, before = parent.recv()
    proc.join()
    return secs, peak - before


def measured(
    kinds: dict[str, list[Reg]], tiers: int, tenants: int, repeats: int
) -> dict[str, tuple[list[float], float]]:
    """Per stage: (seconds of each run, max peak MiB); the stages' runs alternate."""
    runs: dict[str, list[float]] = {k: [] for k in kinds}
    peaks: dict[str, float] = dict.fromkeys(kinds, 0.0)
    for _ in range(repeats):
        for kind, registered in kinds.items():
            secs, peak = _once(kind.split(":")[0], tiers, tenants, registered)
            runs[kind].append(secs)
            peaks[kind] = max(peaks[kind], peak)
    return {k: (runs[k], peaks[k]) for k in kinds}


def registered_resources(plan: Any, *, kubernetes_only: bool = False) -> list[Reg]:
    """The custom resources of `plan` (providers included), as the baseline registers them."""
    out = []
    for r in plan.resources:
        if not r.custom or (kubernetes_only and not r.type.startswith("kubernetes:")):
            continue
        out.append((r.type, r.name, r.inputs))
    return out


def _sdk_class(token: str) -> type:
    """The provider SDK's class of a type token: `aws:iam/role:Role` -> pulumi_aws.iam.Role,
    `random:index/randomPassword:RandomPassword` -> pulumi_random.RandomPassword,
    `pulumi:providers:aws` -> pulumi_aws.Provider."""
    pkg, module, cls = token.split(":")
    if pkg == "pulumi" and module == "providers":
        return importlib.import_module(f"pulumi_{cls}").Provider
    mod = module.split("/")[0]
    path = f"pulumi_{pkg}" if mod == "index" else f"pulumi_{pkg}.{mod}"
    return getattr(importlib.import_module(path), cls)


def _snake(body: dict[str, Any]) -> dict[str, Any]:
    return {"".join("_" + c.lower() if c.isupper() else c for c in k): v for k, v in body.items()}


def bare_program(registered: list[Reg]) -> Callable[[], None]:
    """Register `registered` directly with the provider SDKs: the baseline."""
    import pulumi_kubernetes as k8s

    def run() -> None:
        for i, (token, _name, inputs) in enumerate(registered):
            name = f"o{i}"
            if token.startswith("kubernetes:") and "apiVersion" in inputs:
                body = {k: v for k, v in inputs.items() if k not in ("apiVersion", "kind")}
                if is_custom_resource(inputs):
                    k8s.apiextensions.CustomResource(
                        name,
                        api_version=inputs["apiVersion"],
                        kind=inputs["kind"],
                        metadata=body["metadata"],
                        spec=body.get("spec"),
                    )
                else:
                    resource_class(inputs["apiVersion"], inputs["kind"])(name, **_snake(body))
            else:
                _sdk_class(token)(name, **_snake(inputs))

    return run


def _spread(runs: list[float]) -> str:
    return f"{statistics.median(runs):.2f} ({min(runs):.2f}-{max(runs):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--tenants-per-tier", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    table = Table(
        title="offline plan benchmark: median (min-max) of runs, seconds; peak RSS MiB added"
    )
    for col in (
        "tiers",
        "tenants",
        "resources",
        "bare registers",
        "validate",
        "plan",
        "bare",
        "plan / bare",
        "bare k8s only",
        "plan / bare k8s",
        "plan s / tier",
        "validate MiB",
        "plan MiB",
        "bare MiB",
    ):
        table.add_column(col, justify="right")
    for tiers in args.tiers:
        tenants = tiers * args.tenants_per_tier
        raw = generated_platform(tiers, tenants)
        report = validate_platform(parse_platform(raw))
        assert report.ok, [str(p) for p in report.problems if p.severity == "error"]
        plan = run_offline(program, {"tgi-infra:platform": raw}, stack="bench")
        every = registered_resources(plan)
        k8s_only = registered_resources(plan, kubernetes_only=True)
        planned = len(plan.resources)
        del plan
        arms = {"validate": [], "plan": [], "bare": every, "bare:k8s": k8s_only}
        got = measured(arms, tiers, tenants, args.repeats)
        med = {k: statistics.median(runs) for k, (runs, _) in got.items()}
        table.add_row(
            str(tiers),
            str(tenants),
            str(planned),
            str(len(every)),
            _spread(got["validate"][0]),
            _spread(got["plan"][0]),
            _spread(got["bare"][0]),
            f"{med['plan'] / med['bare']:.2f}",
            _spread(got["bare:k8s"][0]),
            f"{med['plan'] / med['bare:k8s']:.2f}",
            f"{med['plan'] / tiers:.3f}",
            f"{got['validate'][1]:.0f}",
            f"{got['plan'][1]:.0f}",
            f"{got['bare'][1]:.0f}",
        )
    Console(width=200).print(table)


if __name__ == "__main__":
    main()

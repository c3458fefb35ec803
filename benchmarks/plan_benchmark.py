"""How long the offline plan of a large generated platform takes, against a bare baseline.

For platforms of growing size (tiers, with ten tenants per tier), it times:
  - validate: parse + every preview-time check and memory plan (pure Python);
  - plan: the real program (`tgi_infra.program.main`) under Pulumi's mocks;
  - bare: registering the same Kubernetes objects directly with pulumi_kubernetes under the
    same mocks, no components, no checks (the baseline, measured in the same run).
It prints the median of --repeats runs, the plan/bare ratio (target <= 1.2 at 50 tiers), the
same ratio per registered resource (the plan also registers what the baseline lacks: a
RandomPassword per tenant, IAM roles and node groups, the components themselves), seconds
per tier (flat when plan time grows linearly with tiers) and the peak resident memory each
stage adds (each run in a spawned process; the bare baseline's includes its own plan of
the objects it registers, so it is an upper bound).

    .venv/bin/python benchmarks/plan_benchmark.py [--tiers 10 25 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
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
                "tiers": [f"tier-{n % tiers}", f"tier-{(n + 1) % tiers}"],
                "requestsPerMinute": 60,
                "tokensPerMinute": 20_000,
            }
            for n in range(tenants)
        ],
        "gateway": {"hostname": "llm.bench.internal.acme.io"},
    }


def validate_and_plan_capacity(raw: dict[str, Any]) -> Any:
    return validate_platform(parse_platform(raw))


def _stage(kind: str, tiers: int, tenants: int, conn: Any) -> None:
    """One timed run in a fresh (spawned) process: (seconds, peak MiB, MiB before)."""
    raw = generated_platform(tiers, tenants)
    config = {"tgi-infra:platform": raw}
    if kind == "validate":
        fn: Callable[[], Any] = partial(validate_and_plan_capacity, raw)
    elif kind == "plan":
        fn = partial(run_offline, program, config, stack="bench")
    else:
        objects = run_offline(program, config, stack="bench").kubernetes_objects()
        fn = partial(run_offline, bare_program(objects), {}, stack="bare")
    # Warm up: imports (pulumi_aws alone takes seconds) are not the plan's cost.
    run_offline(program, {"tgi-infra:platform": generated_platform(1, 1)}, stack="warm")
    validate_and_plan_capacity(generated_platform(1, 1))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    conn.send((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, before))
    conn.close()


def measured(kind: str, tiers: int, tenants: int, repeats: int) -> tuple[float, float]:
    """(median seconds, peak MiB above the process's start) of one stage, each run in a
    spawned process so the heap and the Pulumi runtime start fresh."""
    ctx = multiprocessing.get_context("spawn")
    seconds, peaks = [], []
    for _ in range(repeats):
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_stage, args=(kind, tiers, tenants, child))
        proc.start()
        secs, peak, before = parent.recv()
        proc.join()
        seconds.append(secs)
        peaks.append(peak - before if kind != "bare" else peak)
    return statistics.median(seconds), max(peaks)


def bare_program(objects: list[dict[str, Any]]) -> Callable[[], None]:
    """Register `objects` with pulumi_kubernetes directly: the baseline."""
    import pulumi_kubernetes as k8s

    def run() -> None:
        for i, obj in enumerate(objects):
            body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
            name = f"o{i}"
            if is_custom_resource(obj):
                k8s.apiextensions.CustomResource(
                    name,
                    api_version=obj["apiVersion"],
                    kind=obj["kind"],
                    metadata=body["metadata"],
                    spec=body.get("spec"),
                )
            else:
                cls = resource_class(obj["apiVersion"], obj["kind"])
                snake = {
                    "".join("_" + c.lower() if c.isupper() else c for c in k): v
                    for k, v in body.items()
                }
                cls(name, **snake)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--tenants-per-tier", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    table = Table(title="offline plan benchmark (median of runs, seconds; peak RSS MiB)")
    for col in (
        "tiers",
        "tenants",
        "resources",
        "k8s objects",
        "validate",
        "plan",
        "bare k8s",
        "plan / bare",
        "per-resource ratio",
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
        config = {"tgi-infra:platform": raw}
        validate_s, validate_mib = measured("validate", tiers, tenants, args.repeats)
        plan_s, plan_mib = measured("plan", tiers, tenants, args.repeats)
        plan = run_offline(program, config, stack="bench")
        objects = plan.kubernetes_objects()
        bare_s, bare_mib = measured("bare", tiers, tenants, args.repeats)
        table.add_row(
            str(tiers),
            str(tenants),
            str(len(plan.resources)),
            str(len(objects)),
            f"{validate_s:.2f}",
            f"{plan_s:.2f}",
            f"{bare_s:.2f}",
            f"{plan_s / bare_s:.2f}",
            f"{(plan_s / len(plan.resources)) / (bare_s / len(objects)):.2f}",
            f"{plan_s / tiers:.3f}",
            f"{validate_mib:.0f}",
            f"{plan_mib:.0f}",
            f"{bare_mib:.0f}",
        )
    Console(width=160).print(table)


if __name__ == "__main__":
    main()

"""The plan benchmark's bare baseline registers the same custom resources as the plan."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import plan_benchmark as bench

from tgi_infra.offline.plan import run_offline
from tgi_infra.program import main as program


def _custom(plan: object) -> Counter[str]:
    """Custom resources by type, without the default providers the SDK adds by itself."""
    return Counter(
        r.type
        for r in plan.resources  # type: ignore[attr-defined]
        if r.custom and not r.name.startswith("default")
    )


def test_bare_registers_every_custom_resource_of_the_plan_and_nothing_else() -> None:
    config = {"tgi-infra:platform": bench.generated_platform(2, 6)}
    plan = run_offline(program, config, stack="bench")
    registered = bench.registered_resources(plan)
    bare = run_offline(bench.bare_program(registered), {}, stack="bare")
    assert _custom(bare) == _custom(plan)
    assert {"random:index/randomPassword:RandomPassword", "aws:eks/nodeGroup:NodeGroup"} <= set(
        _custom(bare)
    )
    assert not [r for r in bare.resources if not r.custom]  # no components in the baseline
    k8s_only = bench.registered_resources(plan, kubernetes_only=True)
    assert {t for t, _, _ in k8s_only} == {t for t in _custom(plan) if t.startswith("kubernetes:")}


def test_generated_platforms_validate_without_errors_at_every_size_the_benchmark_uses() -> None:
    """The warm-up (1 tier, 1 tenant) and the measured sizes are sound stacks."""
    for tiers, tenants in ((1, 1), (2, 6), (10, 100)):
        report = bench.validate_and_plan_capacity(bench.generated_platform(tiers, tenants))
        errors = [p for p in report.problems if p.severity == "error"]
        assert not errors, (tiers, tenants, errors)

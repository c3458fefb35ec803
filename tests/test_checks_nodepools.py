"""Node pools against their tiers: capacity, shards, taints and selectors, labels,
packing, sizes, Spot, disk, and the cost arithmetic."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT, small_platform, small_raw, stack_config
from tgi_infra import naming
from tgi_infra.checks import nodepools as c
from tgi_infra.checks import validate_platform
from tgi_infra.checks.cost import (
    HOURS_PER_MONTH,
    format_pool_cost,
    nodes_needed,
    pool_cost,
    tier_cost,
)
from tgi_infra.checks.pools import resolve_pools
from tgi_infra.config.loader import load_stack, parse_platform
from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests import nodepools as b
from tgi_infra.manifests import serving
from tgi_infra.problems import Problem, errors

OVERSUBSCRIBED = ROOT / "tests" / "data" / "Pulumi.oversubscribed.yaml"


def only(problems: list[Problem], check: str) -> Problem:
    found = [p for p in problems if p.check == check]
    assert len(found) == 1, [str(p) for p in problems]
    return found[0]


def platform(pool: dict[str, Any] | None = None, **tier: Any) -> PlatformConfig:
    raw = small_raw()
    raw["nodePools"][0].update(pool or {})
    raw["tiers"][0].update(tier)
    return parse_platform(raw)


# --- the three failures the issue names ------------------------------------------------


def test_oversubscribed_stack_fails_with_the_numbers() -> None:
    report = validate_platform(load_stack(Path(OVERSUBSCRIBED)))
    assert not report.ok
    by_path = {p.path: str(p) for p in errors(report.problems) if p.check == "pool-capacity"}
    assert "need 16 GPUs (large 4×4)" in by_path["nodePools[h100].maxSize"]
    assert "offers 8" in by_path["nodePools[h100].maxSize"]
    assert "gpuLimit to 16" in by_path["nodePools[h100].maxSize"]
    assert "need 6 GPUs (chat 6×1)" in by_path["nodePools[l40s].maxSize"]
    assert "offers 4 (4 nodes × 1 L40S)" in by_path["nodePools[l40s].maxSize"]


def test_shard_count_larger_than_a_node_fails_validation() -> None:
    report = validate_platform(small_platform(numShard=2))  # g6e.xlarge: one L40S
    problem = only(report.problems, "shards-fit-node")
    assert problem.severity == "error"
    assert problem.path == "tiers[chat].numShard"
    assert "2 shards" in problem.message and "1 L40S per node" in problem.message


def deployment(cfg: PlatformConfig, **ctx: Any) -> dict[str, Any]:
    tier, pool = cfg.tiers[0], cfg.node_pools[0]
    selector, tolerations = b.tier_scheduling(pool)
    base: dict[str, Any] = {
        "tier": tier,
        "namespace": "tgi",
        "pool": pool,
        "weight_bytes": 16 * 2**30,
        "cache_claim": naming.cache_name(tier),
        "node_selector": selector,
        "tolerations": tuple(tolerations),
    }
    base.update(ctx)
    return serving.deployment(serving.TierContext(**base))


def test_rendered_tier_deployment_schedules_on_its_pool() -> None:
    cfg = small_platform()
    assert c.check_tier_scheduling(cfg, {"chat": deployment(cfg)}) == []


def test_taint_mismatch_fails() -> None:
    cfg = small_platform()
    dep = deployment(cfg, tolerations=({"key": "dedicated", "operator": "Exists"},))
    problem = only(c.check_tier_scheduling(cfg, {"chat": dep}), "tier-tolerates-pool")
    assert problem.severity == "error"
    assert problem.path == "tiers[chat]"
    assert "nvidia.com/gpu=true:NoSchedule" in problem.message
    assert "dedicated:*" in problem.message
    assert "operator: Exists" in problem.fix


def test_selector_mismatch_fails() -> None:
    cfg = small_platform()
    dep = deployment(cfg, node_selector={naming.POOL_LABEL: "h100"})
    problem = only(c.check_tier_scheduling(cfg, {"chat": dep}), "tier-selector-matches-pool")
    assert f"{naming.POOL_LABEL}=h100" in problem.message
    assert f"{naming.POOL_LABEL}=l40s" in problem.message


def test_gpus_must_match_shards() -> None:
    cfg = platform({"instanceTypes": ["g6e.12xlarge"]}, numShard=2)
    dep = copy.deepcopy(deployment(cfg))
    container = dep["spec"]["template"]["spec"]["containers"][0]
    container["resources"]["limits"][naming.GPU_RESOURCE] = "1"
    container["resources"]["requests"][naming.GPU_RESOURCE] = "1"
    problem = only(c.check_tier_scheduling(cfg, {"chat": dep}), "tier-gpus-match-shards")
    assert "2 shard(s)" in problem.message and "requests 1" in problem.message


def test_affinity_is_evaluated_against_the_pool() -> None:
    cfg = small_platform()

    def with_affinity(key: str, op: str, values: list[str]) -> dict[str, Any]:
        term = {"matchExpressions": [{"key": key, "operator": op, "values": values}]}
        return {
            "nodeSelector": {naming.POOL_LABEL: "l40s"},
            "tolerations": b.tier_scheduling(cfg.node_pools[0])[1],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
                }
            },
            "containers": [{"resources": {"limits": {naming.GPU_RESOURCE: "1"}}}],
        }

    zone = with_affinity("topology.kubernetes.io/zone", "In", ["us-east-1a"])
    assert c.check_tier_scheduling(cfg, {"chat": zone}) == []
    wrong = with_affinity("node.kubernetes.io/instance-type", "In", ["p5.48xlarge"])
    only(c.check_tier_scheduling(cfg, {"chat": wrong}), "tier-selector-matches-pool")


@pytest.mark.parametrize(
    ("toleration", "expected"),
    [
        ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, True),
        ({"key": "nvidia.com/gpu", "operator": "Exists"}, True),
        ({"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}, True),
        ({"key": "nvidia.com/gpu", "value": "false", "effect": "NoSchedule"}, False),
        ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}, False),
        ({"operator": "Exists"}, True),
        ({"key": "other", "operator": "Exists"}, False),
    ],
)
def test_toleration_semantics(toleration: dict[str, str], expected: bool) -> None:
    assert c.tolerates(toleration, b.gpu_taint()) is expected


# --- labels ---------------------------------------------------------------------------


def test_pool_labels() -> None:
    cfg = platform(
        {
            "labels": {
                naming.POOL_LABEL: "other",
                "karpenter.sh/capacity-type": "spot",
                "node-role.kubernetes.io/gpu": "",
                "node.kubernetes.io/lifecycle": "normal",
                "example.com/team": "search",
                "example.com/bad": "not ok",
            }
        }
    )
    problems = {p.path: p for p in c.check_pool_labels(cfg)}
    assert problems[f"nodePools[l40s].labels[{naming.POOL_LABEL}]"].check == "pool-labels-reserved"
    assert "tgi-infra/pool=l40s" in problems[f"nodePools[l40s].labels[{naming.POOL_LABEL}]"].message
    assert problems["nodePools[l40s].labels[karpenter.sh/capacity-type]"].check == (
        "pool-labels-restricted"
    )
    assert problems["nodePools[l40s].labels[node-role.kubernetes.io/gpu]"].check == (
        "pool-labels-restricted"
    )
    assert problems["nodePools[l40s].labels[example.com/bad]"].check == "pool-labels-syntax"
    assert "nodePools[l40s].labels[example.com/team]" not in problems
    assert "nodePools[l40s].labels[node.kubernetes.io/lifecycle]" not in problems


# --- packing, sizes, Spot, disk, operator ----------------------------------------------


def test_packing_three_shards_on_four_gpu_nodes() -> None:
    cfg = platform(
        {"instanceTypes": ["g6e.12xlarge"], "maxSize": 3}, numShard=3, replicas={"min": 1, "max": 4}
    )
    pools, _ = resolve_pools(cfg)
    problem = only(c.check_pool_packing(cfg, pools), "pool-packing")
    assert problem.path == "nodePools[l40s].maxSize"
    assert "need 4 nodes of 4 L40S" in problem.message
    assert "12 GPUs do not pack into 3 nodes" in problem.message
    assert "raise maxSize to 4" in problem.fix


def test_karpenter_sizes() -> None:
    cfg = platform(
        {
            "provisioner": "karpenter",
            "instanceTypes": ["p5.48xlarge"],
            "minSize": 1,
            "maxSize": 2,
            "gpuLimit": 4,
        },
        replicas={"min": 0, "max": 1},
    )
    pools, _ = resolve_pools(cfg)
    problems = c.check_pool_sizes(cfg, pools)
    assert only(problems, "karpenter-min-size").severity == "warning"
    limit = only(problems, "karpenter-gpu-limit")
    assert "4 is below the 8 GPUs of one p5.48xlarge" in limit.message


def test_managed_min_size_below_min_replicas_warns() -> None:
    cfg = platform({"minSize": 0, "maxSize": 4}, replicas={"min": 2, "max": 4})
    pools, _ = resolve_pools(cfg)
    problem = only(c.check_pool_sizes(cfg, pools), "pool-min-covers-replicas")
    assert problem.severity == "warning"
    assert "starts with 0 node(s)" in problem.message and "need 2" in problem.message
    assert "raise minSize to 2" in problem.fix


def test_spot_single_replica_warns() -> None:
    cfg = platform({"capacityType": "SPOT"}, replicas={"min": 1, "max": 2})
    assert only(c.check_spot_tiers(cfg), "spot-single-replica").severity == "warning"
    assert (
        c.check_spot_tiers(platform({"capacityType": "SPOT"}, replicas={"min": 2, "max": 2})) == []
    )


def test_disk_holds_images_and_node_local_weights() -> None:
    cfg = platform({"diskSizeGib": 50})
    assert c.check_pool_disk(cfg) == []  # 20 system + 2 × 12 image
    problem = only(c.check_pool_disk(cfg, {"chat": 16 * 2**30}), "pool-disk-size")
    assert "50 GiB root volume is below the 60 GiB" in problem.message
    assert "16 GiB of weights" in problem.message
    assert "at least 60" in problem.fix


def test_gpu_operator_with_bottlerocket_warns() -> None:
    raw = small_raw()
    raw["cluster"]["gpuOperatorInstalled"] = True
    raw["nodePools"][0]["amiType"] = "BOTTLEROCKET_x86_64_NVIDIA"
    assert only(c.check_gpu_operator(parse_platform(raw)), "gpu-operator-bottlerocket")


def test_real_stacks_pass_the_pool_checks(stack_name: str) -> None:
    cfg = stack_config(stack_name)
    pools, problems = resolve_pools(cfg)
    assert not problems
    assert errors(c.check_node_pools(cfg, pools)) == []


# --- cost -----------------------------------------------------------------------------


def test_nodes_needed_first_fit() -> None:
    assert nodes_needed(4, [3, 3, 3, 3]) == 4
    assert nodes_needed(4, [2, 2, 2, 1, 1]) == 2
    assert nodes_needed(8, []) == 0
    assert nodes_needed(1, [2]) is None


def test_prod_pool_and_tier_cost() -> None:
    cfg = stack_config("prod")
    pools, _ = resolve_pools(cfg)
    l40s = pool_cost(pools["l40s"], [cfg.tier("chat")])
    assert (l40s.nodes_min, l40s.nodes_max) == (3, 12)
    assert l40s.hourly_min == pytest.approx(3 * 1.861)
    assert l40s.monthly_max == pytest.approx(12 * 1.861 * HOURS_PER_MONTH)
    assert format_pool_cost(l40s) == (
        "l40s: 3–12 × g6e.xlarge, $5.58–$22.33/h, $4,076–$16,302/month"
    )
    # Karpenter keeps only the nodes pods need: one p5 for one 4-shard replica.
    h100 = pool_cost(pools["h100"], [cfg.tier("large")])
    assert (h100.nodes_min, h100.nodes_max) == (1, 2)
    assert h100.price_estimated
    # Two 4-shard replicas share a p5.48xlarge: each pays half.
    large = tier_cost(cfg.tier("large"), pools["h100"])
    assert large.hourly_per_replica == pytest.approx(55.04 / 2)
    assert large.monthly_max == pytest.approx(4 * 55.04 / 2 * HOURS_PER_MONTH)

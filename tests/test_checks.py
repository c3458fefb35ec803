"""Preview-time checks: references, TGI's launcher rules, memory, pools — on whole stacks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import small_raw, stack_config
from tgi_infra.checks import StackReport, validate_platform
from tgi_infra.config.loader import parse_platform
from tgi_infra.problems import Problem, errors


def report_for(raw: dict[str, Any]) -> StackReport:
    return validate_platform(parse_platform(raw))


def tier_raw(**changes: Any) -> dict[str, Any]:
    raw = small_raw()
    raw["tiers"][0].update(changes)
    return raw


def by_check(problems: list[Problem], check: str) -> list[Problem]:
    return [p for p in problems if p.check == check]


def only_error(raw: dict[str, Any], check: str) -> Problem:
    report = report_for(raw)
    found = by_check(errors(report.problems), check)
    assert len(found) == 1, [str(p) for p in report.problems]
    return found[0]


def test_shipped_stacks_are_sound(stack_name: str) -> None:
    report = validate_platform(stack_config(stack_name))
    assert report.ok, [str(p) for p in errors(report.problems)]
    assert set(report.tiers) == {t.name for t in report.config.tiers}


def test_small_platform_is_sound() -> None:
    assert report_for(small_raw()).ok


def test_oversized_max_input_tokens_names_path_value_and_fix() -> None:
    problem = only_error(tier_raw(maxInputTokens=9000, maxTotalTokens=8192), "input-below-total")
    assert problem.path == "tiers[chat].maxInputTokens"
    assert "9000" in problem.message and "8192" in problem.message
    assert "lower maxInputTokens to at most 8191" in problem.fix


def test_prefill_must_cover_input_unless_tgi_chunks() -> None:
    problem = only_error(
        tier_raw(maxBatchPrefillTokens=2048, imageVersion="2.4.1"), "prefill-covers-input"
    )
    assert problem.path == "tiers[chat].maxBatchPrefillTokens"
    assert "at least 4096" in problem.fix
    (warning,) = by_check(
        report_for(tier_raw(maxBatchPrefillTokens=2048)).problems, "prefill-covers-input"
    )
    assert warning.severity == "warning"


def test_dtype_with_quantize_is_refused_except_bitsandbytes() -> None:
    only_error(tier_raw(dtype="float16", quantize="awq"), "dtype-with-quantize")
    ok = report_for(tier_raw(dtype="float16", quantize="bitsandbytes"))
    assert not by_check(ok.problems, "dtype-with-quantize")


def test_exl2_cannot_shard() -> None:
    raw = tier_raw(quantize="exl2", numShard=2)
    raw["nodePools"][0]["instanceTypes"] = ["g6e.12xlarge"]
    only_error(raw, "exl2-single-shard")


def test_max_total_beyond_context_length() -> None:
    problem = only_error(tier_raw(maxInputTokens=4096, maxTotalTokens=200_000), "context-length")
    assert "131072" in problem.message


def test_kv_cache_that_does_not_fit_the_gpu() -> None:
    raw = tier_raw(maxInputTokens=8000, maxTotalTokens=100_000, maxBatchPrefillTokens=8192)
    raw["nodePools"][0]["instanceTypes"] = ["g6.xlarge"]  # L4: 8B weights leave ~4 GiB of KV
    report = report_for(raw)
    problem = by_check(errors(report.problems), "total-within-kv")[0]
    assert problem.path == "tiers[chat].maxTotalTokens"
    assert "L4" in problem.message
    limit = report.tiers["chat"].memory.max_batch_total_tokens
    assert f"at most {limit}" in problem.fix


def test_model_that_does_not_fit_at_all() -> None:
    raw = small_raw()
    raw["nodePools"][0]["instanceTypes"] = ["g6.xlarge"]
    raw["tiers"][0].update(modelId="meta-llama/Llama-3.3-70B-Instruct")
    problem = only_error(raw, "weights-fit")
    assert "GiB" in problem.message and "shards" in problem.fix


def test_shards_must_fit_one_node_and_divide_heads() -> None:
    only_error(tier_raw(numShard=2), "shards-fit-node")  # g6e.xlarge has one GPU
    raw = tier_raw(numShard=3)
    raw["nodePools"][0]["instanceTypes"] = ["g6e.12xlarge"]
    only_error(raw, "shards-divide-heads")


def test_few_full_length_requests_is_a_warning_with_a_better_limit() -> None:
    raw = tier_raw(maxInputTokens=30_000, maxTotalTokens=32_000, maxBatchPrefillTokens=30_000)
    raw["capacity"] = {"minFullLengthRequests": 16}
    report = report_for(raw)
    (warning,) = by_check(report.problems, "kv-holds-requests")
    assert warning.severity == "warning"
    assert "to hold 16" in warning.fix
    assert report.ok


def test_references_are_checked_all_at_once() -> None:
    raw = small_raw()
    raw["tiers"][0]["nodePool"] = "h100"
    raw["tenants"][0]["tiers"] = ["chat", "embed"]
    raw["tiers"].append(dict(raw["tiers"][0]))
    report = report_for(raw)
    checks = {p.check for p in errors(report.problems)}
    assert {"pool-exists", "tenant-tier-exists", "unique-names", "unique-model-name"} <= checks
    pool = by_check(report.problems, "pool-exists")[0]
    assert "use one of ['l40s']" in pool.fix


def test_unpinned_revision_is_an_error_in_prod_only() -> None:
    dev = report_for(tier_raw(revision="main"))
    assert by_check(dev.problems, "revision-pinned")[0].severity == "warning"
    prod = small_raw(environment="prod")
    prod["tiers"][0]["revision"] = "main"
    assert by_check(errors(report_for(prod).problems), "revision-pinned")


def test_unknown_model_without_spec_is_a_problem_not_a_crash() -> None:
    problem = only_error(tier_raw(modelId="acme/private-model"), "model-facts")
    assert "modelSpec" in problem.fix


def test_model_spec_describes_a_private_model() -> None:
    spec = {
        "numLayers": 32,
        "hiddenSize": 4096,
        "numAttentionHeads": 32,
        "numKvHeads": 8,
        "vocabSize": 128256,
        "maxPositionEmbeddings": 131072,
        "weightBytes": 16_060_522_496,
    }
    report = report_for(tier_raw(modelId="acme/private-model", modelSpec=spec))
    assert report.ok
    assert report.tiers["chat"].facts.source == "modelSpec"


def test_remote_code_models_name_the_tiers_engine() -> None:
    from dataclasses import replace

    from tgi_infra.checks import check_model_facts

    cfg = report_for(tier_raw(engine="vllm")).config
    facts = replace(report_for(tier_raw()).tiers["chat"].facts, trust_remote_code=True)
    (problem,) = [
        p for p in check_model_facts(cfg, cfg.tiers[0], facts) if p.check == "trust-remote-code"
    ]
    assert "vLLM refuses to load it unless trustRemoteCode is set" in problem.message


def test_remote_code_needs_opt_in_and_a_pinned_revision() -> None:
    report = report_for(tier_raw(trustRemoteCode=True, revision="main"))
    (problem,) = by_check(errors(report.problems), "trust-remote-code")
    assert "pin the revision" in problem.fix


@pytest.mark.parametrize(
    ("pool", "check"),
    [
        ({"instanceTypes": ["g6e.xlarge", "g6.xlarge"]}, "pool-single-gpu-model"),
        ({"instanceTypes": ["m5.large"]}, "instance-type-known"),
        ({"minSize": 5, "maxSize": 4}, "pool-size-order"),
    ],
)
def test_pool_problems(pool: dict[str, Any], check: str) -> None:
    raw = small_raw()
    raw["nodePools"][0].update(pool)
    assert by_check(errors(report_for(raw).problems), check)


def test_over_subscribed_pool_names_the_numbers() -> None:
    problem = only_error(tier_raw(replicas={"min": 1, "max": 6}), "pool-capacity")
    assert "need 6 GPUs" in problem.message and "offers 4" in problem.message
    assert "raise maxSize to 6" in problem.fix


def test_default_requests_fit_the_node_and_explicit_ones_are_checked() -> None:
    from tgi_infra.capacity.catalog import instance_type
    from tgi_infra.capacity.node_fit import allocatable, cpu_millis, memory_bytes
    from tgi_infra.manifests.platform import tier_context

    cfg = parse_platform(small_raw())
    ctx = tier_context(cfg, cfg.tiers[0], 16 * 2**30)
    cpu_free, memory_free = allocatable(instance_type("g6e.xlarge"))
    assert 0 < cpu_millis(ctx.tier.cpu_request or "") <= cpu_free
    assert 0 < memory_bytes(ctx.tier.memory_request or "") <= memory_free
    problem = only_error(tier_raw(cpuRequest="4"), "requests-fit-node")
    assert "per g6e.xlarge node" in problem.message
    assert "lower it to at most" in problem.fix
    report = report_for(tier_raw(cpuRequest="4", memoryRequest="32Gi"))
    assert {p.path for p in by_check(report.problems, "requests-fit-node")} == {
        "tiers[chat].cpuRequest",
        "tiers[chat].memoryRequest",
    }


def test_read_write_once_cache_cannot_serve_replicas_on_several_nodes() -> None:
    raw = small_raw(cache={"accessMode": "ReadWriteOnce"})
    problem = only_error(raw, "cache-access-mode")
    assert problem.path == "tiers[chat].replicas.max"
    raw["tiers"][0]["replicas"] = {"min": 1, "max": 1}
    assert report_for(raw).ok
    raw["cache"]["mode"] = "shared"
    assert only_error(raw, "cache-access-mode").path == "cache.accessMode"


def test_list_entries_are_unique() -> None:
    raw = small_raw()
    raw["tenants"][0]["tiers"] = ["chat", "chat"]
    raw["nodePools"][0]["instanceTypes"] = ["g6e.xlarge"] * 300
    found = by_check(errors(report_for(raw).problems), "unique-items")
    assert {p.path for p in found} == {"tenants[team-a].tiers", "nodePools[l40s].instanceTypes"}
    assert all("'chat'" in p.message or "'g6e.xlarge'" in p.message for p in found)


def test_a_pool_message_lists_ten_tiers_and_counts_the_rest() -> None:
    raw = small_raw()
    tier = raw["tiers"][0]
    raw["tiers"] = [
        {**tier, "name": f"t{i}", "servedModelName": f"m{i}", "replicas": {"min": 1, "max": 2}}
        for i in range(40)
    ]
    raw["tenants"][0]["tiers"] = ["t0"]
    found = by_check(errors(report_for(raw).problems), "pool-capacity")
    [problem] = [p for p in found if "at max replicas" in p.message]
    assert "need 80 GPUs (t0 2×1 + " in problem.message
    assert "t9 2×1 + ... 30 more)" in problem.message and "t10 " not in problem.message
    assert len(problem.message) < 400

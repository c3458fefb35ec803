"""`tgi-infra size`: options that meet an SLA, ranked by cost, with a config to paste."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.support import small_raw
from tgi_infra.capacity.catalog import gpu
from tgi_infra.capacity.model_facts import catalog_facts
from tgi_infra.capacity.performance import best_under_slo
from tgi_infra.capacity.planning import tier_replica
from tgi_infra.capacity.sizing import Targets, cheapest_instance, size, splits, tier_snippet
from tgi_infra.checks import validate_platform
from tgi_infra.cli import main
from tgi_infra.config.loader import parse_platform

LLAMA_8B = catalog_facts("meta-llama/Llama-3.1-8B-Instruct")
LLAMA_70B = catalog_facts("meta-llama/Llama-3.3-70B-Instruct")
ARGS = ["size", "meta-llama/Llama-3.1-8B-Instruct", "--isl", "1024", "--osl", "256"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out + err


def test_json_ranks_options_by_cost_with_per_million_token_prices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run([*ARGS, "--rps", "20", "--tpot-ms", "50", "--json"], capsys)
    assert code == 0, out
    doc = json.loads(out)
    options = doc["options"]
    assert options and doc["spot_is_estimate"] is True
    costs = [o["usd_per_hour"] for o in options]
    assert costs == sorted(costs)
    for o in options:
        assert o["per_replica"]["tpot_ms"] <= 50
        assert o["replicas"] * o["per_replica"]["requests_per_s"] >= 20
        tokens_per_hour = 20 * (1024 + 256) * 3600
        assert o["usd_per_million_tokens"] == pytest.approx(
            o["usd_per_hour"] / tokens_per_hour * 1e6
        )
        assert o["spot_usd_per_hour"] == pytest.approx(0.5 * o["usd_per_hour"])
        assert o["usd_per_month"] == pytest.approx(730 * o["usd_per_hour"], abs=0.01)
    assert {o["engine"] for o in options} == {"tgi", "vllm", "sglang"}
    assert all(r["reason"] for r in doc["rejected"])


def test_the_printed_config_is_a_valid_stack_that_meets_its_own_slo(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run([*ARGS, "--rps", "8", "--ttft-ms", "1500", "--tpot-ms", "60"], capsys)
    assert code == 0, out
    assert "$/M tok" in out and "spot $/hour" in out
    snippet = yaml.safe_load(out.split("(tgi-infra:platform):", 1)[1])
    report = validate_platform(parse_platform(pasted(snippet)))
    assert not [p for p in report.problems if p.check.startswith("slo-") and p.severity == "error"]


def pasted(snippet: dict) -> dict:
    """A small stack with the snippet's pool and tier pasted in, as a user would."""
    raw = small_raw()
    raw["nodePools"] = snippet["nodePools"]
    raw["tiers"] = [{**snippet["tiers"][0], "revision": "0e9e39f249a16976918f6564b8830bc894c89659"}]
    raw["tenants"][0]["tiers"] = [snippet["tiers"][0]["name"]]
    return raw


@pytest.mark.parametrize(
    ("engine", "card", "targets"),
    [
        ("tgi", "L40S", Targets(1024, 256, 8.0, ttft_ms=1500, tpot_ms=60)),
        ("vllm", "H100-80GB", Targets(2048, 512, 20.0, tpot_ms=50)),
        ("sglang", "A10G", Targets(512, 128, 3.0)),
        ("vllm", "L4", Targets(700, 300, 2.0)),  # held out: not looked at while writing
    ],
)
def test_a_pasted_snippet_plans_what_size_assumed(engine: str, card: str, targets: Targets) -> None:
    """Every setting sizing assumed is in the snippet: validate plans the pasted tier with the
    same KV capacity and per-replica performance, and the pool starts with its nodes."""
    options, _ = size(LLAMA_8B, targets, engines=[engine], gpus=[gpu(card)])
    assert options, (engine, card)
    option = options[0]
    snippet = tier_snippet(LLAMA_8B.model_id, option, targets)
    report = validate_platform(parse_platform(pasted(snippet)))
    cap = report.tiers[snippet["tiers"][0]["name"]]
    assert cap.memory.max_batch_total_tokens == option.kv_cache_tokens
    planned = best_under_slo(
        cap.facts,
        cap.gpu,
        tier_replica(cap),
        targets.isl,
        targets.osl,
        ttft_ms=targets.ttft_ms,
        tpot_ms=targets.tpot_ms,
    )
    assert planned == option.per_replica
    assert not [p for p in report.problems if p.check.startswith(("pool-", "karpenter-"))]
    assert not [p for p in report.problems if p.severity == "error"], report.problems


def test_fewer_gpus_and_engines_narrow_the_options() -> None:
    targets = Targets(1024, 256, 10.0, tpot_ms=50)
    options, _ = size(LLAMA_8B, targets, engines=["vllm"], gpus=[gpu("H100-80GB")])
    assert {(o.engine, o.gpu) for o in options} == {("vllm", "H100-80GB")}
    assert all(o.instance_type == "p5.48xlarge" for o in options)


def test_no_option_needs_more_replicas_than_a_tier_may_have() -> None:
    # found probing `size --rps 100000`: it offered replicas.max 4301, which validate refuses
    from tgi_infra.config.models import MAX_REPLICAS

    cards = [gpu("T4"), gpu("L40S"), gpu("H100-80GB")]
    options, rejected = size(LLAMA_8B, Targets(512, 1, 100_000.0), engines=["vllm"], gpus=cards)
    assert all(o.replicas <= MAX_REPLICAS for o in options)
    assert any("above the 500 a tier may have" in r.reason for r in rejected)


def test_a_70b_model_needs_tensor_parallel_on_80gb_cards() -> None:
    options, rejected = size(
        LLAMA_70B, Targets(1024, 256, 2.0), engines=["vllm"], gpus=[gpu("H100-80GB")]
    )
    assert min(o.tensor_parallel for o in options) == 2
    assert any(r.tensor_parallel == 1 and "KV cache" in r.reason for r in rejected)


def test_splits_need_heads_that_divide() -> None:
    assert splits(LLAMA_8B) == [1, 2, 4, 8]
    qwen = catalog_facts("Qwen/Qwen2.5-7B-Instruct")  # 28 heads, 4 KV heads
    assert splits(qwen) == [1, 2, 4]


def test_replicas_pack_onto_the_cheapest_instance() -> None:
    it, nodes = cheapest_instance(gpu("L40S"), 1, 3)
    assert (it.name, nodes) == ("g6e.xlarge", 3)
    it, nodes = cheapest_instance(gpu("L40S"), 4, 2)
    assert it.gpu_count >= 4 and nodes * (it.gpu_count // 4) >= 2


def test_snippet_names_are_dns_labels() -> None:
    options, _ = size(LLAMA_8B, Targets(512, 128, 1.0), engines=["tgi"], gpus=[gpu("L4")])
    snippet = tier_snippet("meta-llama/Llama-3.1-8B-Instruct", options[0], Targets(512, 128, 1.0))
    assert snippet["tiers"][0]["name"] == "llama-3-1-8b-instruct"
    assert snippet["nodePools"][0]["name"] == "l4-x1"


def test_no_option_exits_1_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run([*ARGS, "--rps", "1", "--tpot-ms", "0.5", "--gpus", "L4"], capsys)
    assert code == 1
    assert "no option meets" in out and "latency targets" in out


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        (["--rps", "0"], "--rps 0.0: must be above 0"),
        (["--rps", "1", "--gpus", "H1000"], "--gpus: unknown GPU 'H1000'"),
        (["--rps", "1", "--gpus", "RTX-4090"], "no AWS instance type"),
        (["--rps", "1", "--engines", "trt"], "--engines 'trt'"),
        (["--rps", "1", "--spot-ratio", "2"], "--spot-ratio 2.0"),
        (["--rps", "1", "--tpot-ms", "-3"], "--tpot-ms -3.0"),
    ],
)
def test_bad_input_exits_2_with_the_flag(
    extra: list[str], text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run([*ARGS, *extra], capsys)
    assert code == 2, out
    assert text in out and "Traceback" not in out


def test_bad_token_counts_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(
        ["size", "meta-llama/Llama-3.1-8B-Instruct", "--isl", "0", "--osl", "5", "--rps", "1"],
        capsys,
    )
    assert code == 2 and "--isl 0" in out
    code, out = run(["size", "no/such-model-xyz", "--isl", "5", "--osl", "5", "--rps", "1"], capsys)
    assert code == 2 and "MODEL 'no/such-model-xyz'" in out


def test_engines_that_cannot_load_the_checkpoint_are_rejected_not_ranked(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An fbgemm_fp8 export (as meta-llama/Llama-3.1-405B-Instruct-FP8 ships): TGI reads it;
    # vLLM 0.34 only with --allow-deprecated-quantization; SGLang 0.5.23 has no such method
    # on CUDA ("Unknown quantization method").
    from tests.test_model_facts import llama_config, write_safetensors

    config = llama_config(quantization_config={"quant_method": "fbgemm_fp8",
                                               "activation_scale_ub": 1200.0})  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(config))
    write_safetensors(tmp_path / "model.safetensors", {"w": ("BF16", [64, 64])})
    code, out = run(["size", str(tmp_path), "--isl", "512", "--osl", "128", "--rps", "1",
                     "--gpus", "L4", "--json"], capsys)  # fmt: skip
    assert code == 0, out
    doc = json.loads(out)
    assert {o["engine"] for o in doc["options"]} == {"tgi"}
    vllm = [r for r in doc["rejected"] if r["engine"] == "vllm"]
    assert len(vllm) == 1 and "--allow-deprecated-quantization" in vllm[0]["reason"]
    sglang = [r for r in doc["rejected"] if r["engine"] == "sglang"]
    assert len(sglang) == 1 and sglang[0]["gpu"] == "any GPU"
    assert "Unknown quantization method: fbgemm_fp8" in sglang[0]["reason"]
    code, out = run(["size", str(tmp_path), "--isl", "512", "--osl", "128", "--rps", "1",
                     "--gpus", "L4"], capsys)  # fmt: skip
    assert code == 0 and "sglang left out: SGLang: Unknown quantization method" in out


@pytest.mark.parametrize(
    "flags",
    [["--rps", "inf"], ["--rps", "1e308"], ["--rps", "1", "--tpot-ms", "inf"],
     ["--rps", "1", "--ttft-ms", "nan"], ["--rps", "1", "--gpus", ",,,"]],
)  # fmt: skip
def test_unbounded_targets_and_empty_gpu_lists_are_usage_errors(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run([*ARGS, *flags], capsys)
    assert code == 2 and flags[-2] in out and "internal error" not in out


def test_an_engine_that_cannot_run_the_checkpoint_on_a_gpu_is_left_out_there(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A 4-bit GPTQ checkpoint: SGLang converts it to gptq_marlin on an L4 (sm 8.9), but on a
    # T4 (sm 7.5) Marlin cannot run and plain gptq has no CUDA kernel.
    gptq = {"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True,
            "desc_act": False}  # fmt: skip
    code, out = _size_quantized(tmp_path, gptq, "sglang", capsys)
    assert code == 0, out
    doc = json.loads(out)
    assert {o["gpu"] for o in doc["options"]} == {"L4"}
    t4 = [r for r in doc["rejected"] if r["gpu"] == "T4"]
    assert t4 and all("Unknown quantization method: gptq" in r["reason"] for r in t4)


def test_tgi_drops_its_t4_options_for_an_awq_checkpoint(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    # TGI runs AWQ on the llm-awq GEMM, built for compute 8.0+; vLLM's AWQ runs from 7.5.
    awq = {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True,
           "version": "gemm"}  # fmt: skip
    code, out = _size_quantized(tmp_path, awq, "tgi,vllm", capsys)
    assert code == 0, out
    doc = json.loads(out)
    assert ("tgi", "T4") not in {(o["engine"], o["gpu"]) for o in doc["options"]}
    assert {("tgi", "L4"), ("vllm", "T4")} <= {(o["engine"], o["gpu"]) for o in doc["options"]}
    tgi_t4 = [r for r in doc["rejected"] if (r["engine"], r["gpu"]) == ("tgi", "T4")]
    assert tgi_t4 and all("no kernel image is available" in r["reason"] for r in tgi_t4)


def _size_quantized(
    folder: Path, quantization: dict, engines: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """`size --json` on T4 and L4 for a local Llama checkpoint with this quantization_config."""
    from tests.test_model_facts import llama_config, write_safetensors

    config = llama_config(quantization_config=quantization)
    (folder / "config.json").write_text(json.dumps(config))
    write_safetensors(folder / "model.safetensors", {"qweight": ("I32", [64, 64])})
    return run(["size", str(folder), "--isl", "512", "--osl", "128", "--rps", "1",
                "--gpus", "T4,L4", "--engines", engines, "--json"], capsys)  # fmt: skip

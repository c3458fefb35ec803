"""vLLM's and SGLang's startup rules, worded as the engines word them, on model facts."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support import small_platform
from tgi_infra.capacity.catalog import gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.checks.inputs import check_tier_inputs
from tgi_infra.checks.launcher import check_tier_capacity, plan_tier
from tgi_infra.engines.approx_memory import is_approximate
from tgi_infra.engines.sglang.rules import derived_context_length
from tgi_infra.engines.vllm.rules import derived_max_model_len

LLAMA_8B = ModelFacts(
    model_id="meta-llama/Llama-3.1-8B-Instruct",
    source="modelSpec",
    architecture="LlamaForCausalLM",
    num_layers=32,
    hidden_size=4096,
    num_attention_heads=32,
    num_kv_heads=8,
    head_dim=128,
    vocab_size=128256,
    max_position_embeddings=131072,
    weight_bytes=16_060_522_496,
    rope_scaling_type="llama3",
    rope_scaling_factor=8.0,
)


def capacity_checks(engine: str, facts: ModelFacts = LLAMA_8B, card: str = "L40S",
                    gpus: int = 4, **tier: Any) -> dict[str, Any]:  # fmt: skip
    t = small_platform(engine=engine, **tier).tiers[0]
    cap = plan_tier(t, facts, gpu(card), gpus)
    return {p.check: p for p in check_tier_capacity(cap, min_full_length_requests=1)}


def checkpoint_checks(engine: str, facts: ModelFacts = LLAMA_8B, **tier: Any) -> dict[str, Any]:
    """The checks `validate` runs on a tier against its checkpoint, no GPU involved."""
    t = small_platform(engine=engine, **tier).tiers[0]
    cache = small_platform(engine=engine, **tier).cache
    return {p.check: p for p in check_tier_inputs(t, facts, cache)}


@pytest.mark.parametrize(
    ("rope", "factor", "vllm", "sglang"),
    [
        ("llama3", 8.0, 131072, 131072),  # already scaled in max_position_embeddings
        ("linear", 4.0, 524288, 524288),  # both multiply
        ("dynamic", 2.0, 262144, 262144),
        ("yarn", 4.0, 131072, 524288),  # vLLM: yarn already scaled; SGLang multiplies
        (None, None, 131072, 131072),
    ],
)
def test_derived_context_length(rope: str | None, factor: float | None, vllm: int,
                                sglang: int) -> None:  # fmt: skip
    facts = dataclasses.replace(LLAMA_8B, rope_scaling_type=rope, rope_scaling_factor=factor)
    assert derived_max_model_len(facts) == vllm
    assert derived_context_length(facts) == sglang


def test_sglang_keeps_length_when_rope_has_original_max() -> None:
    facts = dataclasses.replace(
        LLAMA_8B, rope_scaling_type="yarn", rope_scaling_factor=4.0,
        rope_scaling_has_original_max=True,
    )  # fmt: skip
    assert derived_context_length(facts) == 131072


def test_vllm_max_model_len_above_derived() -> None:
    short = dataclasses.replace(LLAMA_8B, max_position_embeddings=8192, rope_scaling_type=None)
    found = capacity_checks("vllm", short, maxInputTokens=4096, maxTotalTokens=16384)
    p = found["vllm-max-model-len"]
    assert "User-specified max_model_len (16384) is greater than the derived max_model_len" in (
        p.message
    )
    assert "8192" in p.fix
    # Linear rope scaling x2 lifts the limit: no refusal.
    scaled = dataclasses.replace(short, rope_scaling_type="linear", rope_scaling_factor=2.0)
    found = capacity_checks("vllm", scaled, maxInputTokens=4096, maxTotalTokens=16384)
    assert "vllm-max-model-len" not in found


def test_sglang_context_length_above_derived() -> None:
    short = dataclasses.replace(LLAMA_8B, max_position_embeddings=8192, rope_scaling_type=None)
    found = capacity_checks("sglang", short, maxInputTokens=4096, maxTotalTokens=16384)
    assert "User-specified context_length (16384)" in found["sglang-context-length"].message


@pytest.mark.parametrize(
    ("shards", "heads", "kv", "expected"),
    [
        (3, 32, 8, {"vllm-tp-divides-heads", "vllm-tp-kv-heads"}),
        (2, 32, 8, set()),
        (4, 32, 2, set()),  # kv heads replicated: 4 is a multiple of 2
        (4, 28, 4, set()),
        (8, 28, 4, {"vllm-tp-divides-heads"}),  # 8 is a multiple of the 4 KV heads
    ],
)
def test_vllm_tensor_parallel_rules(shards: int, heads: int, kv: int, expected: set) -> None:
    facts = dataclasses.replace(LLAMA_8B, num_attention_heads=heads, num_kv_heads=kv)
    found = set(capacity_checks("vllm", facts, numShard=shards)) & {
        "vllm-tp-divides-heads", "vllm-tp-kv-heads"
    }  # fmt: skip
    assert found == expected


def test_vllm_kv_heads_three_over_two_gpus() -> None:
    facts = dataclasses.replace(LLAMA_8B, num_attention_heads=24, num_kv_heads=3)
    found = capacity_checks("vllm", facts, numShard=2)
    assert "2 is not divisible" not in found["vllm-tp-kv-heads"].message
    assert "3 is not divisible by 2" in found["vllm-tp-kv-heads"].message


@pytest.mark.parametrize(
    ("carried", "wanted", "refused"),
    [
        (None, "awq", True),  # an AWQ flag on a 16-bit checkpoint
        (None, "fp8", False),  # online quantization
        ("awq", "awq_marlin", False),  # vLLM's override of the same format
        ("awq", "gptq", True),
        ("gptq", None, False),
        ("awq", None, False),
        ("auto-round", None, False),  # inc's override
        ("exl2", None, True),  # Unknown quantization method
        ("bitsandbytes", None, True),  # not registered in 0.34
        ("fbgemm_fp8", None, True),  # deprecated: needs --allow-deprecated-quantization
        ("fbgemm_fp8", "fbgemm_fp8", True),
    ],
)
def test_vllm_checkpoint_quantization(carried: str | None, wanted: str | None,
                                      refused: bool) -> None:  # fmt: skip
    facts = dataclasses.replace(LLAMA_8B, checkpoint_quantization=carried)
    found = checkpoint_checks("vllm", facts, quantize=wanted)
    assert ("vllm-checkpoint-quantization" in found) is refused
    if refused and carried and wanted and carried != wanted:
        assert "does not match the quantization method" in found[
            "vllm-checkpoint-quantization"
        ].message


def test_vllm_deprecated_method_starts_when_allowed() -> None:
    fbgemm = dataclasses.replace(LLAMA_8B, checkpoint_quantization="fbgemm_fp8")
    found = checkpoint_checks("vllm", fbgemm)
    assert "To bypass, set `--allow-deprecated-quantization`" in found[
        "vllm-checkpoint-quantization"
    ].message
    allowed = checkpoint_checks("vllm", fbgemm,
                                engineArgs={"allow-deprecated-quantization": True})  # fmt: skip
    assert "vllm-checkpoint-quantization" not in allowed
    unknown = checkpoint_checks("vllm", dataclasses.replace(LLAMA_8B,
                                checkpoint_quantization="exl2"))  # fmt: skip
    assert "Unknown quantization method: exl2" in unknown["vllm-checkpoint-quantization"].message


@pytest.mark.parametrize(("quantize", "severity"), [(None, "error"), ("fp8_per_block", "warning")])
def test_vllm_kv_cache_too_small_for_one_request(quantize: str | None, severity: str) -> None:
    # 8B on a 24 GiB L4 leaves a few GiB: 100k-token requests do not fit. With vLLM's own
    # memory model that is vLLM's refusal; where only the approximation covers the tier (a
    # quantization the model does not know), a warning.
    found = capacity_checks(
        "vllm", card="L4", maxInputTokens=8192, maxTotalTokens=100_000,
        maxBatchPrefillTokens=8192, quantize=quantize,
    )  # fmt: skip
    p = found["vllm-kv-holds-one-request"]
    assert "To serve at least one request with the model's max seq len (100000)" in p.message
    assert p.severity == severity


def test_engine_memory_plans_are_their_own_unless_not_covered() -> None:
    for engine in ("tgi", "vllm", "sglang"):
        t = small_platform(engine=engine).tiers[0]
        mem = plan_tier(t, LLAMA_8B, gpu("L40S"), 1).memory
        assert not is_approximate(mem), engine
    t = small_platform(engine="vllm", quantize="fp8_per_block").tiers[0]
    assert is_approximate(plan_tier(t, LLAMA_8B, gpu("L40S"), 1).memory)


def test_vllm_batched_tokens_rules() -> None:
    from tgi_infra.checks.launcher import check_tier_arguments

    tier = small_platform(
        engine="vllm", maxBatchPrefillTokens=4096, engineArgs={"enable-chunked-prefill": False}
    ).tiers[0]
    checks = {p.check for p in check_tier_arguments(tier)}
    assert "vllm-batched-tokens-cover-model-len" in checks
    tier = small_platform(engine="vllm", maxBatchPrefillTokens=4096).tiers[0]
    assert "vllm-batched-tokens-cover-model-len" not in {
        p.check for p in check_tier_arguments(tier)
    }  # chunked prefill on (vLLM's default)
    tier = small_platform(engine="vllm", maxBatchPrefillTokens=64).tiers[0]
    assert "vllm-batched-tokens-cover-seqs" in {p.check for p in check_tier_arguments(tier)}


def test_sglang_argument_rules() -> None:
    from tgi_infra.checks.launcher import check_tier_arguments

    tier = small_platform(
        engine="sglang", servedModelName="llama:8b",
        engineArgs={"chunked-prefill-size": 1000, "page-size": 64},
    ).tiers[0]  # fmt: skip
    checks = {p.check for p in check_tier_arguments(tier)}
    assert {"sglang-served-model-name", "sglang-chunked-prefill-page-size"} <= checks


def test_weights_that_do_not_fit_refuse_on_every_engine() -> None:
    big = dataclasses.replace(LLAMA_8B, weight_bytes=80 * 2**30, num_layers=80, hidden_size=8192)
    for engine in ("tgi", "vllm", "sglang"):
        found = capacity_checks(engine, big, card="L4")
        assert found["weights-fit"].severity == "error", engine


VLLM_SRC = Path("/work/engine-src/vllm-0.34.0/vllm")


def test_vllm_online_methods_match_the_wheel_when_it_is_here() -> None:
    if not VLLM_SRC.exists():
        pytest.skip(f"{VLLM_SRC} not on this machine (unzip the vllm 0.34.0 wheel there)")
    from tgi_infra.engines.vllm.rules import ONLINE_QUANTIZATION

    text = (VLLM_SRC / "config" / "quantization.py").read_text()
    body = text.split("_ONLINE_SHORTHANDS: dict[str, QuantizationConfigArgs] = {", 1)[1]
    body = body.split("\n}\n", 1)[0]
    shorthands = set(re.findall(r'^    "([a-z0-9_]+)": QuantizationConfigArgs\(', body, re.M))
    assert shorthands and shorthands | {"online"} <= ONLINE_QUANTIZATION
    from tgi_infra.engines.vllm.rules import DEPRECATED_METHODS, REGISTERED_METHODS

    registry = (VLLM_SRC / "model_executor/layers/quantization/__init__.py").read_text()
    literal = registry.split("QuantizationMethods = Literal[", 1)[1].split("]", 1)[0]
    assert set(re.findall(r'^    "([a-z0-9_-]+)",', literal, re.M)) == REGISTERED_METHODS
    deprecated = registry.split("DEPRECATED_QUANTIZATION_METHODS = [", 1)[1].split("]", 1)[0]
    assert set(re.findall(r'"([a-z0-9_-]+)"', deprecated)) == DEPRECATED_METHODS
    model = (VLLM_SRC / "config" / "model.py").read_text()
    assert "Quantization method specified in the model config " in model


@pytest.mark.parametrize(
    ("carried", "wanted", "card", "refused"),
    [
        ("gptq", None, "T4", False),  # auto_gptq runs from 6.0
        ("awq", None, "T4", False),  # auto_awq from 7.5
        (None, "fp8", "T4", False),  # fp8 from 7.5
        ("modelopt", None, "T4", True),  # ModelOptFp8Config: 8.0
        ("mxfp4", None, "T4", True),
        ("modelopt", None, "L4", False),
    ],
)
def test_vllm_quantization_minimum_capability(carried: str | None, wanted: str | None,
                                              card: str, refused: bool) -> None:  # fmt: skip
    facts = dataclasses.replace(LLAMA_8B, checkpoint_quantization=carried)
    found = capacity_checks("vllm", facts, card=card, gpus=1, numShard=1, quantize=wanted,
                            maxInputTokens=1024, maxTotalTokens=2048,
                            maxBatchPrefillTokens=2048)  # fmt: skip
    assert ("vllm-quantization-gpu" in found) is refused
    if refused:
        assert "Minimum capability: 80. Current capability: 75" in found[
            "vllm-quantization-gpu"
        ].message

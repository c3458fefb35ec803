"""vLLM 0.34.0's dtype rules (engines/vllm/dtype.py) against the model type and the GPU."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from tests.test_engine_rules import LLAMA_8B, capacity_checks, checkpoint_checks
from tgi_infra.capacity.catalog import gpu
from tgi_infra.capacity.hf_config import facts_from_config
from tgi_infra.capacity.kv import KvSettings, plan_kv
from tgi_infra.checks.inputs import checkpoint_problems
from tgi_infra.engines.vllm import dtype as rules

VLLM_SRC = Path("/work/engine-src/vllm-0.34.0/vllm")
GEMMA2_CONFIG = {
    "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "hidden_size": 2304,
    "intermediate_size": 9216, "num_attention_heads": 8, "num_hidden_layers": 26,
    "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 256000,
    "max_position_embeddings": 8192, "torch_dtype": "bfloat16",
}  # fmt: skip
GEMMA2 = facts_from_config(GEMMA2_CONFIG, model_id="google/gemma-2-2b-it", source="local",
                           weight_bytes=5_228_683_776)  # fmt: skip
SMALL = {"maxInputTokens": 1024, "maxTotalTokens": 2048}


def test_model_type_is_read_from_config_json_or_the_architecture() -> None:
    assert GEMMA2.model_type == "gemma2"
    catalog_like = dataclasses.replace(GEMMA2, model_type=None)
    assert rules.model_type(catalog_like) == "gemma2"
    assert rules.model_type(LLAMA_8B) is None
    vlm = facts_from_config(
        {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
         "text_config": {**GEMMA2_CONFIG, "model_type": "gemma3_text"}},
        model_id="google/gemma-3-4b-it", source="local", weight_bytes=8 * 2**30,
    )  # fmt: skip
    assert vlm.model_type == "gemma3"  # vLLM reads hf_config.model_type, the top level


@pytest.mark.parametrize(("dtype", "refused"), [
    ("half", True), ("float16", True), ("bfloat16", False), ("float32", False), (None, False),
])  # fmt: skip
def test_float16_refused_on_the_model_types_vllm_names(dtype: str | None, refused: bool) -> None:
    found = checkpoint_checks("vllm", GEMMA2, dtype=dtype, **SMALL)
    assert (rules.CHECK in found) is refused
    if refused:
        problem = found[rules.CHECK]
        assert problem.path.endswith(".dtype") and problem.severity == "error"
        assert "The model type 'gemma2' does not support float16" in problem.message
    assert rules.CHECK not in checkpoint_checks("vllm", LLAMA_8B, dtype=dtype, **SMALL)
    assert rules.CHECK not in checkpoint_checks("sglang", GEMMA2, dtype=dtype, **SMALL)


def test_bfloat16_below_compute_8_is_refused() -> None:
    found = capacity_checks("vllm", LLAMA_8B, "T4", 4, dtype="bfloat16", **SMALL)
    problem = found[rules.GPU_CHECK]
    assert problem.severity == "error"
    assert "Your Tesla T4 GPU has compute capability 7.5" in problem.message
    assert rules.GPU_CHECK not in capacity_checks("vllm", LLAMA_8B, "L4", 4, dtype="bfloat16",
                                                  **SMALL)  # fmt: skip
    assert rules.GPU_CHECK not in capacity_checks("vllm", LLAMA_8B, "T4", 4, dtype="half",
                                                  **SMALL)  # fmt: skip
    assert rules.GPU_CHECK not in capacity_checks("vllm", LLAMA_8B, "T4", 4, **SMALL)


def test_auto_falls_back_to_float32_for_those_models_below_8() -> None:
    (warning,) = checkpoint_problems("vllm", GEMMA2, None, gpu("T4"))
    assert warning.check == rules.GPU_CHECK and warning.severity == "warning"
    assert "float32" in warning.message and "twice" in warning.message
    assert checkpoint_problems("vllm", GEMMA2, None, gpu("A10G")) == []
    float16_stored = dataclasses.replace(GEMMA2, torch_dtype="float16")
    assert checkpoint_problems("vllm", float16_stored, None, gpu("T4")) == []


def test_tables_match_the_wheel_when_it_is_here() -> None:
    if not VLLM_SRC.exists():
        pytest.skip(f"{VLLM_SRC} (the vllm 0.34.0 wheel, unpacked) not on this machine")
    tree = ast.parse((VLLM_SRC / "config" / "model.py").read_text())
    table = next(
        node.value for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", "") == "_FLOAT16_NOT_SUPPORTED_MODELS" for t in node.targets)
    )  # fmt: skip
    assert ast.literal_eval(table) == rules.FLOAT16_NOT_SUPPORTED
    cuda = (VLLM_SRC / "platforms" / "cuda.py").read_text()
    pieces = (
        '"Bfloat16 is only supported on GPUs "',
        '"with compute capability of at least 8.0. "',
        '"You can use float16 instead by explicitly setting the "',
    )
    assert all(piece in cuda for piece in pieces)
    assert "if self.has_device_capability(80):" in cuda  # supported_dtypes: bf16 from 8.0


def test_float32_serving_doubles_weights_and_an_auto_kv_cache() -> None:
    llama_like = dataclasses.replace(GEMMA2, model_type=None, architecture="LlamaForCausalLM")
    t4 = gpu("T4")
    base = plan_kv("vllm", llama_like, t4)
    fallback = plan_kv("vllm", GEMMA2, t4)  # auto -> float32 below 8.0
    assert fallback.weights_bytes_per_shard == 2 * base.weights_bytes_per_shard
    assert fallback.kv_bytes_per_token_per_shard == 2 * base.kv_bytes_per_token_per_shard
    assert any("float32" in note for note in fallback.notes)
    assert plan_kv("vllm", GEMMA2, gpu("L4")).weights_bytes_per_shard == (
        plan_kv("vllm", llama_like, gpu("L4")).weights_bytes_per_shard
    )
    l40s = gpu("L40S")
    explicit = plan_kv("vllm", LLAMA_8B, l40s, KvSettings(dtype="float32"))
    kv16 = plan_kv("vllm", LLAMA_8B, l40s, KvSettings(dtype="float32", kv_cache_dtype="bfloat16"))
    plain = plan_kv("vllm", LLAMA_8B, l40s)
    assert explicit.weights_bytes_per_shard == 2 * plain.weights_bytes_per_shard
    assert explicit.kv_bytes_per_token_per_shard == 2 * plain.kv_bytes_per_token_per_shard
    assert kv16.kv_bytes_per_token_per_shard == plain.kv_bytes_per_token_per_shard
    assert explicit.kv_cache_tokens < plain.kv_cache_tokens


def test_sglang_serves_float16_below_8_whatever_the_flag() -> None:
    float32 = KvSettings(dtype="float32")
    t4, l4 = gpu("T4"), gpu("L4")
    assert plan_kv("sglang", LLAMA_8B, t4, float32).weights_bytes_per_shard == (
        plan_kv("sglang", LLAMA_8B, t4).weights_bytes_per_shard
    )
    assert plan_kv("sglang", LLAMA_8B, l4, float32).weights_bytes_per_shard == (
        2 * plan_kv("sglang", LLAMA_8B, l4).weights_bytes_per_shard
    )

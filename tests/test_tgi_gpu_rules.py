"""TGI's rules that depend on the GPU's compute capability (TGI 3.3.7).

The attention backend the launcher picks (`capacity.memory.resolve_attention`), the prefill
chunking it implies, and the kernel each quantize runs on (`engines/tgi/quantization.py`
`gpu_refusal`). The source lines they mirror are quoted in
tests/fixtures/engines/tgi_gpu_rules.yaml and compared with the TGI mirror when it is here.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.test_engine_rules import LLAMA_8B, capacity_checks
from tests.test_tgi_quantization import facts
from tgi_infra.capacity.catalog import gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.memory import BLOCK_SIZES, plan_memory, resolve_attention
from tgi_infra.checks.inputs import checkpoint_problems
from tgi_infra.config.models import TierConfig
from tgi_infra.engines.tgi import quantization as q

FIXTURE = Path(__file__).parent / "fixtures" / "engines" / "tgi_gpu_rules.yaml"
MIRROR = Path("/work/.mirror/huggingface+text-generation-inference/repo")
GIB = 2**30

FALCON_7B = ModelFacts(
    "tiiuae/falcon-7b", "modelSpec", "FalconForCausalLM", 32, 4544, 71, 1, 64, 65024, 2048,
    14 * GIB, torch_dtype="bfloat16",
)  # fmt: skip
PHI_2 = dataclasses.replace(
    LLAMA_8B, model_id="microsoft/phi-2", architecture="PhiForCausalLM", num_layers=32,
    hidden_size=2560, num_attention_heads=32, num_kv_heads=32, head_dim=80, vocab_size=51200,
    max_position_embeddings=2048, weight_bytes=5_559_367_680, rope_scaling_type=None,
    rope_scaling_factor=None,
)  # fmt: skip
DEEPSEEK_V2_LITE = dataclasses.replace(LLAMA_8B, architecture="DeepseekV2ForCausalLM")


@pytest.mark.parametrize(
    ("model", "capability", "version", "backend"),
    [
        (LLAMA_8B, (8, 6), (3, 3, 7), "flashinfer"),
        (LLAMA_8B, (7, 5), (3, 3, 7), "flashinfer"),  # flashinfer is built for 7.5 too
        (FALCON_7B, (8, 6), (3, 3, 7), "flashdecoding"),
        (FALCON_7B, (7, 5), (3, 3, 7), "paged"),
        (DEEPSEEK_V2_LITE, (9, 0), (3, 0, 1), "flashdecoding"),
        (dataclasses.replace(LLAMA_8B, model_type="falcon"), (8, 0), (3, 3, 7), "flashdecoding"),
        (dataclasses.replace(FALCON_7B, model_type="llama"), (8, 0), (3, 3, 7), "flashinfer"),
        (PHI_2, (8, 9), (3, 1, 0), "flashdecoding"),  # head dim 80
        (PHI_2, (7, 5), (3, 1, 0), "paged"),
        (PHI_2, None, (3, 3, 7), "flashdecoding"),  # capability unknown: taken as 8.0+
        (LLAMA_8B, (8, 6), (2, 4, 1), "paged"),  # before 3.0
    ],
)
def test_attention_backend_as_the_launcher_picks_it(
    model: ModelFacts, capability: tuple[int, int] | None, version: tuple[int, int, int],
    backend: str,
) -> None:  # fmt: skip
    assert resolve_attention(model, version, capability)[0] == backend


def test_memory_plan_uses_the_backend_for_the_gpu() -> None:
    t4, a10g = gpu("T4"), gpu("A10G")
    on_t4 = plan_memory(FALCON_7B, gpu_memory_bytes=t4.memory_bytes, tgi_version="3.3.7",
                        compute_capability=t4.compute_capability_tuple)  # fmt: skip
    on_a10g = plan_memory(FALCON_7B, gpu_memory_bytes=a10g.memory_bytes, tgi_version="3.3.7",
                          compute_capability=a10g.compute_capability_tuple)  # fmt: skip
    assert (on_t4.attention, on_t4.block_size) == ("paged", BLOCK_SIZES["paged"])
    assert (on_a10g.attention, on_a10g.block_size) == ("flashdecoding", 256)
    assert on_t4.max_batch_total_tokens % 16 == 0 and on_a10g.max_batch_total_tokens % 256 == 0
    assert any("falcon" in n and "paged" in n for n in on_t4.notes)
    llama = plan_memory(LLAMA_8B, gpu_memory_bytes=a10g.memory_bytes, tgi_version="3.3.7",
                        compute_capability=a10g.compute_capability_tuple)  # fmt: skip
    assert llama.attention == "flashinfer" and not any("attention" in n for n in llama.notes)


def test_paged_attention_refuses_a_prefill_below_the_input() -> None:
    tier = {"maxInputTokens": 1500, "maxTotalTokens": 2048, "maxBatchPrefillTokens": 1024}
    on_t4 = capacity_checks("tgi", FALCON_7B, "T4", 4, **tier)
    problem = on_t4["prefill-chunking-paged"]
    assert problem.severity == "error" and problem.path.endswith(".maxBatchPrefillTokens")
    assert "paged attention on a T4 (compute capability 7.5)" in problem.message
    assert "at least 1500" in problem.fix
    assert "prefill-chunking-paged" not in capacity_checks("tgi", FALCON_7B, "A10G", 4, **tier)
    assert "prefill-chunking-paged" not in capacity_checks("tgi", LLAMA_8B, "T4", 4, **tier)
    covered = {**tier, "maxBatchPrefillTokens": 1500}
    assert "prefill-chunking-paged" not in capacity_checks("tgi", FALCON_7B, "T4", 4, **covered)


def test_fp8_kv_cache_needs_flashinfer_or_paged_attention() -> None:
    tier = {"maxInputTokens": 1024, "maxTotalTokens": 2048, "maxBatchPrefillTokens": 1024,
            "kvCacheDtype": "fp8_e4m3fn"}  # fmt: skip
    problem = capacity_checks("tgi", PHI_2, "A10G", 4, **tier)["fp8-kv-attention"]
    assert problem.severity == "error" and problem.path.endswith(".kvCacheDtype")
    assert "FP8 KV cache is currently only supported for flashinfer" in problem.message
    assert "fp8-kv-attention" not in capacity_checks("tgi", PHI_2, "T4", 4, **tier)  # paged
    assert "fp8-kv-attention" not in capacity_checks("tgi", LLAMA_8B, "A10G", 4, **tier)
    no_fp8 = {k: v for k, v in tier.items() if k != "kvCacheDtype"}
    assert "fp8-kv-attention" not in capacity_checks("tgi", PHI_2, "A10G", 4, **no_fp8)


# (checkpoint kind, tier quantize) -> severity on a T4; absent pairs pass there.
ON_T4 = {
    (q.NONE, "fp8"): "error",  # on-the-fly FP8: torch._scaled_mm
    ("fp8", None): "error",
    ("fp8", "fp8"): "error",
    ("fbgemm_fp8", "fp8"): "error",
    ("fbgemm_fp8", None): "error",  # the server auto-selects fp8
    ("compressed-tensors", "fp8"): "error",
    ("awq", None): "error",  # the launcher passes --quantize awq: llm-awq GEMM
    ("awq", "awq"): "error",
    ("gptq", "awq"): "error",  # reinterpreted, still the AWQ kernel
    ("marlin", None): "error",
    ("marlin", "marlin"): "error",
    (q.GPTQ_MARLIN, "marlin"): "error",
    ("exl2", None): "error",
    ("exl2", "exl2"): "error",
    ("compressed-tensors", None): "warning",
    ("compressed-tensors", "compressed-tensors"): "warning",
}


@pytest.mark.parametrize("kind", q.CHECKPOINTS)
@pytest.mark.parametrize("quantize", [None, *q.LAUNCHER_VALUES])
def test_kernel_per_quantize_and_gpu(kind: str, quantize: str | None) -> None:
    found = {
        card: checkpoint_problems("tgi", facts(kind), quantize, gpu(card))
        for card in ("T4", "A10G", "L4", "A100-80GB", "H100-80GB", "B200")
    }
    refused_as_stored = kind == q.OTHER or any(
        p.severity == "error" for p in q.check_quantize(_tier(quantize), facts(kind))
    )
    for card in ("A10G", "L4", "A100-80GB", "H100-80GB", "B200"):
        assert q.GPU_CHECK not in {p.check for p in found[card]}, (card, found[card])
    on_t4 = [p for p in found["T4"] if p.check == q.GPU_CHECK]
    expected = ON_T4.get((kind, quantize))
    if refused_as_stored:
        assert not on_t4  # the checkpoint check speaks first, once (or: no loader known)
        assert expected is None
    elif expected is None:
        assert not on_t4, on_t4
    else:
        assert [p.severity for p in on_t4] == [expected]
        assert on_t4[0].path == "tiers[cli].quantize" and on_t4[0].fix
        assert "T4" in on_t4[0].message and "7.5" in on_t4[0].message


def _tier(quantize: str | None) -> TierConfig:
    """The tier `checkpoint_problems` builds for a model and a quantize."""
    return TierConfig(name="cli", model_id="org/m", node_pool="cli", engine="tgi",
                      quantize=quantize, max_input_tokens=4095, max_total_tokens=4096)  # fmt: skip


def test_awq_on_a_t4_points_at_gptq_which_runs_there() -> None:
    (awq,) = checkpoint_problems("tgi", facts("awq"), None, gpu("T4"))
    assert "unset (TGI runs --quantize awq)" in awq.message
    assert "no kernel image is available" in awq.message and q.IMAGE_ARCHS in awq.message
    assert awq.fix.startswith("set quantize gptq")
    assert checkpoint_problems("tgi", facts("awq"), "gptq", gpu("T4")) == []


def test_validate_reports_the_gpu_rule_on_the_pool_gpu() -> None:
    awq = dataclasses.replace(LLAMA_8B, weight_bytes=5 * GIB, checkpoint_quantization="awq")
    t4 = capacity_checks("tgi", awq, "T4", 4, maxInputTokens=1024, maxTotalTokens=2048,
                         maxBatchPrefillTokens=1024)  # fmt: skip
    assert t4[q.GPU_CHECK].severity == "error"
    l4 = capacity_checks("tgi", awq, "L4", 4, maxInputTokens=1024, maxTotalTokens=2048,
                         maxBatchPrefillTokens=1024)  # fmt: skip
    assert q.GPU_CHECK not in l4


def test_fixture_names_its_commit() -> None:
    data = yaml.safe_load(FIXTURE.read_text())
    assert data["commit"] == "dfb3fbe78e0d1d69251bd33065591c61bafdfaa8"
    texts = "\n".join(quote["text"] for quote in data["quotes"])
    assert q.IMAGE_ARCHS in texts and "major < 8" in texts and '"falcon"' in texts
    assert "h == 64 || h == 128 || h == 256" in texts


def test_fixture_quotes_match_the_tgi_source_when_it_is_here() -> None:
    if not MIRROR.exists():
        pytest.skip(f"{MIRROR} (the TGI mirror, fetched with the search tool) not on this machine")
    data = yaml.safe_load(FIXTURE.read_text())
    for quote in data["quotes"]:
        text = subprocess.run(
            ["git", "--git-dir", str(MIRROR), "show", f"{data['commit']}:{quote['file']}"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        line = text.splitlines()[quote["line"] - 1]
        assert quote["text"] in line, (quote["file"], quote["line"], line)

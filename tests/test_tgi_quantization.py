"""TGI's quantize/checkpoint table against the cells read from TGI 3.3.7's source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import small_platform
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.hf_config import facts_from_config
from tgi_infra.capacity.memory import plan_memory
from tgi_infra.checks.inputs import check_tier_inputs
from tgi_infra.engines import get_engine
from tgi_infra.engines.tgi import quantization as q

FIXTURE = Path(__file__).parent / "fixtures" / "engines" / "tgi_quantization.yaml"
GIB = 2**30


def table() -> dict[str, Any]:
    return yaml.safe_load(FIXTURE.read_text())


def facts(kind: str) -> ModelFacts:
    method = {q.NONE: None, q.GPTQ_MARLIN: "gptq", q.OTHER: "mxfp4"}.get(kind, kind)
    fmt = "marlin" if kind == q.GPTQ_MARLIN else None
    return ModelFacts(
        "org/m", "modelSpec", "LlamaForCausalLM", 32, 4096, 32, 8, 128, 128256, 131072,
        16 * GIB, checkpoint_quantization=method, checkpoint_format=fmt,
    )  # fmt: skip


CELLS = [
    (row, col, verdict, cause)
    for row, cols in table()["cells"].items()
    for col, (verdict, cause) in cols.items()
]


def test_fixture_names_its_source_and_covers_every_pair() -> None:
    doc = table()
    assert doc["source"]["tag"] == "v3.3.7"
    assert doc["source"]["commit"] == "dfb3fbe78e0d1d69251bd33065591c61bafdfaa8"
    assert doc["launcher_quantization"] == list(q.LAUNCHER_VALUES)
    assert list(doc["cells"]) == list(q.CHECKPOINTS)
    assert doc["columns"] == [q.UNSET, *q.LAUNCHER_VALUES]
    assert all(list(cols) == doc["columns"] for cols in doc["cells"].values())
    assert doc["causes"] == q.CAUSES


@pytest.mark.parametrize(("checkpoint", "quantize", "verdict", "cause"), CELLS)
def test_cell_matches_tgi_source(checkpoint: str, quantize: str, verdict: str, cause: str) -> None:
    found = q.cell(checkpoint, None if quantize == q.UNSET else quantize)
    assert (found.verdict, found.cause) == (verdict, cause)


@pytest.mark.parametrize(("checkpoint", "quantize", "verdict", "cause"), CELLS)
def test_check_verdict_per_pair(checkpoint: str, quantize: str, verdict: str, cause: str) -> None:
    value = None if quantize == q.UNSET else quantize
    tier = small_platform(quantize=value).tiers[0]
    problems = q.check_quantize(tier, facts(checkpoint))
    if verdict == "accepted":
        assert problems == []
        return
    [problem] = problems
    assert problem.path == "tiers[chat].quantize"
    assert problem.severity == ("error" if verdict in ("refused", "unsupported") else "warning")
    assert (value or "unset") in problem.message and "org/m" in problem.message
    assert problem.fix


def test_launcher_enum_equals_cli_json() -> None:
    cli = get_engine("tgi").cli()
    assert tuple(table()["launcher_quantization"]) == cli.enums["quantization"]
    assert cli.flag("--quantize").choices == cli.enums["quantization"]


def test_message_names_value_method_behaviour_and_fix() -> None:
    tier = small_platform(quantize="marlin").tiers[0]
    [p] = q.check_quantize(tier, facts("gptq"))
    assert p.message == (
        "marlin on org/m, a checkpoint quantized with gptq: TGI fails at load: Cannot load "
        "`marlin` weight, make sure the model is already quantized."
    )
    assert p.fix == "leave quantize unset (TGI reads it from the checkpoint) or set gptq."
    tier = small_platform(quantize=None).tiers[0]
    [p] = q.check_quantize(tier, facts(q.GPTQ_MARLIN))
    assert "(TGI then runs --quantize gptq)" in p.message and p.fix == "set quantize marlin."


def test_only_tgi_tiers_get_the_tgi_table() -> None:
    awq = facts("awq")
    cache = small_platform().cache
    tgi = small_platform(quantize="marlin").tiers[0]
    assert [p.check for p in check_tier_inputs(tgi, awq, cache)] == ["tgi-quantize-checkpoint"]
    vllm = small_platform(engine="vllm", quantize="awq_marlin").tiers[0]
    assert check_tier_inputs(vllm, awq, cache) == []


def test_memory_plan_reads_prequantized_only_from_the_table() -> None:
    assert frozenset({"awq", "gptq", "marlin", "exl2", "compressed-tensors"}) == (
        q.PREQUANTIZED_ONLY
    )
    plan = plan_memory(facts(q.NONE), gpu_memory_bytes=48 * GIB, num_shard=1, quantize="awq")
    assert any("TGI would fail to load it" in n for n in plan.notes)


def test_checkpoint_format_read_from_config() -> None:
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
        "vocab_size": 128256, "max_position_embeddings": 8192,
        "quantization_config": {"quant_method": "gptq", "bits": 4, "checkpoint_format": "Marlin"},
    }  # fmt: skip
    f = facts_from_config(config, model_id="org/m", source="hub", weight_bytes=GIB)
    assert q.checkpoint_kind(f) == q.GPTQ_MARLIN

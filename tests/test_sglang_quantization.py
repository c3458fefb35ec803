"""SGLang 0.5.23's checkpoint-quantization rules (engines/sglang/quantization.py).

Each cell is traced by hand through `ModelConfig._verify_quantization` and
`get_quant_config` of the sglang 0.5.23 wheel; the registry is compared with the wheel's
own `BASE_QUANTIZATION_METHODS` when that source is extracted on the machine.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from tests.test_engine_rules import LLAMA_8B, capacity_checks, checkpoint_checks
from tgi_infra.capacity.catalog import gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.engines.sglang.quantization import (
    CHECK,
    COMPATIBLE,
    CUDA_METHODS,
    GPU_CHECK,
    REQUANTIZATION_METHODS,
    gpu_refusal,
    quantization_refusal,
)

SOURCE = Path("/work/engine-src/sglang-0.5.23/sglang/srt")

# (flag, checkpoint quant_method, checkpoint_format) -> the start of SGLang's refusal, or None.
CELLS = [
    (None, None, None, None),  # 16-bit, no flag
    ("fp8", None, None, None),  # online fp8 (Fp8Config has no config files)
    ("awq", None, None, "Cannot find the config file for awq"),
    ("gptq_marlin", None, None, "Cannot find the config file for gptq_marlin"),
    ("gptq", None, None, "Unknown quantization method: gptq"),  # not registered on CUDA
    ("gptq", "gptq", None, "Unknown quantization method: gptq"),  # override skips flag gptq
    (None, "gptq", None, None),  # becomes gptq_marlin when Marlin runs it
    ("gptq_marlin", "gptq", None, None),  # GPTQMarlinConfig override
    (None, "gptq", "marlin", "Unknown quantization method: gptq"),  # check_marlin_format
    ("gptq_marlin", "gptq", "marlin", "Quantization method specified in the model config"),
    ("awq", "awq", None, None),
    ("awq_marlin", "awq", None, None),  # AWQMarlinConfig override
    (None, "awq", None, None),
    ("gptq_marlin", "awq", None, "Quantization method specified in the model config (awq)"),
    ("fp8", "awq", None, "Quantization method specified in the model config (awq)"),
    ("moe_wna16", "gptq", None, None),
    ("w8a8_int8", "compressed-tensors", None, None),  # compatible_quantization_methods
    ("w8a8_int8", "fp8", None, "Quantization method specified in the model config (fp8)"),
    ("modelopt_fp4", "fp8", None, None),
    ("nvfp4_online", "fp8", None, None),
    ("fp8", "modelopt", None, None),  # ModelOpt overrides resolve to the checkpoint's method
    ("quark_mxfp4", "awq", None, None),  # requantization
    (None, "exl2", None, "Unknown quantization method: exl2"),
    (None, "fbgemm_fp8", None, "Unknown quantization method: fbgemm_fp8"),
    ("mlx_q4", None, None, "Unknown quantization method: mlx_q4"),  # MPS only
    ("unquant", "awq", None, None),
    ("AWQ", "awq", None, None),  # SGLang lowercases the flag
]


@pytest.mark.parametrize(("flag", "carried", "fmt", "refusal"), CELLS)
def test_cells(flag: str | None, carried: str | None, fmt: str | None,
               refusal: str | None) -> None:  # fmt: skip
    found = quantization_refusal(flag, carried, fmt)
    if refusal is None:
        assert found is None
    else:
        assert found is not None and found[0].startswith(refusal), found
        assert found[1]  # every refusal carries a fix


def test_fixes_point_at_what_sglang_loads() -> None:
    assert "gptq_marlin" in quantization_refusal("gptq", "gptq")[1]  # type: ignore[index]
    assert "on a GPTQ checkpoint" in quantization_refusal("gptq", None)[1]  # type: ignore[index]
    marlin = quantization_refusal(None, "gptq", "marlin")
    assert marlin is not None and "plain GPTQ export" in marlin[1]
    assert "set it to gptq_marlin" in quantization_refusal("awq", "gptq")[1]  # type: ignore[index]


def test_stack_tier_gets_the_refusal_with_its_path() -> None:
    awq = dataclasses.replace(LLAMA_8B, checkpoint_quantization="awq")
    found = checkpoint_checks("sglang", awq, quantize="gptq_marlin")
    problem = found[CHECK]
    assert problem.path.endswith(".quantize") and problem.severity == "error"
    assert problem.message.startswith("SGLang: Quantization method specified")
    assert LLAMA_8B.model_id in problem.message
    assert CHECK not in checkpoint_checks("sglang", awq, quantize="awq_marlin")


def _literal_assignment(path: Path, name: str) -> ast.expr:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            assert node.value is not None  # type: ignore[attr-defined]
            return node.value  # type: ignore[attr-defined]
    raise AssertionError(f"{name} not in {path}")


def test_tables_match_the_wheel_when_it_is_here() -> None:
    if not SOURCE.exists():
        pytest.skip(f"{SOURCE} not on this machine (unzip the sglang 0.5.23 wheel there)")
    registry = _literal_assignment(SOURCE / "layers/quantization/__init__.py",
                                   "BASE_QUANTIZATION_METHODS")  # fmt: skip
    assert isinstance(registry, ast.Dict)
    keys = {k.value for k in registry.keys if isinstance(k, ast.Constant)}
    assert keys | {"mxfp4"} == CUDA_METHODS  # mxfp4 joins on CUDA (is_cuda())
    config = SOURCE / "configs/model_config.py"
    requant = ast.literal_eval(_literal_assignment(config, "REQUANTIZATION_METHODS"))
    assert set(requant) == REQUANTIZATION_METHODS
    compatible = {k: frozenset(v) for k, v in
                  ast.literal_eval(_literal_assignment(config,
                                   "compatible_quantization_methods")).items()}  # fmt: skip
    assert compatible == COMPATIBLE


# ------------------------------------------------------------------ on the GPU (Marlin, capability)

GPTQ_4BIT = dataclasses.replace(
    LLAMA_8B, source="hub", checkpoint_quantization="gptq", quantization_file="config.json",
    quant_bits=4, quant_group_size=128, quant_sym=True, quant_desc_act=False,
)  # fmt: skip
AWQ_4BIT = dataclasses.replace(
    LLAMA_8B, source="hub", checkpoint_quantization="awq", quantization_file="config.json",
    quant_bits=4, quant_group_size=128, quant_zero_point=True,
)  # fmt: skip


@pytest.mark.parametrize(
    ("facts", "flag", "card", "refusal"),
    [
        (GPTQ_4BIT, None, "L4", None),  # converted to gptq_marlin
        (GPTQ_4BIT, "gptq_marlin", "L4", None),
        (GPTQ_4BIT, None, "T4", "Unknown quantization method: gptq"),  # Marlin needs sm80
        (GPTQ_4BIT, "gptq_marlin", "T4", "Quantization method specified in the model config"),
        (dataclasses.replace(GPTQ_4BIT, quant_bits=3), None, "L4", "Unknown quantization method"),
        (dataclasses.replace(GPTQ_4BIT, quant_sym=False), None, "L4", "Unknown quantization"),
        (dataclasses.replace(GPTQ_4BIT, quant_group_size=256), None, "L4", "Unknown quant"),
        (dataclasses.replace(GPTQ_4BIT, quant_desc_act=None), None, "L4", "Unknown quant"),
        # catalog/modelSpec facts: the bits were not read, only the GPU is judged
        (dataclasses.replace(GPTQ_4BIT, quantization_file=None, quant_bits=None), None, "L4",
         None),
        (AWQ_4BIT, None, "T4", None),  # AWQ's own kernel runs from 7.5
        (AWQ_4BIT, "awq", "T4", None),
        (AWQ_4BIT, "awq_marlin", "T4", "Quantization method specified in the model config"),
        (LLAMA_8B, "fp8", "T4", "The quantization method fp8 is not supported for the "
                                "current GPU. Minimum capability: 80. Current capability: 75"),
        (LLAMA_8B, "fp8", "L4", None),
        (LLAMA_8B, None, "T4", None),
    ],
)  # fmt: skip
def test_gpu_refusals(facts: ModelFacts, flag: str | None, card: str,
                      refusal: str | None) -> None:  # fmt: skip
    found = gpu_refusal(flag, facts, gpu(card))
    if refusal is None:
        assert found is None, found
    else:
        assert found is not None and found[0].startswith(refusal), found
        assert found[1]


def test_gpu_refusal_reasons_and_fixes() -> None:
    message, fix = gpu_refusal(None, GPTQ_4BIT, gpu("T4"))  # type: ignore[misc]
    assert "compute capability 8.0" in message and "A10G" in fix
    message, fix = gpu_refusal(None, dataclasses.replace(GPTQ_4BIT, quant_bits=3),
                               gpu("L4"))  # type: ignore[misc]  # fmt: skip
    assert "bits 3" in message and "symmetric GPTQ export" in fix


def test_a_tier_on_a_t4_gets_the_gpu_refusal() -> None:
    found = capacity_checks("sglang", GPTQ_4BIT, card="T4", gpus=1, numShard=1,
                            maxInputTokens=1024, maxTotalTokens=2048,
                            maxBatchPrefillTokens=1074)  # fmt: skip
    assert found[GPU_CHECK].path.endswith(".quantize")
    assert found[GPU_CHECK].message.startswith("SGLang: Unknown quantization method: gptq")


# ------------------------------------------------------------- settings only beside config.json


@pytest.mark.parametrize(
    ("engine", "method", "where", "value"),
    [
        ("sglang", "gptq", "quantize_config.json", "gptq_marlin"),
        ("vllm", "gptq", "quantize_config.json", "gptq"),
        ("tgi", "gptq", "quantize_config.json", "gptq"),
        ("tgi", "awq", "quant_config.json", "awq"),
    ],
)
def test_undetected_sidecar_quantization_needs_quantize(
    engine: str, method: str, where: str, value: str
) -> None:
    facts = dataclasses.replace(LLAMA_8B, source="local", checkpoint_quantization=method,
                                quantization_file=where)  # fmt: skip
    found = [p for p in checkpoint_checks(engine, facts).values() if p.severity == "error"]
    assert len(found) == 1 and f"keeps its {method} settings in {where}" in found[0].message
    assert found[0].fix.startswith(f"set quantize {value} ")
    assert not [p for p in checkpoint_checks(engine, facts, quantize=value).values()
                if "config.json only" in p.message]  # fmt: skip


@pytest.mark.parametrize(
    ("flag", "where", "refusal"),
    [
        ("awq", "quant_config.json", None),  # AWQConfig reads quant_config.json
        ("awq_marlin", "quant_config.json", "Cannot find the config file for awq_marlin"),
        ("gptq_marlin", "quantize_config.json", None),
        ("gptq", "quantize_config.json", "Unknown quantization method: gptq"),
    ],
)
def test_sidecar_with_a_flag(flag: str, where: str, refusal: str | None) -> None:
    found = quantization_refusal(flag, "awq" if where == "quant_config.json" else "gptq",
                                 None, where)  # fmt: skip
    assert (found is None) if refusal is None else found[0].startswith(refusal), found

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

from tests.test_engine_rules import LLAMA_8B, checkpoint_checks
from tgi_infra.engines.sglang.quantization import (
    CHECK,
    COMPATIBLE,
    CUDA_METHODS,
    REQUANTIZATION_METHODS,
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
